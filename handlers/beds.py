"""Deciding bed requests. Pure: (state, command) -> (state, outcomes); no I/O, no clock.

Two agents share the work so that neither can overbook:
- a provider's agent owns that provider's beds and is the only one that allocates them;
- a person's agent owns that person's nights and lets at most one request per night through to
  any provider, so nobody ends up with two beds on one night.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from journey.beds import (
    REMEMBERED_COMMANDS,
    Night,
    PersonNights,
    ProviderBeds,
    Stay,
    Waiting,
    capacity_of,
    free_bed,
    recent_nights,
)
from schemas.beds import (
    BedCommand,
    BedRequested,
    CapacityChange,
    CapacityChanged,
    CapacityWindow,
    Claim,
    ClaimStatus,
    CommandRefused,
    NightsJoined,
    ProviderCommand,
    ProviderInfo,
    ProviderRegistered,
    RecordMerged,
    StayCommand,
)
from schemas.events import BedOutcome, BedOutcomeDetails, BedOutcomeType, BedType
from schemas.ids import bed_outcome_id, nights_joined_id


@dataclass(frozen=True, slots=True)
class Decision:
    """A provider's new state, what it decided, and the nights whose picture changed."""

    state: ProviderBeds
    outcomes: tuple[BedOutcome, ...] = ()
    nights: frozenset[date] = frozenset()
    refused: tuple[CommandRefused, ...] = ()


def outcome(
    kind: BedOutcomeType,
    command: BedCommand,
    *,
    person_id: UUID,
    request_id: UUID,
    night: date,
    bed_type: BedType,
    **details: Any,
) -> BedOutcome:
    return BedOutcome(
        # From the command that caused it: a redelivered command yields outcomes with the same ids,
        # which the journey recognises as already applied.
        id=bed_outcome_id(command.id, request_id, kind),
        type=kind,
        source=command.source,
        actor=command.actor,
        subject=person_id,
        time=command.time,
        recorded_at=command.time,
        data=BedOutcomeDetails(
            request_id=request_id, provider_id=command.provider_id, night=night, bed_type=bed_type, **details
        ),
    )


# ---------------------------------------------------------------- the provider's agent


def decide(state: ProviderBeds | None, command: ProviderCommand) -> Decision | None:
    """Apply one command to a provider's beds; None when it was already applied."""
    state = state or ProviderBeds(provider_id=command.provider_id)
    if command.id in state.recent_commands:
        return None
    match command:
        case ProviderRegistered():
            decision = _register(state, command)
        case CapacityChanged():
            decision = _change_capacity(state, command)
        case BedRequested():
            decision = _request(state, command)
        case StayCommand():
            decision = _stay(state, command)
    changed = decision.state.model_copy(update={
        "sequence": state.sequence + 1,
        "recent_commands": (*state.recent_commands, command.id)[-REMEMBERED_COMMANDS:],
    })
    return Decision(changed, decision.outcomes, decision.nights, decision.refused)


def _register(state: ProviderBeds, command: ProviderRegistered) -> Decision:
    # Registering again updates the details; the organisation that registered first keeps it.
    organisation = state.provider.organisation if state.provider else command.source
    info = ProviderInfo(
        provider_id=command.provider_id, organisation=organisation, name=command.name, kind=command.kind,
        area_code=command.area_code, no_show_release=command.no_show_release,
        waitlist_limit=command.waitlist_limit,
    )
    return Decision(state.model_copy(update={"provider": info}), nights=frozenset(state.nights))


def _change_capacity(state: ProviderBeds, command: CapacityChanged) -> Decision:
    sign = 1 if command.change is CapacityChange.OPENED else -1
    window = CapacityWindow(
        bed_type=command.bed_type, beds=sign * command.beds,
        first_night=command.first_night, last_night=command.last_night,
    )
    state = state.model_copy(update={"capacity": (*state.capacity, window)})
    touched = frozenset(night for night in state.nights if window.covers(night))
    outcomes: list[BedOutcome] = []
    # A closure keeps the beds already given out (people are not turned out by a count); it only
    # stops new allocations. New beds go to the waitlist first.
    for night in sorted(touched):
        state = _promote(state, night, command.bed_type, command, outcomes)
    return Decision(state, tuple(outcomes), touched)


