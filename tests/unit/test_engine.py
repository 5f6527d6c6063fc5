"""A timer's send from outside a batch, when the engine stops under it: it must give way
(EngineStopped), not wait for ever for an acknowledgement a stopped producer will never give.
The producer here is a stand-in that never acknowledges: the coordination is what is tested."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.engine import Engine, EngineStopped
from streams.faults import Faults


class NeverAcknowledges:
    """A producer whose sends are taken and never acknowledged (as one that was stopped)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[None]:
        self.sent.append((topic, value))
        return asyncio.get_running_loop().create_future()


def engine() -> Engine:
    return Engine(bootstrap="127.0.0.1:9", group="g", stages=[], dead_letter_topic="dead", batch_size=1,
                  fetch_wait_ms=1, session_timeout_s=10, instance_id=None, faults=Faults(None), linger_ms=0)


def test_a_send_under_way_gives_way_when_the_engine_stops() -> None:
    async def run() -> None:
        stream, producer = engine(), NeverAcknowledges()
        stream.producer, stream.running = producer, True  # type: ignore[assignment]
        sending = asyncio.create_task(stream.send_all("audit", [(b"k", b"v")]))
        await asyncio.sleep(0.05)
        assert not sending.done() and producer.sent == [("audit", b"v")]  # waiting for Kafka
        stream.stopping.set()
        with pytest.raises(EngineStopped):
            await asyncio.wait_for(sending, 1)

    asyncio.run(run())


def test_a_send_after_the_engine_stopped_is_refused_at_once() -> None:
    async def run() -> None:
        stream = engine()
        stream.producer = NeverAcknowledges()  # type: ignore[assignment]
        with pytest.raises(EngineStopped):
            await stream.send_all("audit", [(b"k", b"v")])
        assert stream.producer.sent == []  # type: ignore[attr-defined]

    asyncio.run(run())
