"""The walking skeleton end to end: API -> Kafka -> worker stages -> read model -> API."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from schemas.topics import DEAD_LETTER, INTAKE
from schemas.updates import DeadLetter
from tests.builders import contact_body, report_body
from tests.conftest import System

pytestmark = pytest.mark.integration


def test_a_report_and_a_contact_make_one_journey_in_order(system: System) -> None:
    seen = datetime.now(UTC) - timedelta(hours=5)
    # A member of staff reports someone they do not know: a provisional person is created.
    report = system.post("/v1/reports", report_body(at=seen))
    assert report.status_code == 202, report.text
    person = report.json()["person_id"]
    # Outreach finds the person on the early-morning walk and records the contact against them.
    contact = system.post("/v1/contacts", contact_body(person, at=seen + timedelta(hours=3)))
    assert contact.status_code == 202, contact.text

    journey = system.wait_journey(person, events=3)

    # The worker routes the report to the area's outreach team as it passes the identity step.
    assert [item["type"] for item in journey["timeline"]] == ["report.received", "report.routed", "contact.recorded"]
    assert [journey["timeline"][i]["event_id"] for i in (0, 2)] == [report.json()["event_id"],
                                                                    contact.json()["event_id"]]
    assert journey["stage"] == "engaged"
    assert (journey["reports"], journey["contacts"], journey["rough_sleeping_nights"]) == (1, 1, 1)
    assert journey["timeline"][2]["personal"]["known_as"] == "Dave"


def test_a_retried_submission_with_one_idempotency_key_gives_one_event(system: System) -> None:
    body = report_body()
    first = system.post("/v1/reports", body, **{"Idempotency-Key": "retry-1"})
    second = system.post("/v1/reports", body, **{"Idempotency-Key": "retry-1"})
    assert first.status_code == second.status_code == 202
    assert first.json()["event_id"] == second.json()["event_id"]
    assert second.json()["duplicate"] is True
    # A later submission tells us when the worker has caught up past both.
    marker = system.post("/v1/reports", report_body())
    system.wait_journey(marker.json()["person_id"], events=1)

    journey = system.wait_journey(first.json()["person_id"], events=2)
    assert [item["type"] for item in journey["timeline"]] == ["report.received", "report.routed"]
    ids = [json.loads(r.value)["id"] for r in system.topic_records(INTAKE)]
    assert ids.count(first.json()["event_id"]) == 1


def test_reusing_an_idempotency_key_for_another_body_is_refused(system: System) -> None:
    assert system.post("/v1/reports", report_body(), **{"Idempotency-Key": "k"}).status_code == 202
    clash = system.post("/v1/reports", report_body(details={"area_code": "ELSEWHERE"}), **{"Idempotency-Key": "k"})
    assert clash.status_code == 409
    assert len(system.topic_records(INTAKE)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (report_body(details={"colour": "red"}), ["body", "details", "colour"]),
        (report_body(details={"emergency": "maybe"}), ["body", "details", "emergency"]),
        (report_body(occurred_at="2026-01-01T10:00:00"), ["body", "occurred_at"]),
        (report_body(at=datetime.now(UTC) + timedelta(days=1)), ["body", "occurred_at"]),
        (report_body(personal={"person_description": "x" * 5000}), ["body", "personal", "person_description"]),
    ],
    ids=["unknown-field", "wrong-type", "no-timezone", "future", "field-too-long"],
)
def test_a_malformed_submission_gets_422_naming_the_field_and_nothing_is_produced(
    system: System, body: dict, field: list[str]
) -> None:
    response = system.post("/v1/reports", body)
    assert response.status_code == 422
    assert field in [error["loc"] for error in response.json()["errors"]]
    assert "red coat" not in response.text  # the submitted values are not echoed back
    assert system.topic_records(INTAKE) == []


def test_a_poison_message_is_dead_lettered_and_later_events_still_flow(system: System) -> None:
    producer = KafkaProducer(bootstrap_servers=system.settings.kafka_bootstrap_servers, acks="all")
    poison = b'{"type": "report.received", "personal": {"name": "Jane Doe"}, "nonsense": true'
    producer.send(system.settings.topic(INTAKE), key=b"poison", value=poison).get(timeout=10)
    producer.close()

    after = system.post("/v1/reports", report_body())
    system.wait_journey(after.json()["person_id"], events=1)

    letters = [DeadLetter.model_validate_json(r.value) for r in system.topic_records(DEAD_LETTER)]
    assert [letter.payload for letter in letters] == [poison]
    assert letters[0].reason.startswith("undecodable")
    assert "Jane" not in letters[0].reason
    assert "Jane" not in system.worker.log_file.read_text()


def test_an_unknown_person_id_in_a_contact_starts_their_journey(system: System) -> None:
    person = str(uuid.uuid4())
    assert system.post("/v1/contacts", contact_body(person)).status_code == 202
    journey = system.wait_journey(person, events=1)
    assert journey["stage"] == "engaged"


def test_the_api_refuses_missing_and_unknown_keys_and_wrong_roles(system: System) -> None:
    assert system.client.post("/v1/reports", json=report_body()).status_code == 401
    assert system.client.post("/v1/reports", json=report_body(), headers={"X-API-Key": "jk_x_y"}).status_code == 401
    forbidden = system.post("/v1/contacts", contact_body(None), key=system.frontline_key)
    assert forbidden.status_code == 403
    assert system.client.get("/health").json() == {"status": "ok"}
