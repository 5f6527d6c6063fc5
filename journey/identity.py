"""Who an event is about: the identity step that runs before the journey.

A sighting of someone nobody has named yet still starts a journey: the person is provisional,
with an id derived from the first event about them, so that replaying the same events gives
the same person. Matching provisional people to known ones is a human decision built on top.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict

from journey.state import Journey

PROVISIONAL_PERSON = UUID("6f1d8a3e-2c4b-5e7f-9a0b-1c2d3e4f5a6b")


def provisional_person_id(first_event_id: UUID) -> UUID:
    """The id of the person first described by this event."""
    return uuid5(PROVISIONAL_PERSON, str(first_event_id))


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
    })
