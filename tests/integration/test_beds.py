"""Emergency beds through the real broker: contention, no-shows, restarts and refusals."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any

import httpx
import pytest

from api.beds import tonight
from deploy.processes import Part, free_port, start_api
from tests.builders import contact_body
from tests.conftest import System

pytestmark = pytest.mark.integration
# Beds are booked for tonight and released at a local time: the hour these tests run matters, so
# `deploy/dev clocks` runs them at awkward moments. The 200-requests and SIGKILL tests book nights
# the same way but test concurrency and crashes, which no clock changes; they run once (40 s each
# round of the clock runs otherwise).
tonight_matters = pytest.mark.clock


def register(system: System, provider_id: str, beds: int, waitlist: int = 10, **extra: Any) -> None:
    body = {"provider_id": provider_id, "name": provider_id.replace("-", " ").title(), "kind": "hub",
            "area_code": "TC-MARKET", "waitlist_limit": waitlist, **extra}
    assert system.call("POST", "/v1/beds/providers", system.brick_key, body).status_code == 202
    system.wait_for(f"provider {provider_id}", lambda: any(
        p["provider_id"] == provider_id
        for p in system.call("GET", "/v1/beds/providers", system.outreach_key).json()))
    night = str(tonight(datetime.now(UTC), system.settings))
    change = {"change": "opened", "bed_type": "general", "beds": beds, "first_night": night}
    answer = system.call("POST", f"/v1/beds/providers/{provider_id}/capacity", system.brick_key, change)
    assert answer.status_code == 202, answer.text
    system.wait_for(f"{beds} beds at {provider_id}", lambda: provider_night(system, provider_id)["capacity"] == beds)


def provider_night(system: System, provider_id: str) -> dict[str, Any]:
    picture = system.call("GET", "/v1/beds/availability", system.outreach_key).json()
    return next((p for p in picture["providers"] if p["provider_id"] == provider_id), {"capacity": None})


def decision(system: System, request_id: str, *statuses: str, timeout: float = 30.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        answer = system.call("GET", f"/v1/beds/requests/{request_id}", system.outreach_key)
        if answer.status_code == 200 and (not statuses or answer.json()["status"] in statuses):
            return answer.json()
        return None
    return system.wait_for(f"request {request_id} to be {' or '.join(statuses) or 'decided'}", check, timeout)


def ask_in_turn(system: System, people: list[str], provider_id: str) -> list[dict[str, Any]]:
    """One request after another's decision: requests for different people travel on different
    partitions, so only waiting makes "first come" mean the order they were sent in."""
    return [decision(system, ask(system, person, provider_id)) for person in people]


def ask(system: System, person: str, provider_id: str) -> str:
    answer = system.call("POST", "/v1/beds/requests", system.outreach_key,
                         {"person_id": person, "provider_id": provider_id})
    assert answer.status_code == 202, answer.text
    return answer.json()["request_id"]


def test_200_simultaneous_requests_from_4_api_processes_give_exactly_20_beds(system: System) -> None:
    register(system, "station-hub", beds=12, waitlist=5)
    register(system, "market-shelter", beds=8, waitlist=5)
    apis: list[Part] = []
    try:
        for n in range(4):
            settings = system.settings.model_copy(update={"api_port": free_port()})
            apis.append(start_api(settings, system.settings.state_dir / f"api-{n}.log"))
        urls = [f"http://{a.settings.api_host}:{a.settings.api_port}" for a in apis]
        # 160 people; 40 of them are asked for at both providers at once: 200 requests.
        people = [str(uuid.uuid4()) for _ in range(160)]
        asks = [(p, "station-hub" if i % 2 else "market-shelter") for i, p in enumerate(people)]
        asks += [(p, "market-shelter" if i % 2 else "station-hub") for i, p in enumerate(people[:40])]
        random.Random(4).shuffle(asks)
        start = threading.Barrier(40)

        def send(n: int) -> list[tuple[str, str, str]]:
            sent = []
            start.wait()  # all threads fire together
            with httpx.Client(base_url=urls[n % 4], timeout=30) as client:
                for person, provider in asks[n::40]:
                    answer = client.post("/v1/beds/requests", json={"person_id": person, "provider_id": provider},
                                         headers={"X-API-Key": system.outreach_key})
                    assert answer.status_code == 202, answer.text
                    sent.append((answer.json()["request_id"], person, provider))
            return sent

        with ThreadPoolExecutor(40) as pool:
            sent = [item for batch in pool.map(send, range(40)) for item in batch]
    finally:
        for api in apis:
            api.stop()
    assert len(sent) == 200
    decided = {request_id: decision(system, request_id) for request_id, _, _ in sent}

    allocated = [d for d in decided.values() if d and d["status"] == "allocated"]
    assert len(allocated) == 20
    assert Counter(d["provider_id"] for d in allocated) == {"station-hub": 12, "market-shelter": 8}
    beds = [(d["provider_id"], d["night"], d["bed_type"], d["bed"]) for d in allocated]
    assert len(set(beds)) == 20, "a bed was given twice"
    assert len({d["person_id"] for d in allocated}) == 20, "someone holds two beds on one night"
    others = [d for d in decided.values() if d["status"] != "allocated"]
    assert {d["status"] for d in others} <= {"refused", "waitlisted"}
    assert all(d["reason"] for d in others)
    holders = [d["person_id"] for d in decided.values() if d["status"] in ("allocated", "waitlisted")]
    assert len(holders) == len(set(holders)), "someone holds a bed or place at two providers on one night"
    waitlisted = Counter(d["provider_id"] for d in others if d["status"] == "waitlisted")
    assert waitlisted == {"station-hub": 5, "market-shelter": 5}
    for provider, beds_there in (("station-hub", 12), ("market-shelter", 8)):
        shown = provider_night(system, provider)
        assert (shown["capacity"], shown["free"], shown["occupied"], shown["waitlisted"]) == (beds_there, 0,
                                                                                              beds_there, 5)
    # The outcome reaches the person's journey.
    lucky = allocated[0]
    journey = system.wait_journey(lucky["person_id"], events=1)
    assert any(entry["type"] == "bed.allocated" for entry in journey["timeline"])


@tonight_matters
def test_a_no_show_frees_the_bed_for_the_next_on_the_waitlist(system: System) -> None:
    register(system, "night-shelter", beds=1)
    first, second, third = (str(uuid.uuid4()) for _ in range(3))
    decided = ask_in_turn(system, [first, second, third], "night-shelter")
    requests = [d["request_id"] for d in decided]
    assert [d["status"] for d in decided] == ["allocated", "waitlisted", "waitlisted"]
    assert [d["waitlist_position"] for d in decided[1:]] == [1, 2]
    answer = system.call("POST", f"/v1/beds/requests/{requests[0]}/no-show", system.brick_key)
    assert answer.status_code == 202, answer.text
    assert decision(system, requests[0], "no_show")["bed"] == 1
    moved_up = decision(system, requests[1], "allocated")
    assert moved_up["bed"] == 1 and moved_up["reason"] == "a bed came free: from the waitlist"
    assert decision(system, requests[2])["status"] == "waitlisted"
    # Checked in, then out: the bed is free once more and the last in line gets it.
    assert system.call("POST", f"/v1/beds/requests/{requests[1]}/check-in", system.brick_key).status_code == 202
    decision(system, requests[1], "checked_in")
    out = system.call("POST", f"/v1/beds/requests/{requests[1]}/check-out", system.brick_key,
                      {"leave_reason": "moved_on"})
    assert out.status_code == 202, out.text
    assert decision(system, requests[1], "checked_out")["leave_reason"] == "moved_on"
    assert decision(system, requests[2], "allocated")["bed"] == 1
    journey = system.wait_journey(second, events=4)
    assert [e["type"] for e in journey["timeline"]] == [
        "bed.waitlisted", "bed.allocated", "bed.checked_in", "bed.checked_out"]
    assert journey["emergency_bed_nights"] == 1


@tonight_matters
def test_the_worker_releases_beds_nobody_arrived_for_at_the_release_time(make_settings) -> None:
    system = System(make_settings(bed_no_show_check_s=0.5))
    zone = system.settings.zone
    system.start_worker()
    try:
        # Not in the last minute of a night: the release time set below must fall on tonight.
        while datetime.now(zone).time() >= dt_time(11, 59) and datetime.now(zone).time() < dt_time(12):
            time.sleep(1)
        # 11:59:59 is the night's last moment: the bed is held while the request is decided.
        register(system, "late-hub", beds=1, no_show_release="11:59:59")
        request = ask(system, str(uuid.uuid4()), "late-hub")
        assert decision(system, request)["status"] == "allocated"
        # The provider moves its release time to two seconds from now: after the allocation,
        # so the timer releases the bed when that moment comes.
        soon = (datetime.now(zone) + timedelta(seconds=2)).time().replace(microsecond=0)
        again = {"provider_id": "late-hub", "name": "Late Hub", "kind": "hub", "area_code": "TC-MARKET",
                 "no_show_release": soon.isoformat()}
        assert system.call("POST", "/v1/beds/providers", system.brick_key, again).status_code == 202
        released = decision(system, request, "no_show")
        assert released["bed"] == 1
        system.wait_for("the bed to be free again", lambda: provider_night(system, "late-hub")["free"] == 1)
    finally:
        system.close()


@tonight_matters
def test_a_bed_booked_after_the_release_time_is_not_taken_back(make_settings) -> None:
    system = System(make_settings(bed_no_show_check_s=0.5))
    system.start_worker()
    try:
        # Noon, the start of tonight, is always past: a booking now comes after tonight's release,
        # as an early-morning walk's booking at 01:30 comes after a 22:00 release.
        register(system, "late-hub", beds=1, no_show_release="12:00")
        request = ask(system, str(uuid.uuid4()), "late-hub")
        assert decision(system, request)["status"] == "allocated"
        # Three seconds is six rounds of the no-show timer: none of them takes the bed back.
        time.sleep(3)
        assert decision(system, request)["status"] == "allocated"
        assert provider_night(system, "late-hub")["free"] == 0
    finally:
        system.close()


@tonight_matters
def test_allocations_and_inventory_survive_a_worker_restart(system: System) -> None:
    register(system, "restart-hub", beds=3, waitlist=2)
    before = ask_in_turn(system, [str(uuid.uuid4()) for _ in range(4)], "restart-hub")
    requests = [d["request_id"] for d in before]
    assert [d["status"] for d in before] == ["allocated"] * 3 + ["waitlisted"]
    picture = provider_night(system, "restart-hub")

    system.stop_worker()
    system.start_worker()

    # Decisions after the restart follow from the state before it: a fourth bed goes to the
    # one waiting, bed numbers carry on, and a person with a bed still cannot get a second.
    night = str(tonight(datetime.now(UTC), system.settings))
    change = {"change": "opened", "bed_type": "general", "beds": 1, "first_night": night, "last_night": night}
    assert system.call("POST", "/v1/beds/providers/restart-hub/capacity", system.brick_key, change).status_code == 202
    promoted = decision(system, requests[3], "allocated")
    assert promoted["bed"] == 4
    again = ask(system, before[0]["person_id"], "restart-hub")
    assert decision(system, again)["reason"] == "already has a bed at restart-hub for this night"
    for earlier in before[:3]:
        assert decision(system, earlier["request_id"]) == earlier
    after = provider_night(system, "restart-hub")
    assert (picture["capacity"], picture["occupied"]) == (3, 3)
    assert (after["capacity"], after["occupied"], after["free"], after["waitlisted"]) == (4, 4, 0, 0)


@tonight_matters
def test_bed_commands_that_cannot_apply_get_a_clear_answer_and_change_nothing(system: System) -> None:
    register(system, "careful-hub", beds=1)
    person = str(uuid.uuid4())
    unknown = system.call("POST", "/v1/beds/requests", system.outreach_key,
                          {"person_id": person, "provider_id": "no-such-hub"})
    assert unknown.status_code == 404 and "no-such-hub" in unknown.json()["detail"]
    too_late = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    past = system.call("POST", "/v1/beds/requests", system.outreach_key,
                       {"person_id": person, "provider_id": "careful-hub", "night": too_late})
    assert past.status_code == 422 and past.json()["errors"][0]["loc"] == ["body", "night"]
    typo = system.call("POST", "/v1/beds/requests", system.outreach_key,
                       {"person_id": person, "provider_id": "careful-hub", "bed_type": "double"})
    assert typo.status_code == 422 and typo.json()["errors"][0]["loc"] == ["body", "bed_type"]
    request = ask(system, person, "careful-hub")
    decision(system, request, "allocated")
    early = system.call("POST", f"/v1/beds/requests/{request}/check-out", system.brick_key)
    assert early.status_code == 409 and "allocated" in early.json()["detail"]
    stranger = system.call("POST", f"/v1/beds/requests/{request}/check-in", system.frontline_key)
    assert stranger.status_code == 403
    outreach = system.call("POST", "/v1/beds/providers/careful-hub/capacity", system.outreach_key,
                           {"change": "closed", "bed_type": "general", "beds": 1, "first_night": too_late})
    assert outreach.status_code == 403
    shown = provider_night(system, "careful-hub")
    assert (shown["capacity"], shown["occupied"], shown["free"]) == (1, 1, 0)
    assert decision(system, request)["status"] == "allocated"


def test_sigkill_while_beds_are_decided_loses_no_outcome_overbooks_nothing_and_gives_nobody_two_beds(
    make_settings,  # noqa: ANN001
) -> None:
    system = System(make_settings(topic_partitions=4))
    system.start_worker()
    deaths: list[str] = []
    stop = threading.Event()

    def supervise() -> None:
        """Restart the worker whenever it dies; after three deaths of its own, it stops dying."""
        while not stop.is_set():
            if system.worker is not None and not system.worker.running():
                deaths.append("died")
                if len(deaths) >= 3:
                    system.settings = system.settings.model_copy(update={"fault_injection": None})
                try:
                    system.start_worker()
                except RuntimeError:
                    continue  # it died again before it was ready
            time.sleep(0.2)

    try:
        providers = {"north-hub": 10, "south-hub": 6, "east-shelter": 4}
        for provider, beds in providers.items():
            register(system, provider, beds=beds, waitlist=3)
        # From here on the worker kills itself after every batch's outputs reached Kafka and before
        # its state did (the moment at which a stage that writes state first loses outputs), until
        # it has died three times; the requests keep coming meanwhile, so each death falls at
        # another point of the stream.
        system.stop_worker()
        system.settings = system.settings.model_copy(update={"fault_injection": "after-outputs:1.0"})
        system.start_worker()
        watcher = threading.Thread(target=supervise)
        watcher.start()
        rng = random.Random(7)
        people = [str(uuid.uuid4()) for _ in range(120)]
        sent = []
        for person in people:
            for provider in rng.sample(sorted(providers), rng.choice([1, 1, 2])):
                body = {"request_id": str(uuid.uuid4()), "person_id": person, "provider_id": provider}
                answers = [system.call("POST", "/v1/beds/requests", system.outreach_key, body)
                           for _ in range(2 if rng.random() < 0.1 else 1)]  # a client retrying after a timeout
                assert [a.status_code for a in answers] == [202] * len(answers)
                request_id = answers[0].json()["request_id"]  # the platform's id for the client's token
                assert {a.json()["request_id"] for a in answers} == {request_id}
                sent.append((request_id, person, provider))
        # A request still undecided a minute and a half after the last was sent is lost.
        decided: dict[str, dict | None] = {request_id: None for request_id, _, _ in sent}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and None in decided.values():
            for request_id in [r for r, d in decided.items() if d is None]:
                answer = system.call("GET", f"/v1/beds/requests/{request_id}", system.outreach_key)
                if answer.status_code == 200:
                    decided[request_id] = answer.json()
            time.sleep(0.5)
        stop.set()
        watcher.join()
    finally:
        stop.set()
        system.close()

    lost = sum(d is None for d in decided.values())
    allocated = [d for d in decided.values() if d and d["status"] == "allocated"]
    overbooked = sum(max(0, n - providers[p]) for p, n in Counter(d["provider_id"] for d in allocated).items())
    beds = Counter((d["provider_id"], d["bed"]) for d in allocated)
    holders = Counter(d["person_id"] for d in decided.values() if d and d["status"] in ("allocated", "waitlisted"))
    print(f"\nbeds under SIGKILL: requests {len(sent)}, worker deaths {len(deaths)}, outcomes lost {lost}, "
          f"overbooked {overbooked}, beds given twice {sum(n > 1 for n in beds.values())}, "
          f"people holding two {sum(n > 1 for n in holders.values())}")
    assert len(deaths) >= 3, "the worker was meant to die at the awkward moment"
    assert (lost, overbooked) == (0, 0)
    assert len(allocated) == sum(providers.values())
    assert all(n == 1 for n in beds.values()) and all(n == 1 for n in holders.values())


@tonight_matters
def test_retried_bed_commands_apply_once_and_a_reused_id_for_another_body_is_refused(system: System) -> None:
    register(system, "retry-hub", beds=2, waitlist=0)
    night = str(tonight(datetime.now(UTC), system.settings))
    opened = {"change": "opened", "bed_type": "general", "beds": 5, "first_night": night}
    key = {"Idempotency-Key": "open-5-tonight"}
    path = "/v1/beds/providers/retry-hub/capacity"
    # A client retries "opened 5" after a timeout, twice, with the same key: 5 beds open, not 15.
    answers = [system.client.post(path, json=opened, headers={"X-API-Key": system.brick_key, **key})
               for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    # The same key for another change is refused and sends nothing.
    other = system.client.post(path, json={**opened, "beds": 6}, headers={"X-API-Key": system.brick_key, **key})
    assert other.status_code == 409 and "idempotency key" in other.json()["detail"]
    changes = [r for r in system.topic_records("bed-commands") if b'"capacity.changed"' in r.value]
    assert len(changes) == 2  # the registration's 2 beds, and the 5 sent once

    # A request id reused for another person is refused, not silently dropped downstream.
    request_id, person, someone_else = (str(uuid.uuid4()) for _ in range(3))
    body = {"request_id": request_id, "person_id": person, "provider_id": "retry-hub"}
    first = system.call("POST", "/v1/beds/requests", system.outreach_key, body)
    again = system.call("POST", "/v1/beds/requests", system.outreach_key, body)
    assert (first.status_code, again.status_code) == (202, 202)
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    reused = system.call("POST", "/v1/beds/requests", system.outreach_key, {**body, "person_id": someone_else})
    assert reused.status_code == 409 and "request id" in reused.json()["detail"]
    requests = [r for r in system.topic_records("bed-requests") if b"bed.requested" in r.value]
    assert len(requests) == 1

    system.wait_for("7 beds", lambda: provider_night(system, "retry-hub")["capacity"] == 7)
    assert first.json()["request_id"] != request_id  # the client's id is only its token
    assert decision(system, first.json()["request_id"])["person_id"] == person
    time.sleep(1.0)  # nothing more is on its way: the count stays
    assert provider_night(system, "retry-hub")["capacity"] == 7


@tonight_matters
def test_a_stay_command_the_provider_can_no_longer_apply_is_refused_visibly(system: System) -> None:
    register(system, "busy-hub", beds=1)
    person = str(uuid.uuid4())
    request = ask(system, person, "busy-hub")
    assert decision(system, request, "allocated")["bed"] == 1
    # With the worker stopped, the read model still says "allocated": the API accepts both a
    # no-show and a check-in. The provider's stage then applies the no-show first, and the
    # check-in no longer fits: it must be refused where the caller can see it, not dropped.
    system.stop_worker()
    path = f"/v1/beds/requests/{request}"
    no_show = system.call("POST", f"{path}/no-show", system.brick_key)
    check_in = system.call("POST", f"{path}/check-in", system.brick_key)
    assert (no_show.status_code, check_in.status_code) == (202, 202)
    system.start_worker()
    # The refusal and the request's status are projected by separate writes, and a read is not
    # one snapshot (docs/known-gaps.md): wait until both show.
    shown = system.wait_for("the no-show and the refused check-in", lambda: (
        answer := system.call("GET", path, system.outreach_key).json())["refused_commands"]
        and answer["status"] == "no_show" and answer)
    assert shown["status"] == "no_show"
    (refusal,) = shown["refused_commands"]
    assert refusal["command_id"] == check_in.json()["command_id"] and refusal["command"] == "bed.check_in"
    assert "released" in refusal["reason"]


@tonight_matters
def test_a_merged_person_holds_at_most_one_bed_a_night(system: System) -> None:
    register(system, "merge-hub", beds=2)
    register(system, "merge-shelter", beds=2)
    at = datetime.now(UTC) - timedelta(hours=3)
    kept, merged = (system.post("/v1/contacts", contact_body(None, at=at + timedelta(minutes=n))).json()["person_id"]
                    for n in range(2))
    for person in (kept, merged):
        system.wait_journey(person, events=1)
    assert decision(system, ask(system, kept, "merge-hub"), "allocated")["bed"] == 1
    merge = system.call("POST", "/v1/identity/merges", system.outreach_key, {"person_id": merged, "other": kept})
    assert merge.status_code == 202, merge.text
    system.wait_for("the merge", lambda: system.journey(merged).json()["merged_into"] == kept)
    # The merged record asks for a bed elsewhere tonight: it is the same person, who has one.
    refused = decision(system, ask(system, merged, "merge-shelter"))
    assert refused["status"] == "refused" and "already has a bed at merge-hub" in refused["reason"]
    assert provider_night(system, "merge-shelter")["free"] == 2
