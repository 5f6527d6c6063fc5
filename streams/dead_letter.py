"""Sends a message the worker cannot apply to the dead-letter topic, and keeps going."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from schemas.events import UndecodableEvent
from schemas.updates import DeadLetter

log = logging.getLogger("journeys.dead_letter")


async def dead_letter(topic: Any, message: Any, reason: str) -> None:
    """Keep the whole message with the reason; log where it came from, never what it said."""
    letter = DeadLetter(
        reason=reason,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key.decode(errors="replace") if message.key else None,
        payload=message.value or b"",
    )
    await topic.send(key=message.key, value=letter.model_dump_json().encode())
    log.warning(
        "dead-lettered topic=%s partition=%d offset=%d reason=%s",
        message.topic,
        message.partition,
        message.offset,
        reason,
    )


async def decoded(events: Iterable[Any], decode: Callable[[bytes], Any], topic: Any) -> AsyncIterator[tuple[Any, Any]]:
    """Each event of a batch with its decoded value; those that do not decode go to `topic`."""
    for event in events:
        try:
            value = decode(event.value)
        except UndecodableEvent as error:
            await dead_letter(topic, event.message, f"undecodable: {error}")
            continue
        yield event, value
