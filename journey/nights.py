"""Nights, noon to noon in the local time zone: the one rule by which the journey, the beds and
the statistics count.

Outreach teams count the people they find on early-morning walks against the night before, and a
bed is booked for a night, not a date. So a moment belongs to the night that began at the most
recent local noon: 05:00 on the 10th is the night of the 9th, 13:00 on the 10th the night of the
10th. Local, not the offset a client happened to write: 23:30+01:00 and 22:30Z are one instant
and one night.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

NIGHT_STARTS = time(12)


def night_of(moment: datetime, zone: tzinfo) -> date:
    """The night a moment belongs to, in `zone`."""
    if moment.tzinfo is None:
        # A moment without an offset could be any of 24 nights' worth of instants: refuse it.
        raise ValueError("a moment without a UTC offset belongs to no night")
    local = moment.astimezone(zone)
    return local.date() if local.time() >= NIGHT_STARTS else local.date() - timedelta(days=1)


def night_starts(night: date, zone: tzinfo) -> datetime:
    """The moment a night begins: local noon on its date (an hour after a DST change is still noon)."""
    return datetime.combine(night, NIGHT_STARTS, tzinfo=zone)


def nights_between(earlier: datetime, later: datetime, zone: tzinfo) -> int:
    """How many nights separate two moments: 0 on the same night, 1 on the next."""
    return (night_of(later, zone) - night_of(earlier, zone)).days
