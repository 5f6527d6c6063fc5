"""identify alone, on in-memory batches: who an event is about, where a merged record's events
go, and a report's routing."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial

from journey.identity import provisional_person_id
from journey.reports import Routing
from schemas.beds import RecordMerged
from schemas.events import decode_event, encode_event
from schemas.ids import routed_id
from streams.identify import identify
from tests.events import T0, contact, identity, report
from tests.unit.streams.batches import Run, sent

ROUTING = Routing(teams={"TC-MARKET": "Town centre outreach", "*": "Outreach"}, response_hours={"*": 24.0})


def run() -> Run:
    return Run("intake", partial(identify, person_events="person-events", bed_requests="bed-requests",
                                 routing=ROUTING))


def test_a_report_about_nobody_known_makes_a_provisional_person_and_is_routed_to_its_areas_team() -> None:
    seen = report(None, T0)
    batch = asyncio.run(run().batch([(str(seen.id).encode(), encode_event(seen))]))
    person = provisional_person_id(seen.id)
    out = [(key, decode_event(value)) for key, value in sent(batch, "person-events")]
    assert [(key, event.type, event.subject) for key, event in out] == [
        (str(person).encode(), "report.received", person), (str(person).encode(), "report.routed", person)]
    routing = out[1][1]
    assert routing.id == routed_id(seen.id) and routing.data.team == "Town centre outreach"
    assert routing.data.due_by == T0 + ROUTING.target_for("TC-MARKET")


def test_after_a_merge_the_merged_records_events_go_to_the_kept_record_and_the_beds_are_told() -> None:
    merged, kept = uuid.uuid4(), uuid.uuid4()
    stage = run()
    decision = identity(merged, kept, "merged")
    first = asyncio.run(stage.batch([(str(merged).encode(), encode_event(decision))]))
    told = [RecordMerged.model_validate_json(value) for _key, value in sent(first, "bed-requests")]
    assert [(t.type, t.person_id, t.into) for t in told] == [("person.merged", merged, kept)]
    assert [decode_event(value).subject for _key, value in sent(first, "person-events")] == [merged]  # stays

    later = contact(merged, T0)
    second = asyncio.run(stage.batch([(str(merged).encode(), encode_event(later))]))
    assert [(key, decode_event(value).subject) for key, value in sent(second, "person-events")] == [
        (str(kept).encode(), kept)]

    undone = identity(merged, kept, "merge_undone")
    asyncio.run(stage.batch([(str(merged).encode(), encode_event(undone))]))
    third = asyncio.run(stage.batch([(str(merged).encode(), encode_event(contact(merged, T0)))]))
    assert [decode_event(value).subject for _key, value in sent(third, "person-events")] == [merged]


def test_what_does_not_decode_is_dead_lettered_and_sends_nothing_else() -> None:
    batch = asyncio.run(run().batch([(b"k", b'{"type": "nothing.we.know"}')]))
    assert [output.topic for output in batch.outputs] == ["dead-letter"]
    assert batch.dead[0][1].startswith("undecodable")
