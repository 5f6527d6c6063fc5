"""The canary: a unique marker in every personal field of a person and of their reporter, through
the real API, broker and worker: two records merged, a webhook, a rejected event on the
dead-letter topic. The raw bytes of every topic (the broker's files and its records), the
worker's RocksDB store, the read model's database files and every log hold the marker 0 times,
before and after erasure, while the same scan finds the events' ids there (so it reads what it
says it reads), and the sharing layer shows the marker to those entitled. After the data
protection lead's erasure nothing about the person opens, from any topic, and the statistics are
unchanged. The same through the retention timer, with its clock moved past a closed case's years."""

from __future__ import annotations

import base64
import logging
import random
import string
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text

from journey.identity import resolve_person
from readmodel.data_keys import Keyring, configured_kek
from readmodel.keys import Role, issue_key
from readmodel.retention import Schedule, apply_retention
from schemas.events import decode_event
from schemas.ids import keyed_id
from schemas.settings import Settings
from schemas.topics import DEAD_LETTER, INTAKE, PERSON_EVENTS, topic_specs
from schemas.updates import DeadLetter
from tests.builders import contact_body, report_body, step_body
from tests.conftest import Broker, System
from tests.integration.test_webhooks import Receiver

pytestmark = pytest.mark.integration

_rng = random.Random()
M = "Qz" + "".join(_rng.choices(string.ascii_lowercase, k=10))  # the person's marker
R = "Wv" + "".join(_rng.choices(string.ascii_lowercase, k=10))  # their reporter's
PHONE = "07700 9" + "".join(_rng.choices(string.digits, k=5))
BIRTH = "1931-02-17"
MARKERS = (M, R, PHONE, BIRTH)


@pytest.fixture
def canary_system(make_settings: Callable[..., Settings]) -> Iterator[System]:
    running = System(make_settings(webhook_allow_loopback_http=True, webhook_poll_s=0.2))
    running.start_worker()
    try:
        yield running
    finally:
        running.close()


