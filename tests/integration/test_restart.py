"""A worker restart keeps every journey exactly as it was, and processing goes on."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest

from deploy.processes import Supervisor
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


def test_a_supervised_worker_killed_with_sigkill_is_restarted_and_goes_on(system: System) -> None:
    """What `journeys up` does when its worker dies: the supervisor starts it again and says so;
    the API keeps accepting meanwhile."""
    assert system.worker is not None
    said: list[str] = []
    supervisor = Supervisor([system.worker], said.append)
    first = system.post("/v1/contacts", contact_body(None))
    system.wait_journey(first.json()["person_id"], events=1)

    system.worker.process.send_signal(signal.SIGKILL)
    system.worker.process.wait()
    later = system.post("/v1/contacts", contact_body(None))
    assert later.status_code == 202
    deadline = time.monotonic() + 10
    while not system.worker.running() and time.monotonic() < deadline:
        supervisor.check()
        time.sleep(0.1)
    assert system.worker.running()
    assert said[0].startswith("the worker exited (code -9)") and said[1] == "the worker restarted"
    system.wait_journey(later.json()["person_id"], events=1)
