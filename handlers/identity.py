"""Identity decisions on the journey: merged, absorbed, undone, linked, split.

A merge never rewrites either record: the merged record points at the one it joined and the
surviving record lists it, so an undo restores both exactly and the views combine them.
"""

from __future__ import annotations

from uuid import UUID

from journey.state import Journey
from schemas.events import IdentityChanged


def _without(ids: tuple[UUID, ...], other: UUID) -> tuple[UUID, ...]:
    return tuple(i for i in ids if i != other)


def _with(ids: tuple[UUID, ...], other: UUID) -> tuple[UUID, ...]:
    return ids if other in ids else (*ids, other)


def identity_changed(journey: Journey, event: IdentityChanged) -> tuple[Journey, str]:
    other, step = event.data.other, event.type.split(".", 1)[1]
    short = str(other)[:8]
    if step == "merged":
        changed = journey.model_copy(update={"merged_into": other})
        said = f"Merged into person {short}"
    elif step == "absorbed":
        changed = journey.model_copy(update={"merged": _with(journey.merged, other)})
        said = f"Person {short} merged into this record"
    elif step == "merge_undone":
        changed = journey.model_copy(update={
            "merged_into": None if journey.merged_into == other else journey.merged_into,
            "merged": _without(journey.merged, other),
        })
        said = f"Merge with person {short} undone"
    elif step == "linked":
        changed = journey.model_copy(update={"linked": _with(journey.linked, other)})
        said = f"Linked with person {short}: the same person, records kept apart"
    else:
        changed = journey.model_copy(update={
            "merged_into": None if journey.merged_into == other else journey.merged_into,
            "merged": _without(journey.merged, other),
            "linked": _without(journey.linked, other),
            "not_same_as": _with(journey.not_same_as, other),
        })
        said = f"Split from person {short}: two different people"
    return changed, said
