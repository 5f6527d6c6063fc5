"""judge-identity: identity-decisions -> intake (both halves of an accepted decision), and every
verdict, accepted or refused, to the read model.

Every decision arrives under one key, so this one stage sees them all in one order: two
concurrent decisions about a record cannot both win, and no merge forms a chain. Its state: the
identity graph (journey/identity.py).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aiokafka.structs import ConsumerRecord
from sqlalchemy import Engine as SQLEngine

from journey.identity import IdentityGraph, both_halves, judge
from schemas.events import IdentityChanged, UndecodableEvent, decode_event, encode_event
from schemas.settings import Settings
from schemas.topics import IDENTITY_DECISIONS, IDENTITY_KEY, INTAKE, changelog
from streams.persist import persist
from streams.projector import record_verdicts
from streams.runtime import Batch, Stage


async def judge_identity(batch: Batch, *, intake: str, read_model: SQLEngine) -> None:
    verdicts: list[tuple[ConsumerRecord, dict[str, Any]]] = []
    for record, decision in batch.decoded(decode_event, UndecodableEvent):
        if record.key != IDENTITY_KEY or not isinstance(decision, IdentityChanged) or decision.subject is None:
            batch.dead_letter(record, "rejected: not an identity decision under the decisions key")
            continue
        graph = batch.load(record.partition, IDENTITY_KEY, IdentityGraph) or IdentityGraph()
        graph, refusal = judge(graph, decision.id, decision.type.removeprefix("identity."), decision.subject,
                               decision.data.other)
        batch.keep(record.partition, IDENTITY_KEY, graph)
        if refusal is None:
            for half in both_halves(decision):
                batch.send(intake, str(half.subject).encode(), encode_event(half))
        verdicts.append((record, {
            "decision_id": str(decision.id), "decision": decision.type.removeprefix("identity."),
            "person_id": str(decision.subject), "other": str(decision.data.other),
            "status": "refused" if refusal else "accepted", "reason": refusal,
            "decided_by": decision.source, "decided_at": decision.time,
        }))
    persist(record_verdicts, read_model, verdicts, batch)


def stage(settings: Settings, read_model: SQLEngine) -> Stage:
    step = partial(judge_identity, intake=settings.topic(INTAKE), read_model=read_model)
    return Stage("judge-identity", settings.topic(IDENTITY_DECISIONS), step, changelog(settings, "judge-identity"))
