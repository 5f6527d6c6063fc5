"""The retention schedule through the real API, broker, worker and read model: a reporter's
contact details go once the schedule's days pass (and at once after they were told), expired
page sessions and old idempotency records go, finished deliveries go, audit entries go only once
relayed and six years old; what each run removed is counted. The worker applies it on a timer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from readmodel.data_keys import keyring
from readmodel.retention import Schedule, apply_retention
from readmodel.tables import audit_entries, submissions, timeline_entries
from schemas.settings import Settings
from tests.builders import report_body
from tests.conftest import System

pytestmark = pytest.mark.integration


@pytest.fixture
def kept(make_settings: Callable[..., Settings]) -> Iterator[System]:
    running = System(make_settings(retention_check_s=0.5))
    running.start_worker()
    try:
        yield running
    finally:
        running.close()


def _reporters(system: System) -> int:
    with system.engine.connect() as connection:
        rows = connection.execute(select(timeline_entries.c.event_id, timeline_entries.c.personal)
                                  .where(timeline_entries.c.type == "report.received")).all()
    opened = keyring(system.engine).personal([(row.event_id, row.personal) for row in rows])
    return sum(1 for fields in opened if fields.get("reporter"))


def test_the_schedule_removes_what_it_no_longer_allows_and_counts_it(kept: System) -> None:
    at = datetime.now(UTC) - timedelta(hours=2)
    for n in range(2):
        sent = kept.post("/v1/reports", report_body(at, personal={
            "person_description": f"Person {n}", "place": {"description": "Doorway"},
            "reporter": {"name": "Pat Reporter", "phone": "07700 900456"}}), **{"Idempotency-Key": f"r-{n}"})
        assert sent.status_code == 202, sent.text
        kept.wait_journey(sent.json()["person_id"], 2)  # read by outreach: an audit entry each
    assert _reporters(kept) == 2
    schedule = Schedule.configured(kept.settings)
    now = datetime.now(UTC)
    # Today nothing is due: a reporter not yet told keeps their details for the schedule's days.
    assert apply_retention(kept.engine, schedule, now) == {
        "reporters_contact_details": 0, "page_sessions": 0, "invitations": 0, "idempotency_records": 0,
        "delivery_attempts": 0, "deliveries": 0, "audit_entries": 0, "closed_cases_erased": 0}
    later = apply_retention(kept.engine, schedule, now + timedelta(days=31))
    assert later["reporters_contact_details"] == 2 and later["idempotency_records"] == 2
    assert _reporters(kept) == 0
    with kept.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(submissions)).scalar_one() == 0
        audited = connection.execute(select(func.count()).select_from(audit_entries)).scalar_one()
    assert audited > 0
    # Six years on, audit entries go only once the relay has sent them to the audit topic.
    def relayed() -> bool:
        return apply_retention(kept.engine, schedule, now + timedelta(days=2_200))["audit_entries"] > 0

    kept.wait_for("the relayed audit entries to go", relayed)
    # The outreach team still reads the report, without the reporter.
    journey = kept.journey(kept.wait_journey(kept.post("/v1/reports", report_body(at)).json()["person_id"], 2)[
        "person_id"]).json()
    assert all("reporter" not in e["personal"] for e in journey["timeline"])


def test_the_worker_applies_the_schedule_on_its_timer(kept: System) -> None:
    assert kept.worker is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "retention: removed" in kept.worker.log_file.read_text():
            return
        time.sleep(0.2)
    raise AssertionError("the worker never applied the retention schedule")
