"""What a partner receives: each webhook delivery's body, and each live-stream `journey.update`
event's data, is one of these CloudEvents. Its JSON Schema is journey-update.schema.json, made by

    .venv/bin/python -m schemas.webhooks.payload > schemas/webhooks/journey-update.schema.json
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from schemas.views import JourneyView, TimelineItem


class UpdateData(BaseModel):
    """Only what the sharing policy let the subscriber's organisation see when it was sent: a
    field it may not see is absent (not null)."""

    person: JourneyView = Field(description="The person's journey summary now (never its timeline)")
    entry: TimelineItem | None = Field(description=(
        "The timeline entry of the update; null when the organisation may see only the summary "
        "(for example a charity working with the person, before the person's consent)"))
    refolded: bool = Field(description=(
        "A late event was placed before this entry: its place (sequence) and stage changed, nothing else"))


class JourneyUpdateEvent(BaseModel):
    """A journey update as a CloudEvents 1.0 JSON event, signed as Standard Webhooks."""

    specversion: Literal["1.0"]
    id: str = Field(description="The webhook-id (webhooks) or event id and sequence (live stream)")
    source: Literal["/journeys"]
    type: str = Field(pattern=r"^uk\.journeys\.[a-z_]+\.[a-z_]+$",
                      description="uk.journeys. and the event type, e.g. uk.journeys.contact.recorded")
    subject: UUID = Field(description="The person's id")
    time: datetime = Field(description="When the event happened")
    datacontenttype: Literal["application/json"]
    data: UpdateData


def json_schema() -> dict[str, object]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "journey-update.schema.json",
            **JourneyUpdateEvent.model_json_schema()}


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2))