def _scan(where: dict[str, list[Path]], markers: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """How many files of each place hold each marker (as bytes, or in base64's three alignments)."""
    found: dict[str, dict[str, int]] = {}
    needles = {m: [m.encode(), *_base64_forms(m)] for m in markers}
    for place, roots in where.items():
        counts = dict.fromkeys(markers, 0)
        for root in roots:
            for path in [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]:
                data = path.read_bytes()
                for marker, forms in needles.items():
                    counts[marker] += any(form in data for form in forms)
        found[place] = counts
    return found


def _base64_forms(marker: str) -> list[bytes]:
    # A marker inside base64 (a dead letter's payload) shows as one of three strings, whatever
    # comes before it; the middle of each is stable.
    raw = marker.encode()
    return [base64.b64encode(b"\0" * shift + raw)[4:-4] for shift in range(3)]


def _record_values(system: System) -> bytes:
    """Every record of every topic of this system, as the broker gives them, dead letters'
    payloads decoded."""
    values = []
    for spec in topic_specs(system.settings):
        for record in system.topic_records(spec.name.removeprefix(system.settings.topic_prefix)):
            values.append(record.value or b"")
            values.append(record.key or b"")
    for record in system.topic_records(DEAD_LETTER):
        values.append(DeadLetter.model_validate_json(record.value).payload)
    return b"\n".join(values)


def test_personal_data_is_sealed_everywhere_and_erasure_leaves_nothing_that_opens(
        canary_system: System, kafka_broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="journeys")
    system = canary_system
    at = datetime.now(UTC) - timedelta(hours=6)
    now = datetime.now(UTC)
    lead = issue_key(system.engine, organisation="the-council", role=Role.COUNCIL, now=now, data_protection_lead=True)
    endpoint = Receiver()
    hook = system.call("POST", "/v1/subscriptions", system.outreach_key, {"url": endpoint.url, "scope": "all"})
    assert hook.status_code == 201, hook.text
    endpoint.start(hook.json()["secret"])

    # A report (the reporter's details with it) and two contacts of a record of their own.
    report = system.post("/v1/reports", report_body(at, personal={
        "person_description": f"{M} tall, grey coat", "place": {"description": f"{M} doorway"},
        "reporter": {"name": f"Pat {R}", "email": f"{R.lower()}@example.org", "phone": PHONE}},
        details={"wants_update": True}), key=system.frontline_key)
    assert report.status_code == 202, report.text
    reported = report.json()["person_id"]
    contact = contact_body(None, at + timedelta(hours=1), personal={
        "known_as": f"Jo {M}", "aliases": [f"Joey {M}"], "date_of_birth": BIRTH, "notes": f"{M} notes",
        "next_step": f"{M} next step", "place": {"description": f"{M} bench"}})
    first = system.post("/v1/contacts", contact, key=system.outreach_key)
    assert first.status_code == 202, first.text
    person = first.json()["person_id"]
    system.wait_journey(person, 1)
    # The read model refuses one event's row: it goes to the dead-letter topic, whole.
    token = "5f0c5d2e-5a55-4c61-9d3e-6b8a8e0c7d11"  # the client's id for the event the read model refuses
    rejected = keyed_id("town-centre-outreach", token)
    with system.engine.begin() as connection:
        connection.execute(text(f"CREATE TRIGGER refuse_canary BEFORE INSERT ON timeline_entries "
                                f"WHEN NEW.event_id = '{rejected}' BEGIN SELECT RAISE(ABORT, 'refused'); END"))
    refused = system.post("/v1/contacts", contact_body(person, at + timedelta(hours=2), event_id=token,
                                                       personal={"notes": f"{M} rejected notes"}),
                          key=system.outreach_key)
    assert refused.status_code == 202, refused.text
    system.wait_for("the dead letter", lambda: system.topic_records(DEAD_LETTER))
    with system.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER refuse_canary"))
    strengths = system.post("/v1/cases", step_body(person, "strengths_recorded", at + timedelta(hours=3), {},
                                                   {"strengths": [f"{M} cooking"], "goals": [f"{M} goal"]}),
                            key=system.outreach_key)
    assert strengths.status_code == 202, strengths.text
    system.wait_journey(person, 2)
    # The report's record is merged into the contacts' record.
    merge = system.call("POST", "/v1/identity/merges", system.outreach_key, {"person_id": reported, "other": person})
    assert merge.status_code == 202, merge.text
    system.wait_for("the merge", lambda: system.journey(reported).json()["merged_into"] == person)
    journey = system.wait_journey(person, 6)  # contact, strengths, merge; report, routed (merged), absorbed
    system.wait_for("the webhook's deliveries", lambda: len(endpoint.handled) >= 4, timeout=60)

    # Those entitled see it: the sharing layer opens the boxes on the way out.
    shown = system.journey(person).text
    assert f"Jo {M}" in shown and f"{M} notes" in shown and f"{M} cooking" in shown
    assert any(M in str(update) for update in endpoint.handled), "the partner's webhook got what it may see"
    answer = system.call("GET", f"/v1/people/{person}/subject-access", lead)
    assert answer.status_code == 200, answer.text
    for put in (f"{M} tall, grey coat", f"{M} doorway", f"Jo {M}", f"Joey {M}", BIRTH, f"{M} notes",
                f"{M} next step", f"{M} bench", f"{M} cooking", f"{M} goal"):
        assert put in answer.text, put
    statistics = system.call("GET", f"/v1/statistics?start={(at - timedelta(days=1)).date()}&end={now.date()}",
                             system.council_key)
    assert statistics.status_code == 200, statistics.text

    # Where the bytes are: this system's topics' partition files, its state directory (the
    # worker's RocksDB store, the SQLite read model and its WAL, the worker's log) and the
    # API's log records.
    topics_dir = [d for d in (kafka_broker.data_dir.iterdir() if kafka_broker.data_dir else ())
                  if d.name.startswith(system.settings.topic_prefix)]
    logs = system.settings.state_dir / "captured-api.log"

    def places() -> dict[str, list[Path]]:
        logs.write_text(caplog.text)
        system.settings.state_dir.joinpath("records.bin").write_bytes(_record_values(system))
        # The worker's RocksDB store writes no log of its own: what it holds is in its stages'
        # changelogs (scanned with the control) and reaches its own files only at 16 MiB.
        return {"topic files": [d for d in topics_dir if ".state." not in d.name],
                "stage changelogs": [d for d in topics_dir if ".state." in d.name],
                "topic records": [system.settings.state_dir / "records.bin"],
                "worker store": [system.settings.state_dir / "stages"],
                "read model": list(system.settings.state_dir.glob("read-model.db*")),
                "logs": [*system.settings.state_dir.glob("worker-*.log"), logs]}

    control = str(UUID(first.json()["event_id"]))
    before = _scan(places(), (*MARKERS, control))
    read_by_scan = {"topic records", "read model", *({"topic files", "stage changelogs"} if topics_dir else ())}
    assert all(before[place][control] for place in read_by_scan), f"the scan reads every place: {before}"
    assert {place: {m: n for m, n in counts.items() if m != control and n} for place, counts in before.items()} == {
        place: {} for place in before}, f"personal data in clear: {before}"

    # Erasure: only the council's data protection lead; the ground and reference are checked.
    path = f"/v1/people/{person}/erasure"
    body = {"ground": "consent_withdrawn", "reference": "DSR-2026-0142"}
    assert system.call("POST", path, system.council_key, body).status_code == 403
    assert system.call("POST", path, lead, {**body, "reference": "Jo Bloggs, 12 High St"}).status_code == 422
    assert system.call("POST", path, lead, {**body, "ground": "because"}).status_code == 422
    erased = system.call("POST", path, lead, body)
    assert erased.status_code == 200, erased.text
    said = erased.json()
    assert sorted(said["records"]) == sorted([person, reported]) and said["keys_destroyed"] >= 3, said
    assert said["reports"] == 1

    # Nothing about them is shown or opens; the non-personal facts and the statistics stay.
    after = system.journey(person).json()
    assert M not in str(after) and R not in str(after)
    assert [e["type"] for e in after["timeline"]] == [e["type"] for e in journey["timeline"]]
    assert after["stage"] == journey["stage"] and after["contacts"] == journey["contacts"]
    assert system.call("GET", f"/v1/statistics?start={(at - timedelta(days=1)).date()}&end={now.date()}",
                       system.council_key).json() == statistics.json()
    access = system.call("GET", f"/v1/people/{person}/subject-access", lead).text
    assert M not in access and BIRTH not in access
    fresh = Keyring(system.engine, configured_kek(system.settings))  # nothing cached: what the database holds
    boxes = 0
    for topic in (INTAKE, PERSON_EVENTS, DEAD_LETTER):
        for record in system.topic_records(topic):
            raw = DeadLetter.model_validate_json(record.value).payload if topic == DEAD_LETTER else record.value
            event = decode_event(raw)
            boxes += len(event.sealed)
            assert fresh.opening({p.key for p in event.sealed}) == {}, (topic, event.type)
    assert boxes >= 6
    after_scan = _scan(places(), MARKERS)
    assert after_scan == {place: dict.fromkeys(MARKERS, 0) for place in after_scan}, after_scan
    with system.engine.connect() as connection:
        kept: Any = connection.execute(text(
            "SELECT ground, reference, records, keys_destroyed FROM erasures")).one()
    assert tuple(kept) == ("consent_withdrawn", "DSR-2026-0142", 2, said["keys_destroyed"])
    endpoint.stop()


def test_the_retention_timer_erases_a_closed_case_after_the_schedules_years(canary_system: System) -> None:
    system = canary_system
    at = datetime.now(UTC) - timedelta(hours=6)
    now = datetime.now(UTC)
    report = system.post("/v1/reports", report_body(at, personal={
        "person_description": f"{M} tall", "reporter": {"name": f"Pat {R}", "phone": PHONE}}),
        key=system.frontline_key)
    person = report.json()["person_id"]
    for n, body in enumerate((
            contact_body(person, at + timedelta(hours=1), personal={"known_as": f"Jo {M}", "date_of_birth": BIRTH}),
            step_body(person, "closed", at + timedelta(hours=2), {"close_reason": "moved_away"},
                      {"notes": f"{M} moved to family"})), start=1):
        path, key = ("/v1/contacts", system.outreach_key) if n == 1 else ("/v1/cases", system.council_key)
        sent = system.post(path, body, key=key)
        assert sent.status_code == 202, sent.text
    journey = system.wait_journey(person, 4)
    assert journey["case"]["closed_at"] is not None and M in system.journey(person).text
    other = system.post("/v1/contacts", contact_body(None, at, personal={"known_as": f"Kim {M}"}),
                        key=system.outreach_key).json()["person_id"]  # an open case: kept
    system.wait_journey(other, 1)
    schedule = Schedule.configured(system.settings)
    assert apply_retention(system.engine, schedule, now)["closed_cases_erased"] == 0
    # The timer's clock six years and a day on: the closed case is erased, the open one kept.
    later = now + timedelta(days=schedule.closed_case + 1)
    assert apply_retention(system.engine, schedule, later)["closed_cases_erased"] == 1
    assert apply_retention(system.engine, schedule, later)["closed_cases_erased"] == 0, "each person once"
    after = system.journey(person).json()
    assert M not in str(after) and [e["type"] for e in after["timeline"]] == [e["type"] for e in journey["timeline"]]
    assert f"Kim {M}" in system.journey(other).text
    fresh = Keyring(system.engine, configured_kek(system.settings))
    opened = 0
    for record in system.topic_records(INTAKE):
        event = decode_event(record.value)
        keys = fresh.opening({p.key for p in event.sealed})
        opened += bool(keys)
        assert not keys or str(resolve_person(event.subject, event.id)) == other, event.type
    assert opened == 1, "only the open case's contact still opens"
    read_model = list(system.settings.state_dir.glob("read-model.db*"))
    assert _scan({"read model": read_model}, MARKERS) == {"read model": dict.fromkeys(MARKERS, 0)}


def test_a_reporter_who_asks_is_erased_and_the_report_stays(canary_system: System) -> None:
    system = canary_system
    at = datetime.now(UTC) - timedelta(hours=2)
    lead = issue_key(system.engine, organisation="the-council", role=Role.COUNCIL, now=datetime.now(UTC),
                     data_protection_lead=True)
    report = system.post("/v1/reports", report_body(at, personal={
        "person_description": f"{M} tall", "reporter": {"name": f"Pat {R}", "phone": PHONE}}),
        key=system.frontline_key).json()
    system.wait_journey(report["person_id"], 2)
    body = {"ground": "objection", "reference": "DSR-2026-0143"}
    path = f"/v1/reports/{report['event_id']}/reporter-erasure"
    assert system.call("POST", path, system.council_key, body).status_code == 403
    assert system.call("POST", f"/v1/reports/{UUID(int=7)}/reporter-erasure", lead, body).status_code == 404
    erased = system.call("POST", path, lead, body)
    assert erased.status_code == 200, erased.text
    assert erased.json()["keys_destroyed"] == 1 and erased.json()["entries_emptied"] == 1
    fresh = Keyring(system.engine, configured_kek(system.settings))
    (record,) = system.topic_records(INTAKE)
    event = decode_event(record.value)
    person_box, reporter_box = event.sealed
    assert fresh.opening({reporter_box.key}) == {} and fresh.opening({person_box.key}), "the report itself stays"
    subject = system.call("GET", f"/v1/people/{report['person_id']}/subject-access", lead).text
    assert f"{M} tall" in subject and R not in subject
