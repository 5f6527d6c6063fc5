"""Emergency beds as state: a provider's nights (kept by the provider's agent) and the nights a
person holds a bed or is waiting for one (kept by the person's agent). Pure values, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from schemas.beds import BedCount, CapacityWindow, Claim, NightPicture, ProviderInfo
from schemas.events import BedType

# Nights this far behind the newest night a provider or person has seen are dropped from the
# state: they can no longer change, and the read model keeps their history.
NIGHTS_KEPT = 45
REMEMBERED_COMMANDS = 512


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Stay(Frozen):
    """An allocated bed on one night: numbered, so no number is ever given to two people."""

    request_id: UUID
    person_id: UUID
    bed_type: BedType
    bed: int
    checked_in: bool = False
    # When the bed was given: a bed given after its night's release moment (the early-morning
    # walk books tonight's bed at 01:30) is held for the rest of the night, not released at once.
    allocated_at: datetime | None = None


class Waiting(Frozen):
    request_id: UUID
    person_id: UUID
    bed_type: BedType


class Night(Frozen):
    stays: tuple[Stay, ...] = ()
    waitlist: tuple[Waiting, ...] = ()
    settled: tuple[UUID, ...] = ()  # requests refused or finished: a redelivery decides nothing new

    def knows(self, request_id: UUID) -> bool:
        return (
            request_id in self.settled
            or any(s.request_id == request_id for s in self.stays)
            or any(w.request_id == request_id for w in self.waitlist)
        )

    def stay(self, request_id: UUID) -> Stay | None:
        return next((s for s in self.stays if s.request_id == request_id), None)


class ProviderBeds(Frozen):
    """Everything one provider's agent decides from."""

    provider_id: str
    provider: ProviderInfo | None = None
    sequence: int = 0
    capacity: tuple[CapacityWindow, ...] = ()
    nights: dict[date, Night] = {}
    recent_commands: tuple[UUID, ...] = ()

    def night(self, night: date) -> Night:
        return self.nights.get(night) or Night()


def capacity_of(windows: tuple[CapacityWindow, ...], night: date, bed_type: BedType) -> int:
    """Beds of a type on a night: the sum of the windows covering it, never below zero."""
    return max(0, sum(w.beds for w in windows if w.bed_type is bed_type and w.covers(night)))


def free_bed(state: ProviderBeds, night: date, bed_type: BedType) -> int | None:
    """The lowest-numbered bed of this type that nobody holds on this night, if any."""
    held = {s.bed for s in state.night(night).stays if s.bed_type is bed_type}
    for number in range(1, capacity_of(state.capacity, night, bed_type) + 1):
        if number not in held:
            return number
    return None


def picture(state: ProviderBeds, night: date) -> NightPicture:
    """Counts per bed type on one night, as the availability endpoint shows them."""
    current = state.night(night)
    types = {w.bed_type for w in state.capacity if w.covers(night)}
    types |= {s.bed_type for s in current.stays} | {w.bed_type for w in current.waitlist}
    counts = []
    for bed_type in sorted(types):
        capacity = capacity_of(state.capacity, night, bed_type)
        stays = [s for s in current.stays if s.bed_type is bed_type]
        held_within = {s.bed for s in stays if s.bed <= capacity}
        counts.append(BedCount(
            bed_type=bed_type,
            capacity=capacity,
            allocated=sum(not s.checked_in for s in stays),
            checked_in=sum(s.checked_in for s in stays),
            free=capacity - len(held_within),
            waitlisted=sum(w.bed_type is bed_type for w in current.waitlist),
        ))
    return NightPicture(night=night, beds=tuple(counts))


def release_moment(night: date, release: time, zone: tzinfo) -> datetime:
    """When an unclaimed bed is released: the release time on the night (noon to noon), local."""
    day = night if release >= time(12) else night + timedelta(days=1)
    return datetime.combine(day, release, tzinfo=zone)


def due_no_shows(state: ProviderBeds, now: datetime, zone: tzinfo) -> list[tuple[date, Stay]]:
    """Allocated beds not checked into by their release moment, if they were given before it."""
    if state.provider is None:
        return []
    due: list[tuple[date, Stay]] = []
    for night, current in sorted(state.nights.items()):
        release = release_moment(night, state.provider.no_show_release, zone)
        if release > now:
            continue
        due.extend((night, stay) for stay in current.stays
                   if not stay.checked_in and (stay.allocated_at is None or stay.allocated_at < release))
    return due


class PersonNights(Frozen):
    """What the person's agent keeps: at most one claim per night, across every provider; and,
    once the record was merged into another, that record (its requests and claims go there)."""

    person_id: UUID
    claims: dict[date, Claim] = {}
    recent_requests: tuple[UUID, ...] = ()
    merged_into: UUID | None = None


def recent_nights(nights: Mapping[date, object], newest: date) -> set[date]:
    """The nights still worth keeping, given the newest night seen."""
    horizon = newest - timedelta(days=NIGHTS_KEPT)
    return {night for night in nights if night >= horizon}
