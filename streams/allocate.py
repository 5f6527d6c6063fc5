"""allocate: bed-commands (by provider) -> bed-requests (outcomes, to each person's claims) and
bed-updates (the provider's picture of the nights that changed).

The only writer of a provider's beds: every command for a provider (requests passed on by
claim-nights, check-ins, check-outs, no-shows, withdrawals, capacity) is decided here, in one
order, by handlers/beds.decide. Its state, by provider: the provider's beds (journey/beds.py).
Every output reaches Kafka before the state does (streams/runtime/engine.py): a crash in between
redelivers the batch, decided again from the state before it, giving the same outputs with the
same ids (they derive from the commands), and downstream keeps each once.
"""

from __future__ import annotations

from datetime import date
from functools import partial

from handlers.beds import decide
from journey.beds import ProviderBeds, picture
from schemas.beds import BedUpdate, CommandRefused, decode_command
from schemas.events import BedOutcome, UndecodableEvent
from schemas.settings import Settings
from schemas.topics import BED_COMMANDS, BED_REQUESTS, BED_UPDATES, changelog
from streams.runtime import Batch, Stage


async def allocate(batch: Batch, *, bed_requests: str, bed_updates: str) -> None:
    # A provider's state is decoded and written once per batch, not once per command: under
    # contention most of a batch is for the same few providers.
    touched: dict[tuple[int, bytes], tuple[set[date], list[BedOutcome], list[CommandRefused]]] = {}
    for record, command in batch.decoded(decode_command, UndecodableEvent):
        if record.key != command.provider_id.encode():
            batch.dead_letter(record, "rejected: key is not the provider id")
            continue
        decision = decide(batch.load(record.partition, record.key, ProviderBeds), command)
        if decision is None:
            continue  # redelivered: already decided
        batch.keep(record.partition, record.key, decision.state)
        nights, outcomes, refused = touched.setdefault((record.partition, record.key), (set(), [], []))
        nights.update(decision.nights)
        outcomes.extend(decision.outcomes)
        refused.extend(decision.refused)
        for outcome in decision.outcomes:
            batch.send(bed_requests, str(outcome.subject).encode(), outcome.model_dump_json().encode())
    # One picture per provider per batch, whatever the number of commands in it.
    for (partition, key), (nights, outcomes, refused) in touched.items():
        state = batch.load(partition, key, ProviderBeds)
        assert state is not None  # decided in this batch
        update = BedUpdate(
            provider_id=state.provider_id, sequence=state.sequence, provider=state.provider,
            capacity=state.capacity, nights=tuple(picture(state, n) for n in sorted(nights)),
            outcomes=tuple(outcomes), refused=tuple(refused),
        )
        batch.send(bed_updates, key, update.model_dump_json().encode())


def stage(settings: Settings) -> Stage:
    step = partial(allocate, bed_requests=settings.topic(BED_REQUESTS), bed_updates=settings.topic(BED_UPDATES))
    return Stage("allocate", settings.topic(BED_COMMANDS), step, changelog(settings, "allocate"))
