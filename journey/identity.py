"""Who an event is about: the identity step that runs before the journey.

A sighting of someone nobody has named yet still starts a journey: the person is provisional,
with an id derived from the first event about them, so that replaying the same events gives
the same person. Matching provisional people to known ones is a human decision built on top.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict

from journey.state import Journey
from schemas.events import IdentityChanged
from schemas.ids import other_half_id, provisional_person_id


def resolve_person(subject: UUID | None, event_id: UUID) -> UUID:
    """The person an event is about: the one named, or a new provisional person."""
    return subject if subject is not None else provisional_person_id(event_id)


class Alias(BaseModel):
    """What the identity step keeps per person id: the record it was merged into, if any."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    merged_into: UUID | None = None


def alias_after(alias: Alias | None, event_type: str, other: UUID) -> Alias | None:
    """The alias of the event's subject after an identity decision about it."""
    current = alias.merged_into if alias else None
    if event_type == "identity.merged":
        return Alias(merged_into=other)
    if event_type in ("identity.merge_undone", "identity.split") and current == other:
        return None
    return alias


def combined(primary: Journey, others: list[Journey]) -> Journey:
    """One view of a person whose other records were merged into this one. The stage, case and
    strands are the surviving record's; counts, nights and reports cover every record."""
    if not others:
        return primary
    everyone = [primary, *others]
    firsts = [j.first_seen for j in everyone if j.first_seen]
    lasts = [j.last_seen for j in everyone if j.last_seen]
    contacts = [j.last_contact for j in everyone if j.last_contact]
    return primary.model_copy(update={
        "first_seen": min(firsts, default=None),
        "last_seen": max(lasts, default=None),
        "last_contact": max(contacts, default=None),
        "reports": sum(j.reports for j in everyone),
        "contacts": sum(j.contacts for j in everyone),
        "provisional": all(j.provisional for j in everyone),
        "rough_sleeping_nights": tuple(sorted({n for j in everyone for n in j.rough_sleeping_nights})),
        "emergency_bed_nights": tuple(sorted({n for j in everyone for n in j.emergency_bed_nights})),
        "open_reports": tuple(r for j in everyone for r in j.open_reports),
        # Whoever works with any of the records works with the person; consents given to any hold.
        "relationships": tuple(r for j in everyone for r in j.relationships),
        "consents": tuple(c for j in everyone for c in j.consents),
    })


class IdentityGraph(BaseModel):
    """Every identity decision's effect, as the one stage that judges decisions keeps it: which
    record is merged into which, which pairs were split apart, and each decision's verdict (so a
    redelivered decision gets the same one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    merged_into: dict[UUID, UUID] = {}
    split: tuple[tuple[UUID, UUID], ...] = ()
    verdicts: dict[UUID, str | None] = {}  # decision id -> the refusal's reason, None when accepted


def _pair(a: UUID, b: UUID) -> tuple[UUID, UUID]:
    return (a, b) if str(a) < str(b) else (b, a)


def judge(graph: IdentityGraph, decision_id: UUID, what: str, record: UUID,
          other: UUID) -> tuple[IdentityGraph, str | None]:
    """Accept or refuse one decision against every decision before it: the graph after it, and
    the reason for a refusal (None when accepted). Judged one at a time by one owner, two
    concurrent decisions cannot both win, and merges never form a chain or a cycle."""
    if decision_id in graph.verdicts:
        return graph, graph.verdicts[decision_id]
    merged, split = dict(graph.merged_into), set(graph.split)
    reason = None
    if what == "merged":
        absorbed = sorted(str(r) for r, into in merged.items() if into == record)
        if record in merged:
            reason = f"person_id was already merged into {merged[record]}"
        elif other in merged:
            reason = f"other was itself merged into {merged[other]}: merge into that record"
        elif absorbed:
            reason = f"person_id has records merged into it ({', '.join(absorbed)}): merge other into it instead"
        elif _pair(record, other) in split:
            reason = "these records were split as two different people; link or merge needs the split undone"
        else:
            merged[record] = other
    elif what == "merge_undone":
        if merged.get(record) != other:
            reason = "person_id is not merged into other"
        else:
            del merged[record]
    elif what == "linked":
        if _pair(record, other) in split:
            reason = "these records were split as two different people"
    elif what == "split":
        for a, b in ((record, other), (other, record)):
            if merged.get(a) == b:
                del merged[a]
        split.add(_pair(record, other))
    else:
        reason = f"unknown decision {what!r}"
    judged = IdentityGraph(merged_into=merged, split=tuple(sorted(split, key=str)),
                           verdicts={**graph.verdicts, decision_id: reason})
    return judged, reason


# The event the other record of a decision receives.
OTHER_HALF = {
    "identity.merged": "identity.absorbed", "identity.merge_undone": "identity.merge_undone",
    "identity.linked": "identity.linked", "identity.split": "identity.split",
}


def both_halves(decision: IdentityChanged) -> tuple[IdentityChanged, IdentityChanged]:
    """A decision is about two records: one event on each record's journey. The second's id
    derives from the decision's, so a decision sent again gives the same two events."""
    assert decision.subject is not None
    other_half = decision.model_copy(update={
        "id": other_half_id(decision.id),
        "type": OTHER_HALF[decision.type],
        "subject": decision.data.other,
        "data": decision.data.model_copy(update={"other": decision.subject}),
    })
    return decision, other_half