def _request(state: ProviderBeds, command: BedRequested) -> Decision:
    night = state.night(command.night)
    if night.knows(command.id):
        return Decision(state)

    def refuse(reason: str) -> Decision:
        settled = night.model_copy(update={"settled": (*night.settled, command.id)})
        refused = _for_request("bed.refused", command, reason=reason)
        return Decision(_with_night(state, command.night, settled), (refused,), frozenset({command.night}))

    if state.provider is None:
        return refuse("this provider is not registered")
    if any(s.person_id == command.person_id for s in night.stays) or any(
        w.person_id == command.person_id for w in night.waitlist
    ):
        return refuse("already has a bed or a waitlist place here that night")
    if capacity_of(state.capacity, command.night, command.bed_type) == 0:
        return refuse(f"no {command.bed_type.value} beds here that night")
    bed = free_bed(state, command.night, command.bed_type)
    if bed is not None:
        stay = Stay(request_id=command.id, person_id=command.person_id, bed_type=command.bed_type, bed=bed,
                    allocated_at=command.time)
        changed = night.model_copy(update={"stays": (*night.stays, stay)})
        allocated = _for_request("bed.allocated", command, bed=bed)
        return Decision(_with_night(state, command.night, changed), (allocated,), frozenset({command.night}))
    if len(night.waitlist) >= state.provider.waitlist_limit:
        return refuse(f"every {command.bed_type.value} bed is taken and the waitlist is full")
    waiting = Waiting(request_id=command.id, person_id=command.person_id, bed_type=command.bed_type)
    changed = night.model_copy(update={"waitlist": (*night.waitlist, waiting)})
    position = sum(w.bed_type is command.bed_type for w in changed.waitlist)
    waitlisted = _for_request("bed.waitlisted", command, waitlist_position=position,
                              reason=f"every {command.bed_type.value} bed is taken")
    return Decision(_with_night(state, command.night, changed), (waitlisted,), frozenset({command.night}))


def _refuse(state: ProviderBeds, command: StayCommand, reason: str) -> Decision:
    """The command does not fit the stay as it is now: nothing changes, and the refusal is
    published, so that a command the API accepted a moment earlier is never silently dropped."""
    refusal = CommandRefused(command_id=command.id, request_id=command.request_id, command=command.type,
                             reason=reason, at=command.time)
    return Decision(state, refused=(refusal,))


def _stay(state: ProviderBeds, command: StayCommand) -> Decision:
    """Check-in, no-show, check-out and withdrawal. One that asks for what is already so (a
    second check-in) changes nothing; one that does not fit the stay is refused with a reason."""
    night = state.night(command.night)
    stay = night.stay(command.request_id)
    if command.type == "bed.withdraw" and stay is None:
        waiting = next((w for w in night.waitlist if w.request_id == command.request_id), None)
        if waiting is None:
            if command.request_id in night.settled:
                return Decision(state)  # released already: withdrawn, refused or ended
            return _refuse(state, command, "no bed or waitlist place is held for this request that night")
        changed = night.model_copy(update={
            "waitlist": tuple(w for w in night.waitlist if w is not waiting),
            "settled": (*night.settled, waiting.request_id),
        })
        withdrawn = outcome("bed.withdrawn", command, person_id=waiting.person_id, request_id=waiting.request_id,
                            night=command.night, bed_type=waiting.bed_type)
        return Decision(_with_night(state, command.night, changed), (withdrawn,), frozenset({command.night}))
    if stay is None:
        done = "released (no-show, withdrawn or checked out)" if command.request_id in night.settled else "not held"
        if command.type == "bed.no_show" and command.request_id in night.settled:
            return Decision(state)  # the timer's repeat after the bed was released: nothing to say
        return _refuse(state, command, f"no bed is held for this request that night: it was {done}")
    if command.type == "bed.check_in":
        if stay.checked_in:
            return Decision(state)
        checked = stay.model_copy(update={"checked_in": True})
        changed = night.model_copy(update={"stays": tuple(checked if s is stay else s for s in night.stays)})
        checked_in = outcome("bed.checked_in", command, person_id=stay.person_id, request_id=stay.request_id,
                             night=command.night, bed_type=stay.bed_type, bed=stay.bed)
        return Decision(_with_night(state, command.night, changed), (checked_in,), frozenset({command.night}))
    kind: BedOutcomeType
    if command.type == "bed.check_out" and stay.checked_in:
        kind = "bed.checked_out"
    elif command.type in ("bed.no_show", "bed.withdraw") and not stay.checked_in:
        kind = "bed.no_show" if command.type == "bed.no_show" else "bed.withdrawn"
    elif command.type == "bed.check_out":
        return _refuse(state, command, "the person has not checked in: a check-out needs a check-in first")
    else:
        return _refuse(state, command, "the person has checked in: use check-out to end the stay")
    changed = night.model_copy(update={
        "stays": tuple(s for s in night.stays if s is not stay),
        "settled": (*night.settled, stay.request_id),
    })
    released = outcome(kind, command, person_id=stay.person_id, request_id=stay.request_id, night=command.night,
                       bed_type=stay.bed_type, bed=stay.bed, leave_reason=command.leave_reason)
    outcomes = [released]
    state = _promote(_with_night(state, command.night, changed), command.night, stay.bed_type, command, outcomes)
    return Decision(state, tuple(outcomes), frozenset({command.night}))


