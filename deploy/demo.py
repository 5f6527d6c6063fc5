"""Demo data: a small town centre's week of reports and contacts, sent through the real API."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import httpx

from journey.identity import provisional_person_id

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
        person = provisional_person_id(report_id)
        for visit in range(rng.randint(1, 4)):
            met = seen + timedelta(days=visit * rng.randint(1, 3), hours=10)
            engaged = visit > 0 or rng.random() < 0.4
            offered = rng.sample(OFFERS, 2)
            events.append(("/v1/contacts", {
                "event_id": str(uuid5(DEMO, f"contact-{n}-{visit}")),
                "person_id": str(person),
                "occurred_at": min(met, now).isoformat(),
                "details": {"team": "Town Centre Outreach", "worker": f"W{rng.randint(1, 5):02d}",
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
