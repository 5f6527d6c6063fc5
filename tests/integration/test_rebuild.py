"""`journeys rebuild`: the journeys and their read model made again from person-events' offset 0
give the very same rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from deploy.rebuild import RebuildRefused, rebuild
from readmodel.tables import journeys, sighting_reports, timeline_entries
from schemas.settings import Settings
from tests.builders import contact_body, local_noon, report_body
from tests.conftest import System

pytestmark = pytest.mark.integration


def _rows(system: System) -> tuple[Any, ...]:
    with system.engine.connect() as connection:
        people = {r.person_id: r.state for r in connection.execute(select(journeys.c.person_id, journeys.c.state))}
        entries = sorted(tuple(r) for r in connection.execute(select(timeline_entries)))
        reports = sorted(tuple(r) for r in connection.execute(select(sighting_reports)))
    return people, entries, reports


def test_a_rebuild_from_offset_0_gives_the_same_rows(make_settings: Callable[..., Settings]) -> None:
    system = System(make_settings(worker_session_timeout_s=6.0))
    system.start_worker()
    try:
        noon = local_noon(3, system.settings.zone)
        people = [str(uuid.uuid4()) for _ in range(5)]
        sent = 0
        for n, person in enumerate(people):
            for hours in (20, 2, 10):  # the one at 2 h arrives after the one at 20 h: late
                assert system.post("/v1/contacts", contact_body(person, at=noon + timedelta(hours=hours + n))
                                   ).status_code == 202
                sent += 1
        report = system.post("/v1/reports", report_body(at=noon)).json()["person_id"]
        system.wait_journey(report, events=2)
        for person in people:
            system.wait_journey(person, events=3)
        before = _rows(system)
        assert len(before[1]) == sent + 2

        with pytest.raises(RebuildRefused, match="stop every worker"):
            rebuild(system.settings, say=print, group_timeout_s=1.0)  # the worker is still running
        system.stop_worker()
        done = rebuild(system.settings, say=print)
        assert done.events == sent + 2 and done.people_forgotten == len(people) + 1
        assert _rows(system) == before
    finally:
        system.close()
