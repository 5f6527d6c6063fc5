"""Pushing journey updates to partners: what a subscription wants, what an HTTP answer means,
and when to try again. Pure rules; streams/delivery/ does the sending.

The shape follows Standard Webhooks (https://www.standardwebhooks.com): at-least-once delivery,
each delivery under one `webhook-id` however often it is tried, so that a receiver can drop a
repeat; retries with exponential backoff and jitter for more than a day.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

# After the first try fails: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (27 h 35 min in all), so
# that a partner whose endpoint is down over a night and a day still gets everything.
RETRY_AFTER: tuple[timedelta, ...] = (
    timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=5), timedelta(hours=10), timedelta(hours=10),
)
# Up to a fifth more, at random: receivers coming back from an outage are not hit all at once.
JITTER = 0.2


def next_try(failed_attempts: int, now: datetime, rand: Callable[[], float] = random.random) -> datetime | None:
    """When to try again after `failed_attempts` failed tries; None once the schedule is spent."""
    if failed_attempts < 1 or failed_attempts > len(RETRY_AFTER):
        return None
    wait = RETRY_AFTER[failed_attempts - 1]
    return now + wait * (1 + JITTER * rand())


class Answer(StrEnum):
    """What an attempt's answer means for the delivery."""

    DELIVERED = "delivered"
    RETRY = "retry"  # network error, timeout, 408, 429, 5xx: try again later
    FAILED = "failed"  # any other answer: the receiver refused this delivery; logged, not retried
    GONE = "gone"  # 410: the receiver wants no more; the subscription is disabled


def judge(status: int | None) -> Answer:
    """`status` None: no HTTP answer (refused, reset, timed out)."""
    if status is None or status in (408, 429) or status >= 500:
        return Answer.RETRY
    if 200 <= status < 300:
        return Answer.DELIVERED
    if status == 410:
        return Answer.GONE
    return Answer.FAILED


class Scope(StrEnum):
    """Whose updates a subscription wants; the policy still decides what each one shows."""

    RELATED = "related"  # the people the organisation works with now (the default)
    ALL = "all"  # everyone the organisation's type may see anything of


@dataclass(frozen=True, slots=True)
class Wanted:
    """A subscription's filter. Empty sets want everything."""

    families: frozenset[str] = field(default_factory=frozenset)  # "report", "contact", "bed", ...
    stages: frozenset[str] = field(default_factory=frozenset)
    areas: frozenset[str] = field(default_factory=frozenset)
    scope: Scope = Scope.RELATED


def family(event_type: str) -> str:
    return event_type.split(".", 1)[0]


def wants(wanted: Wanted, *, event_type: str, stage: str, area: str | None) -> bool:
    """Whether the update is of a kind the subscription asked for (before the policy)."""
    return ((not wanted.families or family(event_type) in wanted.families)
            and (not wanted.stages or stage in wanted.stages)
            and (not wanted.areas or area in wanted.areas))




def area_of(data: dict[str, Any]) -> str | None:
    area = data.get("area_code")
    return area if isinstance(area, str) else None


@dataclass(frozen=True, slots=True)
class Update:
    """What pushing (webhooks, the live stream) reads of a journey update: ids and kinds, nothing
    personal. What is shown of it is asked of the policy when it is pushed."""

    person_id: str
    event_id: str
    event_type: str
    sequence: int
    stage: str
    area: str | None
    refolded: bool
    report_id: str | None = None  # a report's steps: which report


def update_of(entry: Any, event: Any, refolded: bool) -> Update:
    """The Update of an applied event, from the journey stage's own objects (its TimelineEntry
    and Event): what `read_update` reads of the journey update published for it."""
    report = getattr(event.data, "report_id", None)
    area = getattr(event.data, "area_code", None)
    return Update(person_id=str(entry.person_id), event_id=str(entry.event_id), event_type=entry.type,
                  sequence=entry.sequence, stage=entry.stage.value, area=area if isinstance(area, str) else None,
                  refolded=refolded, report_id=str(report) if report is not None else None)


def read_update(value: bytes) -> Update:
    update = json.loads(value)
    entry = update["entry"]
    data = update.get("event", {}).get("data") or {}
    report = data.get("report_id")
    return Update(person_id=entry["person_id"], event_id=entry["event_id"], event_type=entry["type"],
                  sequence=int(entry["sequence"]), stage=entry["stage"], area=area_of(data),
                  refolded=bool(update.get("refolded")), report_id=report if isinstance(report, str) else None)


def cloud_event(*, delivery: str, event_type: str, person_id: str, occurred_at: str,
                data: dict[str, Any]) -> dict[str, Any]:
    """A CloudEvents 1.0 JSON event (https://cloudevents.io): the envelope partners' tools know."""
    return {
        "specversion": "1.0",
        "id": delivery,
        "source": "/journeys",
        "type": f"uk.journeys.{event_type}",
        "subject": person_id,
        "time": occurred_at,
        "datacontenttype": "application/json",
        "data": data,
    }



def update_event(*, event_id: str, event_type: str, person_id: str, refolded: bool, disclosed: dict[str, Any],
                 now: datetime) -> dict[str, Any]:
    """A pushed update as a CloudEvent: `disclosed` is what the policy let the receiver see."""
    occurred = (disclosed.get("entry") or {}).get("occurred_at") or now.isoformat()
    return cloud_event(delivery=event_id, event_type=event_type, person_id=person_id, occurred_at=occurred,
                       data={**disclosed, "refolded": refolded})