def _promote(state: ProviderBeds, night: date, bed_type: BedType, cause: BedCommand,
             outcomes: list[BedOutcome]) -> ProviderBeds:
    """Give free beds of this type to the waitlist, first come first served."""
    while True:
        current = state.night(night)
        waiting = next((w for w in current.waitlist if w.bed_type is bed_type), None)
        bed = free_bed(state, night, bed_type) if waiting else None
        if waiting is None or bed is None:
            return state
        stay = Stay(request_id=waiting.request_id, person_id=waiting.person_id, bed_type=bed_type, bed=bed,
                    allocated_at=cause.time)
        changed = current.model_copy(update={
            "stays": (*current.stays, stay),
            "waitlist": tuple(w for w in current.waitlist if w is not waiting),
        })
        state = _with_night(state, night, changed)
        outcomes.append(outcome("bed.allocated", cause, person_id=waiting.person_id, request_id=waiting.request_id,
                                night=night, bed_type=bed_type, bed=bed, reason="a bed came free: from the waitlist"))


def _for_request(kind: BedOutcomeType, command: BedRequested, **details: object) -> BedOutcome:
    return outcome(kind, command, person_id=command.person_id, request_id=command.id, night=command.night,
                   bed_type=command.bed_type, **details)


def _with_night(state: ProviderBeds, night: date, changed: Night) -> ProviderBeds:
    nights = {**state.nights, night: changed}
    kept = recent_nights(nights, max(nights))
    return state.model_copy(update={"nights": {n: v for n, v in nights.items() if n in kept}})


# ---------------------------------------------------------------- the person's agent


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """The person's new nights, a request to pass on to its provider, outcomes for the journey,
    messages for other records' bed stages (a merge), and withdrawals for providers."""

    state: PersonNights
    forward: BedRequested | None = None
    outcomes: tuple[BedOutcome, ...] = ()
    to_people: tuple[BedRequested | NightsJoined, ...] = ()
    withdrawals: tuple[StayCommand, ...] = ()


_HOLDS: dict[str, ClaimStatus] = {
    "bed.allocated": "allocated", "bed.waitlisted": "waitlisted", "bed.checked_in": "checked_in",
}
_WHY_NOT = {
    "pending": "a request for this night at {} is awaiting its decision",
    "waitlisted": "already on the waitlist at {} for this night",
    "allocated": "already has a bed at {} for this night",
    "checked_in": "already has a bed at {} for this night",
}


def claim_night(state: PersonNights | None,
                message: BedRequested | BedOutcome | RecordMerged | NightsJoined) -> ClaimResult | None:
    """Hold at most one request or bed per person per night, a merged person's records counting
    as one; None for a redelivered message."""
    match message:
        case BedRequested():
            return _request_night(state or PersonNights(person_id=message.person_id), message)
        case RecordMerged():
            return _merged(state or PersonNights(person_id=message.person_id), message)
        case NightsJoined():
            return _joined(state or PersonNights(person_id=message.person_id), message)
    return _outcome(state, message)


