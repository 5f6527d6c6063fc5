"""The one way the API puts messages into Kafka: acks=all, idempotent, answered only once Kafka
acknowledged, and sent once per client token (api/claims.py).

The producer is aiokafka's, in the API's event loop: a submission waits for its acknowledgement
without holding a thread, and the sends of the submissions in flight go to the broker together.
A route that runs in a thread (a page's form, a bed command) sends with `from_thread`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from anyio import from_thread
from sqlalchemy import Engine

from api.claims import Claims


class NotAccepted(RuntimeError):
    """Kafka did not acknowledge the event; the client may retry with the same idempotency key."""


class EventProducer:
    def __init__(self, bootstrap_servers: str, timeout_s: float, engine: Engine,
                 connection: Mapping[str, Any] | None = None) -> None:
        self._timeout_s = timeout_s
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers.split(","),
            **(connection or {}),  # TLS and SASL (Settings.kafka_options(for_asyncio=True))
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            request_timeout_ms=int(timeout_s * 1000),
            client_id="journeys-api",
        )
        self.claims = Claims(engine)

    async def start(self) -> None:
        await self._producer.start()

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        """Return only once every in-sync replica has the message."""
        try:
            await asyncio.wait_for(self._producer.send_and_wait(topic, value, key=key), self._timeout_s)
        except (KafkaError, TimeoutError) as error:
            raise NotAccepted(type(error).__name__) from error

    async def send_once(self, topic: str, key: bytes, value: bytes, *, message_id: UUID,
                        once: tuple[str, str] | None, body_sha256: str, now: datetime) -> UUID | None:
        """Put a message in Kafka, once per `once` (scope, token) if given: a retry of a send Kafka
        acknowledged sends nothing and gets the first message's id back; a retry of one it did not
        is sent again under the same id (downstream keeps one); the same token with another body
        is refused (api.claims.IdempotencyConflict). None when this call sent it."""
        if once is not None:
            claimed = self.claims.claim(*once, message_id, body_sha256, now)
            earlier = await asyncio.wait_for(asyncio.wrap_future(claimed), self._timeout_s)
            if earlier is not None:
                return earlier
        await self.publish(topic, key, value)
        if once is not None:
            self.claims.acknowledged(*once)
        return None

    def send_once_from_thread(self, topic: str, key: bytes, value: bytes, **once: Any) -> UUID | None:
        """`send_once` for a route that runs in a worker thread."""
        return from_thread.run(partial(self.send_once, topic, key, value, **once))

    async def stop(self) -> None:
        await self._producer.stop()
        self.claims.close()
