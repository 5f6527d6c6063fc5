"""The profile projection and its search keys (readmodel/profiles.py, readmodel/search_keys.py),
through the real broker: what search and matching read instead of the whole timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from readmodel.keys import Role, issue_key
from readmodel.profiles import backfill
from readmodel.tables import profiles, search_keys
from tests.builders import contact_body, local_noon
from tests.conftest import System

pytestmark = pytest.mark.integration


def _contact(system: System, person: str | None, at: datetime, **personal: object) -> str:
    answer = system.post("/v1/contacts", contact_body(person, at=at, personal=personal), key=system.outreach_key)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["person_id"])


def _found(system: System, **terms: str) -> list[str]:
    answer = system.call("POST", "/v1/people/search", system.outreach_key, terms)
    assert answer.status_code == 200, answer.text
    return [p["person_id"] for p in answer.json()]


def _stored(system: System, person: str) -> tuple[str | None, list[int]]:
    with system.engine.connect() as connection:
        profile = connection.execute(select(profiles.c.profile).where(profiles.c.person_id == person)).scalar()
        keys = list(connection.execute(select(search_keys.c.key).where(search_keys.c.person_id == person)).scalars())
    return (None if profile is None else str(profile)), keys


def test_search_reads_a_sealed_profile_found_by_keyed_hashes_and_erasure_takes_both(system: System) -> None:
    zone = system.settings.zone
    person = _contact(system, None, local_noon(1, zone), known_as="Dave Smith", date_of_birth="1981-04-05")
    # An older contact arrives after the newer one (a phone that was offline): its alias joins the
    # profile, and the date of birth said last in time stays, whatever the order of arrival.
    _contact(system, person, local_noon(3, zone), known_as="Smithy", date_of_birth="1980-01-01")
    system.wait_journey(person, events=2)

    assert _found(system, name="smithy") == [person]
    assert _found(system, name="davey smith") == [person]
    assert _found(system, name="Dave", date_of_birth="1981-04-05") == [person]
    assert _found(system, name="Dave", date_of_birth="1980-01-01") == []
    profile, keys = _stored(system, person)
    assert profile is not None and len(keys) > 10
    assert "Smith" not in profile and "1981" not in profile  # sealed with the person's key
    assert all(isinstance(k, int) for k in keys)  # keyed hashes: nothing readable without the secret

    lead = issue_key(system.engine, organisation="the-council", role=Role.COUNCIL, now=datetime.now(UTC),
                     data_protection_lead=True)
    erased = system.call("POST", f"/v1/people/{person}/erasure", lead, {"ground": "objection", "reference": "DSR-9"})
    assert erased.status_code == 200, erased.text
    assert _stored(system, person) == (None, [])
    assert _found(system, name="smithy") == []


def test_a_read_model_from_before_profiles_gets_them_from_its_timeline(system: System) -> None:
    at = local_noon(2, system.settings.zone)
    people = [_contact(system, None, at + timedelta(minutes=n), known_as=name, date_of_birth="1975-06-0" + str(n + 1))
              for n, name in enumerate(("Kel Jones", "Mags Wilson"))]
    for person in people:
        system.wait_journey(person, events=1)
    system.stop_worker()  # as an upgrade finds it: journeys stored, no profiles
    with system.engine.begin() as connection:
        connection.execute(delete(search_keys))
        connection.execute(delete(profiles))
    assert _found(system, name="kel") == []  # the test bites: nothing else finds them

    assert backfill(system.engine, datetime.now(UTC)) == 2
    assert _found(system, name="kel") == [people[0]]
    assert _found(system, name="wils", date_of_birth="1975-06-02") == [people[1]]
    assert backfill(system.engine, datetime.now(UTC)) == 0  # once