def _remember(state: PersonNights, message_id: UUID) -> tuple[UUID, ...] | None:
    if message_id in state.recent_requests:
        return None
    return (*state.recent_requests, message_id)[-REMEMBERED_COMMANDS:]


def _request_night(state: PersonNights, message: BedRequested) -> ClaimResult | None:
    remembered = _remember(state, message.id)
    if remembered is None:
        return None
    state = state.model_copy(update={"recent_requests": remembered})
    if state.merged_into is not None:
        # This record was merged: the kept record's stage holds the person's nights.
        return ClaimResult(state, to_people=(message.model_copy(update={"person_id": state.merged_into}),))
    held = state.claims.get(message.night)
    if held is not None:
        refused = _for_request("bed.refused", message, reason=_WHY_NOT[held.status].format(held.provider_id))
        return ClaimResult(state, outcomes=(refused,))
    claims = {**state.claims, message.night: Claim(request_id=message.id, provider_id=message.provider_id,
                                                     status="pending")}
    kept = recent_nights(claims, max(claims))
    changed = state.model_copy(update={"claims": {n: c for n, c in claims.items() if n in kept}})
    return ClaimResult(changed, forward=message)


def _outcome(state: PersonNights | None, message: BedOutcome) -> ClaimResult:
    assert message.subject is not None  # outcomes are always about someone
    state = state or PersonNights(person_id=message.subject)
    details = message.data
    held = state.claims.get(details.night)
    claims = dict(state.claims)
    joined: dict[date, Claim] = {}
    released: tuple[UUID, ...] = ()
    if message.type in _HOLDS:
        claims[details.night] = joined[details.night] = Claim(
            request_id=details.request_id, provider_id=details.provider_id, status=_HOLDS[message.type])
    elif held is not None and held.request_id == details.request_id:
        del claims[details.night]
        released = (details.request_id,)
    changed = state.model_copy(update={"claims": claims})
    if state.merged_into is None or not (joined or released):
        return ClaimResult(changed, outcomes=(message,))
    # A request this record made before its merge was decided: the kept record's stage learns of it.
    note = NightsJoined(id=nights_joined_id(message.id), person_id=state.merged_into, merged=state.person_id,
                        claims=joined, released=released, time=message.time)
    return ClaimResult(changed, outcomes=(message,), to_people=(note,))


def _merged(state: PersonNights, message: RecordMerged) -> ClaimResult | None:
    remembered = _remember(state, message.id)
    if remembered is None:
        return None
    if message.type == "person.merged":
        changed = state.model_copy(update={"recent_requests": remembered, "merged_into": message.into})
        note = NightsJoined(id=nights_joined_id(message.id), person_id=message.into, merged=state.person_id,
                            claims=state.claims, time=message.time)
    else:
        changed = state.model_copy(update={"recent_requests": remembered, "merged_into": None})
        note = NightsJoined(id=nights_joined_id(message.id), person_id=message.into, merged=state.person_id,
                            claims={}, released=tuple(c.request_id for c in state.claims.values()), time=message.time)
    return ClaimResult(changed, to_people=(note,))


def _joined(state: PersonNights, message: NightsJoined) -> ClaimResult | None:
    """Take in a merged record's nights. A night both records hold is one too many for one
    person: the kept record's claim stays, and the merged record's bed or waitlist place is
    withdrawn (a bed already checked into is left to the provider: someone is sleeping in it)."""
    remembered = _remember(state, message.id)
    if remembered is None:
        return None
    claims = {n: c for n, c in state.claims.items() if c.request_id not in message.released}
    withdrawals = []
    for night, claim in message.claims.items():
        held = claims.get(night)
        if held is None or held.request_id == claim.request_id:
            claims[night] = claim
        elif claim.status in ("allocated", "waitlisted"):
            withdrawals.append(StayCommand(
                id=nights_joined_id(message.id, claim.request_id), type="bed.withdraw",
                provider_id=claim.provider_id, source="journeys", actor="identity: records merged",
                time=message.time, request_id=claim.request_id, night=night))
    changed = state.model_copy(update={"claims": claims, "recent_requests": remembered})
    return ClaimResult(changed, withdrawals=tuple(withdrawals))
