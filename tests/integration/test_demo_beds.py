"""The demo's beds, through the real API process, broker and worker: the availability endpoint
shows the numbers that follow from the demo plan (worked out by hand in the README)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from deploy.demo import send_demo_beds
from deploy.processes import start_api
from readmodel.keys import Role, issue_key
from tests.conftest import System

# Beds are booked for tonight and released at a local time: the hour the test runs matters.
pytestmark = [pytest.mark.integration, pytest.mark.clock]

# provider -> bed type -> (capacity, allocated, checked in, free, waitlisted)
EXPECTED = {
    "library-hostel": {"accessible": (2, 1, 0, 1, 0), "no_recourse_to_public_funds": (2, 0, 0, 2, 0)},
    "station-night-shelter": {"dogs_welcome": (1, 1, 0, 0, 1), "general": (6, 0, 1, 5, 0)},
    "the-brick-hub": {"general": (8, 4, 2, 2, 0), "women_only": (3, 1, 0, 2, 0)},
}


def test_the_demo_beds_show_the_planned_availability(system: System) -> None:
    now = datetime.now(UTC)
    keys = {
        "outreach": system.outreach_key,
        "brick": system.brick_key,
        "shelter": issue_key(system.engine, organisation="station-shelter-trust", role=Role.CHARITY, now=now),
        "council": issue_key(system.engine, organisation="town-council", role=Role.COUNCIL, now=now),
    }
    api = start_api(system.settings, system.settings.state_dir / "api.log")
    try:
        people = [str(uuid.uuid4()) for _ in range(12)]
        url = f"http://{system.settings.api_host}:{system.settings.api_port}"
        send_demo_beds(url, keys, people)
        send_demo_beds(url, keys, people)  # `journeys up` run again: nothing is added twice
    finally:
        api.stop()
    picture = system.call("GET", "/v1/beds/availability", system.outreach_key).json()
    shown = {
        p["provider_id"]: {
            b["bed_type"]: (b["capacity"], b["allocated"], b["checked_in"], b["free"], b["waitlisted"])
            for b in p["beds"]
        }
        for p in picture["providers"]
    }
    assert shown == EXPECTED
    assert sum(t["free"] for t in picture["totals"]) == 12
    refused = system.call("GET", "/v1/beds/providers/station-night-shelter/requests", system.outreach_key)
    assert refused.status_code == 403  # outreach may not list who asked for a provider's beds
    listed = system.call("GET", "/v1/beds/providers/the-brick-hub/requests", system.brick_key).json()
    assert sorted(r["status"] for r in listed) == ["allocated"] * 5 + ["checked_in"] * 2
