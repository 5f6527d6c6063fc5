"""The public form's allowance per address (api/public.Allowance), on the rate-limit library the
API's keys use, with its clock moved by hand."""

from __future__ import annotations

import time

from api.public import Allowance


def test_an_address_may_send_its_allowance_in_an_hour_and_is_told_when_it_may_send_again() -> None:
    allowance = Allowance(3, minutes=60)
    try:
        now = time.time()
        assert allowance.minutes_to_wait("192.0.2.1", now) == 0
        assert allowance.minutes_to_wait("192.0.2.1", now) == 0, "asking counts nothing: only a report sent"
        for _ in range(3):
            assert allowance.minutes_to_wait("192.0.2.1", now) == 0
            allowance.count("192.0.2.1")
        wait = allowance.minutes_to_wait("192.0.2.1", now)
        assert 59 <= wait <= 61  # the first of the three leaves the window an hour after it was sent
        assert allowance.minutes_to_wait("192.0.2.2", now) == 0  # another address has its own
    finally:
        allowance.close()


def test_no_allowance_means_no_limit() -> None:
    allowance = Allowance(0)
    for _ in range(100):
        allowance.count("192.0.2.1")
    assert allowance.minutes_to_wait("192.0.2.1", time.time()) == 0


def test_the_giving_scheme_is_offered_only_when_one_is_set() -> None:
    from api.routes.pages import giving
    from schemas.settings import Settings

    assert giving(Settings()) is None
    offered = giving(Settings(giving_scheme_name="Real Change Town", giving_scheme_url="https://example.org/give"))
    assert offered is not None and offered["name"] == "Real Change Town" and offered["url"] == "https://example.org/give"
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError):
        Settings(giving_scheme_url="http://example.org/give")  # https only

