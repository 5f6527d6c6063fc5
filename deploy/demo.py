"""Demo data, sent through the real API: the twelve-week town-centre scenario, a small week of
reports and contacts for the people who ask for beds tonight, and tonight's emergency beds."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, tzinfo
from uuid import UUID, uuid5

import httpx

from deploy.scenario import ORGANISATIONS, generate
from schemas.ids import keyed_id, provisional_person_id

DEMO = UUID("0d6c1b1e-8a4f-5a59-9c63-3f7e1a2b4c5d")
AREAS = ("TC-MARKET", "TC-STATION", "TC-PARK", "TC-LIBRARY")
STREET_NAMES = ("Jonno", "Big Dave", "Mags", "Scouse", "Kel", "Tiny", "Ro", "Bird", "Danny", "Lou", "Shell", "Mick")
OFFERS = ("emergency_bed", "food", "health_service", "benefits_advice", "supported_accommodation")


def demo_events(now: datetime, people: int = 12, seed: int = 7) -> list[tuple[str, dict]]:
    """(path, body) pairs: each person reported once, then met by outreach a few times."""
    rng = random.Random(seed)
    events: list[tuple[str, dict]] = []
    for n in range(people):
        area = rng.choice(AREAS)
        report_id = uuid5(DEMO, f"report-{n}")
        seen = now - timedelta(days=rng.randint(8, 20), hours=rng.randint(0, 6))
        events.append(("/v1/reports", {
            "event_id": str(report_id),
            "occurred_at": seen.isoformat(),
            "details": {"channel": rng.choice(["public", "staff", "police"]), "area_code": area,
                        "over_18": True, "wants_update": True},
            "personal": {"person_description": "Sleeping in a doorway with a green sleeping bag",
                         "place": {"description": f"Doorway near {area.split('-')[1].title()}"}},
        }))
        # The person the report describes: its id derives from the platform's id of the report.
        person = provisional_person_id(keyed_id(ORGANISATIONS["frontline"], str(report_id)))
        for visit in range(rng.randint(1, 4)):
            met = seen + timedelta(days=visit * rng.randint(1, 3), hours=10)
            engaged = visit > 0 or rng.random() < 0.4
            offered = rng.sample(OFFERS, 2)
            events.append(("/v1/contacts", {
                "event_id": str(uuid5(DEMO, f"contact-{n}-{visit}")),
                "person_id": str(person),
                "occurred_at": min(met, now).isoformat(),
                "details": {"team": "town-centre-outreach", "worker": f"W{rng.randint(1, 5):02d}",
                            "area_code": area, "bedded_down": rng.random() < 0.8, "engaged": engaged,
                            "offered": offered, "accepted": offered[:1] if engaged else []},
                "personal": {"known_as": STREET_NAMES[n % len(STREET_NAMES)], "name_quality": "street_name",
                             "next_step": "Meet again on the early-morning walk"},
            }))
    return events


def send_demo(api_url: str, keys: dict[str, str], now: datetime | None = None) -> list[str]:
    """Post the demo events; return the person ids they describe."""
    now = now or datetime.now(UTC)
    people: list[str] = []
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for path, body in demo_events(now):
            key = keys["outreach"] if path == "/v1/contacts" else keys["frontline"]
            response = client.post(path, json=body, headers={"X-API-Key": key})
            response.raise_for_status()
            person = response.json()["person_id"]
            if person not in people:
                people.append(person)
    return people


def send_scenario(api_url: str, keys: dict[str, str], zone: tzinfo, people: int = 200, threads: int = 4,
                  timeout: float = 300.0) -> int:
    """Post the scenario (phase 1 in parallel, then phases 2 and 3 once what each needs is
    visible); return how many submissions were sent. A scenario sent before (same event ids) is
    not sent again."""
    scenario = generate(datetime.now(zone).date(), zone, people=people)
    role_key = {"frontline": "frontline", "outreach": "outreach", "council": "council", "charity": "brick"}
    with httpx.Client(base_url=api_url, timeout=30, limits=httpx.Limits(max_connections=threads)) as client:
        def get(path: str) -> int:
            return client.get(path, headers={"X-API-Key": keys["outreach"]}).status_code

        first_report = next(keyed_id(scenario.organisations[role], body["event_id"])
                            for path, role, body in scenario.phase(1) if path == "/v1/reports")
        if get(f"/v1/reports/{first_report}") == 200:
            return 0

        def post(item: tuple[str, str, dict]) -> None:
            path, role, body = item
            deadline = time.monotonic() + timeout
            while True:
                response = client.post(path, json=body, headers={"X-API-Key": keys[role_key[role]]})
                if response.status_code == 429:  # sending faster than a key may: wait as told
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                # What a later phase needs may still be on its way through the worker: a report's
                # routing, a referral or its acceptance (404 until then), a key worker assigned a
                # moment earlier (closing a case is 403 until then).
                waiting = response.status_code == 404 or (response.status_code == 403 and body.get("what") == "closed")
                if not waiting or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            response.raise_for_status()

        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(post, scenario.phase(1)))
        deadline = time.monotonic() + timeout
        for item in (*scenario.phase(2), *scenario.phase(3)):
            path, _, body = item
            if path.startswith("/v1/identity"):
                needed = [f"/v1/people/{body['person_id']}/journey", f"/v1/people/{body['other']}/journey"]
                while any(get(p) != 200 for p in needed):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"demo: the scenario's phase 1 did not arrive within {timeout:.0f}s")
                    time.sleep(0.2)
            post(item)
    return len(scenario.submissions)


# ---------------------------------------------------------------- emergency beds

# Three providers and their beds, each run by its own organisation (the key of that name).
DEMO_PROVIDERS = (
    ("brick", {"provider_id": "the-brick-hub", "name": "The Brick ABEN Hub", "kind": "hub",
               "area_code": "TC-MARKET", "waitlist_limit": 5}, {"general": 8, "women_only": 3}),
    ("shelter", {"provider_id": "station-night-shelter", "name": "Station Night Shelter", "kind": "night_shelter",
                 "area_code": "TC-STATION", "waitlist_limit": 3}, {"general": 6, "dogs_welcome": 1}),
    ("council", {"provider_id": "library-hostel", "name": "Library Hostel", "kind": "hostel",
                 "area_code": "TC-LIBRARY", "waitlist_limit": 2}, {"accessible": 2, "no_recourse_to_public_funds": 2}),
)
# Tonight's requests: (person index, provider, bed type, then what the provider records).
# The README's availability table follows from this plan.
DEMO_BED_REQUESTS = (
    (0, "the-brick-hub", "general", "check-in"), (1, "the-brick-hub", "general", "check-in"),
    (2, "the-brick-hub", "general", None), (3, "the-brick-hub", "general", None),
    (4, "the-brick-hub", "general", None), (5, "the-brick-hub", "women_only", None),
    (6, "station-night-shelter", "dogs_welcome", None), (7, "station-night-shelter", "dogs_welcome", None),
    (8, "station-night-shelter", "general", "check-in"), (9, "library-hostel", "accessible", None),
    (10, "library-hostel", "no_recourse_to_public_funds", "no-show"), (11, "the-brick-hub", "general", None),
    (0, "station-night-shelter", "general", None),  # already has a bed tonight: refused
)
OPERATOR = {"the-brick-hub": "brick", "station-night-shelter": "shelter", "library-hostel": "council"}


def send_demo_beds(api_url: str, keys: dict[str, str], people: list[str], timeout: float = 60.0) -> None:
    """Register the demo providers and their beds, then tonight's requests, check-ins and a no-show."""
    with httpx.Client(base_url=api_url, timeout=30) as client:
        def call(method: str, path: str, key: str, body: dict | None = None) -> dict:
            response = client.request(method, path, json=body, headers={"X-API-Key": keys[key]})
            response.raise_for_status()
            return response.json()

        def wait(what: str, check: Callable[[], bool]) -> None:
            deadline = time.monotonic() + timeout
            while not check():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"demo: {what} did not happen within {timeout:.0f}s")
                time.sleep(0.1)

        def decided(request_id: str) -> dict | None:
            response = client.get(f"/v1/beds/requests/{request_id}", headers={"X-API-Key": keys["outreach"]})
            return response.json() if response.status_code == 200 else None

        a_week_ago = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
        known = lambda: {p["provider_id"] for p in call("GET", "/v1/beds/providers", "outreach")}  # noqa: E731
        if known() >= set(OPERATOR):
            return  # sent on an earlier run: opening the beds again would double them
        for key, registration, _beds in DEMO_PROVIDERS:
            call("POST", "/v1/beds/providers", key, registration)
        wait("provider registration", lambda: known() >= set(OPERATOR))
        for key, registration, beds in DEMO_PROVIDERS:
            for bed_type, count in beds.items():
                call("POST", f"/v1/beds/providers/{registration['provider_id']}/capacity", key,
                     {"change": "opened", "bed_type": bed_type, "beds": count, "first_night": a_week_ago})
        wanted = sum(sum(beds.values()) for _, _, beds in DEMO_PROVIDERS)
        wait("bed capacity", lambda: sum(
            p["capacity"] for p in call("GET", "/v1/beds/availability", "outreach")["providers"]) == wanted)
        for person, provider, bed_type, then in DEMO_BED_REQUESTS:
            body = {"person_id": people[person], "provider_id": provider, "bed_type": bed_type}
            request_id = call("POST", "/v1/beds/requests", "outreach", body)["request_id"]
            # One at a time: the order of requests decides who gets a bed and who waits.
            wait("a bed decision", lambda: decided(request_id) is not None)  # noqa: B023
            if then:
                call("POST", f"/v1/beds/requests/{request_id}/{then}", OPERATOR[provider])
                status = {"check-in": "checked_in", "no-show": "no_show"}[then]
                wait(f"the {then}", lambda: (decided(request_id) or {}).get("status") == status)  # noqa: B023


