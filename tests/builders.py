"""Valid submission bodies for tests, with the fields a test cares about overridable."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def local_noon(days_ago: int, zone: tzinfo) -> datetime:
    """Local noon `days_ago` days back: the start of a known night, whatever the hour the test
    runs. A story built from it lands on the same nights at 00:30, at 11:59 and across a DST
    change; a story built from `now` does not."""
    today = datetime.now(zone).date()
    return datetime.combine(today - timedelta(days=days_ago), time(12), tzinfo=zone)


def report_body(at: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    at = at or datetime.now(UTC) - timedelta(hours=1)
    base = {
        "occurred_at": at.isoformat(),
        "details": {"channel": "staff", "reporter_role": "street cleaner", "area_code": "TC-MARKET",
                    "over_18": True, "wants_update": False},
        "personal": {"person_description": "Man in his 40s, red coat, with a dog",
                     "place": {"latitude": 53.545, "longitude": -2.632, "description": "Bank doorway"}},
    }
    return _merge(base, overrides)


def contact_body(person_id: str | None, at: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    at = at or datetime.now(UTC) - timedelta(minutes=30)
    base = {
        "person_id": person_id,
        "occurred_at": at.isoformat(),
        "details": {"team": "town-centre-outreach", "worker": "W07", "area_code": "TC-MARKET",
                    "bedded_down": True, "engaged": True, "offered": ["emergency_bed", "food"],
                    "accepted": ["food"]},
        "personal": {"known_as": "Dave", "name_quality": "street_name", "needs": ["mental_health"],
                     "next_step": "Offer a bed again tomorrow"},
    }
    return _merge(base, overrides)


def step_body(person_id: str, what: str, at: datetime, details: dict[str, Any],
              personal: dict[str, Any] | None = None) -> dict[str, Any]:
    """A body for /v1/accommodation, /v1/work, /v1/duties or /v1/cases."""
    body = {"person_id": person_id, "what": what, "occurred_at": at.isoformat(), "details": details}
    if personal is not None:
        body["personal"] = personal
    return body
