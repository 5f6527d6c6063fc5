"""claim-nights and allocate alone, then together through in-memory topics: one claim per person
per night, a provider's beds decided in one order, one picture per provider per batch."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial

from schemas.beds import BedUpdate
from schemas.events import BedOutcome, decode_event
from streams.allocate import allocate
from streams.claim_nights import claim_nights
from tests.unit.handlers.test_beds import capacity, register, request
from tests.unit.streams.batches import Run, sent


def claims() -> Run:
    return Run("bed-requests", partial(claim_nights, bed_commands="bed-commands", bed_requests="bed-requests",
                                       bed_updates="bed-updates", person_events="person-events"))


def beds() -> Run:
    return Run("bed-commands", partial(allocate, bed_requests="bed-requests", bed_updates="bed-updates"))


def as_message(model) -> bytes:
    return model.model_dump_json().encode()


def test_a_second_request_for_the_same_night_is_refused_before_any_provider_sees_it() -> None:
    person = uuid.uuid4()
    key = str(person).encode()
    batch = asyncio.run(claims().batch([(key, as_message(request(person))), (key, as_message(request(person)))]))
    assert len(sent(batch, "bed-commands")) == 1  # one passed on
    refused = [decode_event(value) for _key, value in sent(batch, "person-events")]
    assert [event.type for event in refused] == ["bed.refused"]
    updates = [BedUpdate.model_validate_json(value) for _key, value in sent(batch, "bed-updates")]
    assert [u.outcomes[0].id for u in updates] == [refused[0].id]  # published for the read model


def test_a_request_under_another_persons_key_is_dead_lettered() -> None:
    batch = asyncio.run(claims().batch([(b"someone-else", as_message(request(uuid.uuid4())))]))
    assert batch.outputs and [o.topic for o in batch.outputs] == ["dead-letter"] and batch.kept == set()


def test_requests_flow_through_both_stages_and_the_provider_gives_each_bed_once() -> None:
    people = [uuid.uuid4() for _ in range(3)]
    provider, person_stage = beds(), claims()
    setup = asyncio.run(provider.batch([(b"hub", as_message(register(waitlist=0))), (b"hub", as_message(capacity(2)))]))
    assert len(sent(setup, "bed-updates")) == 1  # one picture per provider per batch
    passed = []
    for person in people:
        claimed = asyncio.run(person_stage.batch([(str(person).encode(), as_message(request(person)))]))
        passed += sent(claimed, "bed-commands")
    decided = asyncio.run(provider.batch(passed))
    outcomes = [BedOutcome.model_validate_json(value) for _key, value in sent(decided, "bed-requests")]
    assert sorted(o.type for o in outcomes) == ["bed.allocated", "bed.allocated", "bed.refused"]
    assert len({o.data.bed for o in outcomes if o.type == "bed.allocated"}) == 2
    picture = BedUpdate.model_validate_json(sent(decided, "bed-updates")[0][1])
    assert len(sent(decided, "bed-updates")) == 1 and len(picture.outcomes) == 3
