"""follow alone, on in-memory batches: a person's history kept once per event, in event-time
order, its updates sent, its read-model write asked for (made by the runtime, not here)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from functools import partial
from zoneinfo import ZoneInfo

from journey.history import History
from journey.statistics import Rules
from schemas.events import encode_event
from streams.follow import Wake, follow
from tests.events import T0, contact
from tests.unit.streams.batches import Run, sent


class NoDatabase:
    """The read model is never touched by a step: its write is handed to the runtime."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"the step used the read model ({name})")


def run() -> Run:
    wake = Wake(asyncio.Event(), asyncio.Event())
    return Run("person-events", partial(follow, journey_updates="journey-updates", zone=ZoneInfo("Europe/London"),
                                        refold_window=timedelta(days=28), read_model=NoDatabase(), wake=wake,
                                        rules=Rules(zone=ZoneInfo("Europe/London"))))


def test_each_event_is_kept_once_in_event_time_order_and_announced() -> None:
    person = uuid.uuid4()
    key = str(person).encode()
    stage = run()
    later, earlier = contact(person, T0 + timedelta(days=2)), contact(person, T0)
    first = asyncio.run(stage.batch([(key, encode_event(later))]))
    assert len(sent(first, "journey-updates")) == 1 and len(first.writes) == 1  # one write per batch

    second = asyncio.run(stage.batch([(key, encode_event(earlier)), (key, encode_event(later))]))
    history = History.model_validate_json(stage.stage.store[0].states[key])
    assert [recent.id for recent in history.recent] == [str(earlier.id), str(later.id)]  # in event time, once each
    updates = [json.loads(value) for _key, value in sent(second, "journey-updates")]
    assert updates and all(update["event"]["subject"] == str(person) for update in updates)


def test_an_event_the_journey_cannot_take_is_dead_lettered_with_the_reason() -> None:
    stage = run()
    event = contact(uuid.uuid4(), T0)
    batch = asyncio.run(stage.batch([(b"not-the-person", encode_event(event.model_copy(update={"subject": None})))]))
    assert [why.split(":")[0] for _record, why in batch.dead] == ["rejected"]
    assert sent(batch, "journey-updates") == [] and batch.writes == []
