"""Who an event is about: the identity step that runs before the journey.

A sighting of someone nobody has named yet still starts a journey: the person is provisional,
with an id derived from the first event about them, so that replaying the same events gives
the same person. Matching provisional people to known ones is a human decision built on top.
"""

from __future__ import annotations

from uuid import UUID, uuid5

PROVISIONAL_PERSON = UUID("6f1d8a3e-2c4b-5e7f-9a0b-1c2d3e4f5a6b")


def provisional_person_id(first_event_id: UUID) -> UUID:
    """The id of the person first described by this event."""
    return uuid5(PROVISIONAL_PERSON, str(first_event_id))


def resolve_person(subject: UUID | None, event_id: UUID) -> UUID:
    """The person an event is about: the one named, or a new provisional person."""
    return subject if subject is not None else provisional_person_id(event_id)
