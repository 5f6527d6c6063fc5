"""What the public's report (the web form and Open311) shares: who records it, how a form's
fields become a report submission, and the report's status in words, with nothing personal."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import ValidationError
from sqlalchemy import Engine

from journey.reports import OUTCOME_WORDS
from readmodel.keys import Principal, Role, service_member
from schemas.submissions import ReportSubmission

WEB_FORM = "public-web"


def web_reporter(engine: Engine, now: datetime) -> Principal:
    """The member the public's web form records as: the public have no accounts."""
    return service_member(engine, organisation=WEB_FORM, role=Role.PUBLIC, name="Public report form", now=now)


class Allowance:
    """How many times one address may do something in a window: send a report through the public
    form in an hour (a script cannot fill the outreach team's list with invented sightings, each
    a person to look for), or fail to sign in within 15 minutes (nobody can go on guessing). A
    moving window, counted in the API process's memory (one count per process; the addresses
    are never written anywhere)."""

    def __init__(self, allowed: int, minutes: int = 60) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage()) if allowed > 0 else None
        self.limit = RateLimitItemPerMinute(max(allowed, 1), minutes)

    def close(self) -> None:
        """Stop the storage's expiry timer (a thread that is not a daemon: left running, it keeps
        a process from exiting, for ever under libfaketime's moved clocks)."""
        if self.limiter is not None:
            self.limiter.storage.timer.cancel()

    def minutes_to_wait(self, address: str, now: float) -> int:
        """0 if `address` may go on now, else how long until it may. Nothing is counted here:
        only what uses the allowance is counted (`count`): a report Kafka accepted (so a report
        refused for a broker's failure, or the same form sent twice, costs the sender nothing),
        a sign-in that failed."""
        if self.limiter is None or self.limiter.test(self.limit, address):
            return 0
        reset, _remaining = self.limiter.get_window_stats(self.limit, address)
        return max(1, math.ceil((reset - now) / 60))

    def count(self, address: str) -> None:
        if self.limiter is not None:
            self.limiter.hit(self.limit, address)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


@dataclass
class PublicReport:
    """A report as a member of the public gives it, in form fields (strings)."""

    occurred_at: datetime | None
    area_code: str | None = None
    place: str | None = None
    latitude: str | None = None
    longitude: str | None = None
    description: str | None = None
    over_18: str | None = None  # yes, no, unsure
    emergency: bool = False
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    wants_update: bool = False

    def checked(self) -> tuple[ReportSubmission | None, dict[str, str]]:
        """The report submission, or what is wrong with each form field. The rules across fields
        are said even when a field is wrong too (the schema's own run only once fields are right)."""
        found: dict[str, str] = {}
        submission = None
        try:
            submission = self.submission()
        except ValidationError as error:
            found = errors(error)
        for name, value in (("latitude", self.latitude), ("longitude", self.longitude)):
            if value and _number(value) is None:
                found[name] = f"The {name} must be a number of degrees, like 53.5451"
        if not (self.area_code or self.place or (self.latitude and self.longitude)):
            found.setdefault("place", "Say where you saw them, or choose an area")
        if self.wants_update and not self.email:
            found.setdefault("email", "Enter your email address, so that we can tell you what happened")
        if self.occurred_at is None:
            found["occurred_at"] = "Enter when you saw them"
        return (None if found else submission), found

    def submission(self) -> ReportSubmission:
        """The report submission, or ValidationError (`errors` says it by form field)."""
        latitude, longitude = _number(self.latitude), _number(self.longitude)
        place = {k: v for k, v in {"description": self.place or None, "latitude": latitude,
                                    "longitude": longitude}.items() if v is not None}
        reporter = {k: v for k, v in {"name": self.name or None, "email": self.email or None,
                                       "phone": self.phone or None}.items() if v}
        return ReportSubmission.model_validate({
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
            "details": {"channel": "public", "area_code": self.area_code or None,
                        "over_18": {"yes": True, "no": False}.get(self.over_18 or ""),
                        "emergency": self.emergency, "wants_update": self.wants_update},
            "personal": {"person_description": self.description or None, "place": place or None,
                         "reporter": reporter or None},
        })


# Where each part of a report submission is asked for on the form, and what to say when it is wrong.
_FIELDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("occurred_at",): ("occurred_at", "Enter when you saw them (not in the future)"),
    ("details", "area_code"): ("area_code", "Choose an area from the list"),
    ("personal", "place"): ("place", "Say where you saw them, or choose an area"),
    ("personal", "person_description"): ("description", "Describe them in fewer than 2,000 characters, "
                                                        "without unusual characters"),
    ("personal", "reporter", "name"): ("name", "Enter your name as letters of one alphabet a word"),
    ("personal", "reporter", "email"): ("email", "Enter an email address like name@example.com"),
    ("personal", "reporter", "phone"): ("phone", "Enter a phone number using digits, spaces, +, ( and )"),
}


def errors(error: ValidationError) -> dict[str, str]:
    """Each wrong field of the form, with what to do about it."""
    found: dict[str, str] = {}
    for problem in error.errors():
        loc = tuple(str(part) for part in problem["loc"])
        for prefix, (field, said) in _FIELDS.items():
            if loc[:len(prefix)] == prefix:
                found.setdefault(field, said)
                break
        else:
            # The report's own rule across fields: somewhere is needed.
            found.setdefault("place", "Say where you saw them, or choose an area")
    return found


@dataclass(frozen=True)
class Progress:
    label: str
    colour: str
    said: str
    open: bool


def progress(row: Any) -> Progress:
    """A report's progress as its reporter may see it: nothing about the person or the reporter."""
    if row.outcome:
        return Progress("Closed", "govuk-tag--green", OUTCOME_WORDS.get(row.outcome, "The outreach team has dealt "
                                                                         "with your report."), False)
    if row.first_attempt_at:
        return Progress("Outreach went to look", "govuk-tag--blue",
                        "The outreach team has been to look for the person.", True)
    return Progress("Received", "govuk-tag--grey",
                    "Your report has been passed to the outreach team for the area.", True)


def local(moment: datetime, zone: tzinfo) -> str:
    return f"{moment.astimezone(zone):%-d %B %Y at %H:%M}"
