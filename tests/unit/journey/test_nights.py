"""Nights run noon to noon in the local zone: one rule for the journey, the beds and the statistics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from journey.nights import night_of, night_starts, nights_between

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(("moment", "night"), [
    # Winter (GMT): local time is UTC.
    ("2026-01-10T05:00:00+00:00", date(2026, 1, 9)),    # the early-morning walk: last night
    ("2026-01-10T11:59:59+00:00", date(2026, 1, 9)),
    ("2026-01-10T12:00:00+00:00", date(2026, 1, 10)),
    ("2026-01-10T00:30:00+00:00", date(2026, 1, 9)),
    # Summer (BST, UTC+1): 11:30Z is 12:30 local, already the new night.
    ("2026-07-10T11:30:00+00:00", date(2026, 7, 10)),
    ("2026-07-10T10:59:59+00:00", date(2026, 7, 9)),
    ("2026-07-10T12:00:00+01:00", date(2026, 7, 10)),
    # One instant, two offsets, one night.
    ("2026-07-01T23:30:00+01:00", date(2026, 7, 1)),
    ("2026-07-01T22:30:00+00:00", date(2026, 7, 1)),
    ("2026-07-02T00:30:00+01:00", date(2026, 7, 1)),
    ("2026-07-01T23:30:00+00:00", date(2026, 7, 1)),
    # The clocks go forward at 01:00Z on 29 March 2026 and back at 01:00Z on 25 October 2026.
    ("2026-03-29T00:59:59+00:00", date(2026, 3, 28)),
    ("2026-03-29T01:00:00+00:00", date(2026, 3, 28)),
    ("2026-03-29T10:59:59+00:00", date(2026, 3, 28)),
    ("2026-03-29T11:00:00+00:00", date(2026, 3, 29)),   # noon BST
    ("2026-10-25T00:30:00+00:00", date(2026, 10, 24)),  # 01:30 BST, the first time round
    ("2026-10-25T01:30:00+00:00", date(2026, 10, 24)),  # 01:30 GMT, the second time round
    ("2026-10-25T12:00:00+00:00", date(2026, 10, 25)),
    # The last day of a month and of a year.
    ("2026-11-30T23:59:00+00:00", date(2026, 11, 30)),
    ("2026-12-01T00:30:00+00:00", date(2026, 11, 30)),
    ("2027-01-01T00:30:00+00:00", date(2026, 12, 31)),
])
def test_a_moment_belongs_to_the_night_that_began_at_the_last_local_noon(moment: str, night: date) -> None:
    assert night_of(datetime.fromisoformat(moment), LONDON) == night


def test_a_night_begins_at_local_noon_even_on_the_nights_the_clocks_change() -> None:
    for night in (date(2026, 3, 28), date(2026, 3, 29), date(2026, 10, 24), date(2026, 10, 25)):
        starts = night_starts(night, LONDON)
        assert (starts.astimezone(LONDON).hour, night_of(starts, LONDON)) == (12, night)
        assert night_of(starts - timedelta(microseconds=1), LONDON) == night - timedelta(days=1)
    # The night the clocks go forward is 23 hours long; the night they go back, 25. (In UTC:
    # Python subtracts two times of one zone by their wall clocks.)
    def hours(night: date) -> timedelta:
        return night_starts(night + timedelta(days=1), LONDON).astimezone(UTC) - night_starts(night, LONDON)

    assert (hours(date(2026, 3, 28)), hours(date(2026, 10, 24))) == (timedelta(hours=23), timedelta(hours=25))


def test_nights_between_counts_nights_not_24_hour_spans() -> None:
    evening = datetime(2026, 1, 9, 23, tzinfo=UTC)
    assert nights_between(evening, evening + timedelta(hours=6), LONDON) == 0  # the morning after
    assert nights_between(evening, evening + timedelta(hours=14), LONDON) == 1  # the next afternoon


def test_a_moment_without_an_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="without a UTC offset"):
        night_of(datetime(2026, 1, 10, 5), LONDON)