# Eyes and ears: who a job centre adviser, a hospital discharge team and a probation officer saw
# signs of homelessness ahead for, whether they agreed to be referred, and what the housing team
# did: took on the referrals, started prevention duties and kept one home.
RISKS = (
    ("Dee", ("notice_to_quit", "rent_arrears"), "within_56_days", "verbal", "Job centre"),
    ("Aaron", ("leaving_hospital", "sofa_surfing"), "within_56_days", "written", "Hospital discharge team"),
    ("Precious", ("loss_of_income", "mortgage_arrears"), "within_56_days", "verbal", "Job centre"),
    ("Lee", ("leaving_prison",), "homeless_now", "written", "Probation"),
    ("Mo", ("relationship_breakdown", "asked_to_leave"), "within_56_days", None, "Library"),
)


def send_demo_prevention(api_url: str, keys: dict[str, str], now: datetime | None = None,
                         timeout: float = 60.0) -> int:
    """Risk of homelessness reports from frontline staff (four with consent, one without); the
    council's housing team accepts the duty-to-refer referrals, starts prevention duties, and one
    ends with accommodation secured. Returns how many risk reports were sent."""
    now = now or datetime.now(UTC)
    referrals: list[tuple[str, str]] = []
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for n, (name, factors, urgency, consent, service) in enumerate(RISKS):
            # From the start of today: sent again the same day, the same report (the API's idempotency).
            seen = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=6 - n, hours=3)
            answer = client.post("/v1/risk-reports", headers={"X-API-Key": keys["frontline"]}, json={
                "event_id": str(uuid5(DEMO, f"risk-{n}")), "occurred_at": seen.isoformat(),
                "details": {"urgency": urgency, "consent_to_refer": consent is not None, "consent_obtained": consent,
                            "area_code": AREAS[n % len(AREAS)], "referring_service": service},
                "personal": {"known_as": name, "factors": list(factors)}})
            answer.raise_for_status()
            if consent is not None:
                referrals.append((answer.json()["person_id"], seen.isoformat()))
        council = {"X-API-Key": keys["council"]}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            inbox = client.get("/v1/referrals?box=received", headers=council).json()
            duty = [r for r in inbox if str(r["reason"]).startswith("Duty to refer")]
            if len(duty) >= len(referrals):
                break
            time.sleep(0.5)
        # The oldest first: the first keeps its home, three days after its acceptance. Sent
        # again (`journeys up` a second time), what was done is not done twice.
        for n, referral in enumerate(sorted(duty, key=lambda r: r["made_at"])[:3]):
            at = min(datetime.fromisoformat(referral["made_at"]) + timedelta(hours=5), now - timedelta(minutes=30))
            if referral["status"] == "open":
                client.post(f"/v1/referrals/{referral['referral_id']}/accept", headers=council,
                            json={"occurred_at": at.isoformat()}).raise_for_status()
            _after_acceptance(client, council, referral, at, now, secured=n == 0, timeout=timeout)
    return len(RISKS)


