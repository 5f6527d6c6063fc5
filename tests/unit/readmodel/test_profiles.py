"""A profile grows the same whatever order its events arrive in (phones go offline)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from readmodel.profiles import grown

NOON = datetime(2026, 3, 4, 12, tzinfo=UTC)

said = st.tuples(
    st.fixed_dictionaries({}, optional={
        "known_as": st.sampled_from(["Dave", "Davey Smith", "Kel"]),
        "aliases": st.lists(st.sampled_from(["Smithy", "D"]), max_size=2).map(tuple),
        "date_of_birth": st.sampled_from(["1980-01-01", "1981-04-05", "1979-12-31"]),
        "person_description": st.sampled_from(["red coat", "grey beard, red hat"]),
    }),
    st.sampled_from([None, "TC-MARKET", "TC-STATION"]),
    st.integers(0, 5).map(lambda hours: NOON + timedelta(hours=hours)),
)


@given(st.lists(said, max_size=8), st.randoms())
def test_the_same_events_in_any_order_make_the_same_profile(events: list[Any], rng: Any) -> None:
    shuffled = list(events)
    rng.shuffle(shuffled)
    def fold(items: list[Any]) -> dict[str, Any]:
        return reduce(lambda profile, e: grown(profile, *e), items, {})
    assert fold(shuffled) == fold(events)
    assert fold(events + events) == fold(events)  # a redelivered event changes nothing
