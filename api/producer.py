"""The one way the API puts events into Kafka: acks=all, idempotent, wait for the ack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError


class NotAccepted(RuntimeError):
    """Kafka did not acknowledge the event; the client may retry with the same idempotency key."""


class EventProducer:
    def __init__(self, bootstrap_servers: str, timeout_s: float, connection: Mapping[str, Any] | None = None) -> None:
        self._timeout_s = timeout_s
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers.split(","),
            **(connection or {}),  # TLS and SASL (Settings.kafka_options)
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            client_id="journeys-api",
        )

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        """Return only once every in-sync replica has the event."""
        try:
            self._producer.send(topic, key=key, value=value).get(timeout=self._timeout_s)
        except KafkaError as error:
            raise NotAccepted(type(error).__name__) from error

    def close(self) -> None:
        self._producer.close(timeout=self._timeout_s)
