"""The live stream's fan-out: a slow client is dropped without holding up the others; a client
that reconnects gets what it missed, or a reset when that is no longer kept."""

from __future__ import annotations

import asyncio

from api.stream import Fanout, parse_cursor
from journey.delivery import Update


def _update(n: int) -> Update:
    return Update(person_id=f"p{n % 3}", event_id=f"e{n}", event_type="contact.recorded", sequence=n,
                  stage="contacted", area=None, refolded=False)


def test_a_slow_client_is_dropped_and_the_others_get_everything() -> None:
    async def run() -> None:
        fanout = Fanout(partitions=2, keep=100, client_limit=5)
        slow, quick = fanout.join(None), fanout.join(None)
        got = []
        for n in range(20):
            fanout.publish(n % 2, n // 2, _update(n))
            while not quick.queue.empty():
                got.append(quick.queue.get_nowait().update.sequence)
        assert slow.dropped.is_set() and slow not in fanout.clients
        assert not quick.dropped.is_set() and got == list(range(20))

    asyncio.run(run())


def test_a_client_resumes_from_its_cursor_or_is_told_to_reset() -> None:
    async def run() -> None:
        fanout = Fanout(partitions=2, keep=6, client_limit=50)
        cursors = []
        for n in range(10):
            fanout.publish(n % 2, n // 2, _update(n))
            cursors.append(fanout.recent[-1].cursor)
        assert cursors[-1] == "5.5"
        resumed = fanout.join(parse_cursor(cursors[6], 2))
        assert not resumed.reset
        assert [resumed.queue.get_nowait().update.sequence for _ in range(resumed.queue.qsize())] == [7, 8, 9]
        behind = fanout.join(parse_cursor(cursors[1], 2))  # updates 2 and 3 are no longer kept
        assert behind.reset and behind.queue.empty()

    asyncio.run(run())


def test_a_cursor_that_is_not_ours_is_ignored() -> None:
    assert parse_cursor("1.2", 2) == {0: 1, 1: 2}
    assert parse_cursor("1.2.3", 2) is None
    assert parse_cursor("a.b", 2) is None
    assert parse_cursor(None, 2) is None
