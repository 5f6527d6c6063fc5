"""project-beds: bed-updates -> the SQL read model (the providers' published pictures of their
nights, each request's outcomes, and refused commands). Stateless: each row keeps the newest
provider sequence it has seen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine

from readmodel.tables import bed_command_refusals, bed_nights, bed_providers, bed_requests
from readmodel.writes import dialect_insert, upsert_newer
from schemas.beds import BedUpdate
from schemas.events import UndecodableEvent, decoder
from schemas.settings import Settings
from schemas.topics import BED_UPDATES
from streams.persist import persist
from streams.runtime import Batch, Stage

read_update = decoder(BedUpdate)


async def project_bed_updates(batch: Batch, *, read_model: Engine) -> None:
    persist(project_beds, read_model, list(batch.decoded(read_update, UndecodableEvent)), batch)


def project_beds(engine: Engine, updates: Sequence[BedUpdate], now: datetime) -> None:
    """Store a batch of bed updates. Each row keeps the newest provider sequence it has seen,
    so a redelivered older update changes nothing."""
    providers: dict[str, dict[str, Any]] = {}
    nights: dict[tuple[str, Any, str], dict[str, Any]] = {}
    requests: dict[str, dict[str, Any]] = {}
    for update in updates:  # in order: later wins within the batch
        if update.provider is not None:
            info = update.provider
            providers[info.provider_id] = {
                **info.model_dump(mode="python"),
                "kind": info.kind.value,
                "no_show_release": info.no_show_release.isoformat(),
                "capacity": [w.model_dump(mode="json") for w in update.capacity],
                "sequence": update.sequence,
                "updated_at": now,
            }
        for picture in update.nights:
            for count in picture.beds:
                nights[(update.provider_id, picture.night, count.bed_type.value)] = {
                    "provider_id": update.provider_id,
                    "night": picture.night,
                    **count.model_dump(mode="python"),
                    "bed_type": count.bed_type.value,
                    "sequence": update.sequence,
                }
        for outcome in update.outcomes:
            details = outcome.data
            key = str(details.request_id)
            requests[key] = {
                "request_id": key,
                "person_id": str(outcome.subject),
                "provider_id": details.provider_id,
                "night": details.night,
                "bed_type": details.bed_type.value,
                "status": outcome.type.removeprefix("bed."),
                "bed": details.bed,
                "waitlist_position": details.waitlist_position,
                "reason": details.reason,
                "leave_reason": details.leave_reason.value if details.leave_reason else None,
                "requested_by": requests.get(key, {}).get("requested_by", outcome.source),
                "sequence": update.sequence,
                "updated_at": now,
            }
    refusals = [
        {"command_id": str(r.command_id), "request_id": str(r.request_id), "provider_id": update.provider_id,
         "command": r.command, "reason": r.reason, "refused_at": r.at}
        for update in updates for r in update.refused
    ]
    with engine.begin() as connection:
        if refusals:
            insert = dialect_insert(connection.engine)(bed_command_refusals)
            connection.execute(insert.on_conflict_do_nothing(), refusals)
        upsert_newer(connection, bed_providers, ["provider_id"], list(providers.values()))
        upsert_newer(connection, bed_nights, ["provider_id", "night", "bed_type"], list(nights.values()))
        # The organisation that asked for the bed stays the one that asked, whoever records later.
        upsert_newer(connection, bed_requests, ["request_id"], list(requests.values()), keep=("requested_by",))


def stage(settings: Settings, read_model: Engine) -> Stage:
    return Stage("project-beds", settings.topic(BED_UPDATES), partial(project_bed_updates, read_model=read_model))