def _after_acceptance(client: httpx.Client, council: dict[str, str], referral: dict, accepted_at: datetime,
                      now: datetime, *, secured: bool, timeout: float) -> None:
    """The housing team starts the prevention duty once the acceptance is applied (a write needs
    the right the acceptance gives), and ends one with the home kept."""
    def by(moment: datetime) -> str:  # never in the future, which the API refuses
        return min(moment, now - timedelta(minutes=1)).isoformat()

    person, which = referral["person_id"], referral["referral_id"]
    started = {"event_id": str(uuid5(DEMO, f"prevention-{which}")), "person_id": person,
               "what": "prevention_started", "occurred_at": by(accepted_at + timedelta(hours=20)),
               "details": {"local_authority": "Town council"}}
    deadline = time.monotonic() + timeout
    while client.post("/v1/duties", headers=council, json=started).status_code != 202:
        if time.monotonic() > deadline:
            raise TimeoutError("the housing team's acceptance was not applied in time")
        time.sleep(0.5)
    if secured:
        client.post("/v1/duties", headers=council, json={
            "event_id": str(uuid5(DEMO, f"prevention-ended-{which}")), "person_id": person,
            "what": "prevention_ended", "occurred_at": by(accepted_at + timedelta(days=3)),
            "details": {"local_authority": "Town council", "outcome": "accommodation_secured"}}).raise_for_status()
