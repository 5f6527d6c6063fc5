"""Event and submission schemas: what is accepted, what is refused and why."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from schemas import events
from schemas.events import UndecodableEvent, decode_event, encode_event
from schemas.submissions import ContactSubmission, ReportSubmission
from tests.builders import contact_body, report_body


def test_an_event_survives_encoding_and_decoding() -> None:
    submission = ReportSubmission.model_validate(report_body())
    event = events.ReportReceived(
        id=uuid.uuid4(), source="org", actor="k", subject=uuid.uuid4(), time=submission.occurred_at,
        recorded_at=datetime.now(UTC), data=submission.details, personal=submission.personal,
    )
    assert decode_event(encode_event(event)) == event


def test_an_undecodable_event_names_fields_but_never_values() -> None:
    with pytest.raises(UndecodableEvent) as error:
        decode_event(json.dumps({"type": "report.received", "personal": {"person_description": 7},
                                 "secret": "Jane Doe"}).encode())
    assert "secret: extra_forbidden" in str(error.value)
    assert "Jane" not in str(error.value)


def test_an_older_schema_version_is_upcast_before_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    current = json.loads(encode_event(events.ReportReceived(
        id=uuid.uuid4(), source="org", actor="k", subject=None, time=datetime.now(UTC),
        recorded_at=datetime.now(UTC), data=events.ReportDetails(channel="self", area_code="A"),
        personal=events.ReportPersonal(),
    )))
    old = {**current, "schema_version": 0, "data": {**current["data"], "kind": current["data"]["channel"]}}
    del old["data"]["channel"]

    def v0_to_v1(doc: dict) -> dict:
        data = dict(doc["data"])
        data["channel"] = data.pop("kind")
        return {**doc, "schema_version": 1, "data": data}

    monkeypatch.setitem(events.UPCASTERS, ("report.received", 0), v0_to_v1)
    assert decode_event(json.dumps(old).encode()).data.channel is events.Channel.SELF


def test_a_report_needs_somewhere() -> None:
    with pytest.raises(ValidationError, match="area_code or personal.place"):
        ReportSubmission.model_validate(report_body(details={"area_code": None}, personal={"place": None}))


def test_accepted_must_have_been_offered() -> None:
    with pytest.raises(ValidationError, match="not offered"):
        body = contact_body(None, details={"offered": ["food"], "accepted": ["emergency_bed"]})
        ContactSubmission.model_validate(body)


def test_a_time_slightly_ahead_is_clock_skew_but_a_day_ahead_is_refused() -> None:
    ReportSubmission.model_validate(report_body(at=datetime.now(UTC) + timedelta(seconds=30)))
    with pytest.raises(ValidationError, match="future"):
        ReportSubmission.model_validate(report_body(at=datetime.now(UTC) + timedelta(days=1)))



def test_a_frozen_models_copy_is_pydantics_copy() -> None:
    """`Strict.model_copy` takes a shorter way than pydantic's; what it makes must not differ."""
    from pydantic import BaseModel

    from journey.state import Journey
    from schemas.progress import Stage

    journey = Journey(person_id=uuid.uuid4(), stage=Stage.CONTACTED, contacts=2, last_area="TC-MARKET")
    ours = journey.model_copy(update={"contacts": 3, "stage": Stage.ENGAGED})
    theirs = BaseModel.model_copy(journey, update={"contacts": 3, "stage": Stage.ENGAGED})
    assert ours == theirs and ours.model_fields_set == theirs.model_fields_set
    assert ours.model_dump_json() == theirs.model_dump_json()
    assert (journey.contacts, journey.stage) == (2, Stage.CONTACTED)  # the original is untouched
    assert journey.model_fields_set == {"person_id", "stage", "contacts", "last_area"}
    assert journey.model_copy() == journey and journey.model_copy() is not journey
    with pytest.raises(ValidationError):
        ours.contacts = 4  # still frozen  # type: ignore[misc]
    submission = ReportSubmission.model_validate(report_body())
    event = events.ReportReceived(
        id=uuid.uuid4(), source="org", actor="k", subject=uuid.uuid4(), time=submission.occurred_at,
        recorded_at=datetime.now(UTC), data=submission.details, personal=submission.personal,
    )
    assert event.model_copy(update={"subject": None}) == BaseModel.model_copy(event, update={"subject": None})


@pytest.mark.parametrize(("kind", "text", "refused"), [
    ("ShortText", "Bob Smith", None),
    ("ShortText", "Bo\x00b", "control character"),
    ("ShortText", "Bo\tb", "control character"),  # one line: no tabs
    ("ShortText", "Bo\x7fb", "control character"),
    ("ShortText", "Bo\u202eb", "bidirectional"),
    ("LongText", "red coat\n\tby the bank\r\n", None),
    ("LongText", "red coat\x1b[2J", "control character"),
    ("LongText", "red\x0bcoat", "control character"),
    ("LongText", "zero\u200bwidth", "invisible"),
    ("PersonName", "Zoë O'Neil", None),
    ("PersonName", "B\u043eb", "mixes scripts"),
])
def test_the_text_rules_hold_for_plain_ascii_and_beyond(kind: str, text: str, refused: str | None) -> None:
    """Plain ASCII takes a short way through the text rules; it must refuse what the long way does."""
    from pydantic import TypeAdapter

    from schemas import common

    adapter = TypeAdapter(getattr(common, kind))
    if refused is None:
        assert adapter.validate_python(text) == text.strip()
    else:
        with pytest.raises(ValidationError, match=refused):
            adapter.validate_python(text)
