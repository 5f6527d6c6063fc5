"""A worker restart keeps every journey exactly as it was, and processing goes on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.builders import contact_body, local_noon, report_body
from tests.conftest import System

pytestmark = pytest.mark.integration


@pytest.mark.clock
def test_stopping_and_restarting_the_worker_keeps_journeys_and_goes_on(system: System) -> None:
    start = local_noon(3, system.settings.zone)
    people = []
    for n in range(5):
        report = system.post("/v1/reports", report_body(at=start + timedelta(minutes=n)))
        person = report.json()["person_id"]
        system.post("/v1/contacts", contact_body(person, at=start + timedelta(hours=12)))
        people.append(person)
    # Each journey: the report, its routing, the contact.
    before = {person: system.wait_journey(person, events=3) for person in people}

    system.stop_worker()
    # While the worker is down, submissions are still accepted: they wait in Kafka.
    pending = system.post("/v1/contacts", contact_body(people[0], at=start + timedelta(days=1, hours=12),
                                                       details={"engaged": False}))
    assert pending.status_code == 202
    system.start_worker()

    after = system.wait_journey(people[0], events=4)
    for person in people[1:]:
        assert system.journey(person).json() == before[person]
    # The journey state survived in the table: counts go on from where they were, not from zero.
    assert after["events"] == 4
    assert (after["reports"], after["contacts"], after["rough_sleeping_nights"]) == (1, 2, 2)
    assert after["stage"] == "engaged"  # a later contact that did not engage does not undo engagement
    assert after["timeline"][:3] == before[people[0]]["timeline"]
