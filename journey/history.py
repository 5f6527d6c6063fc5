"""A person's events in the order they happened, as the journey stage keeps them.

A journey is the fold of a person's events in event-time order, whatever order they arrive in:
a phone that was offline sends yesterday's contact today, and a partner back-fills last month.
So the stage keeps, besides the journey itself, the events of the last re-fold window (sorted by
when they happened, their personal parts left out) to fold a late event into its place, the
fold of everything older (`settled`), and the id of every event it has folded, so that a
redelivered or re-produced event is never applied twice, however old.

The kept state does not grow with a person's history beyond the ids: an event leaves `recent`
for `settled` once it happened more than the window before the newest event. A late event that
is older than everything still in `recent` is folded right after `settled` (the README names this
limit). Settling does not wait for anything to be sent: the engine sends a batch's outputs
before it writes the state, so an event whose outputs were lost in a crash is not yet in the
state when it is redelivered.

What is stored is JSON, and only the parts the usual arrival needs are decoded: the journey,
and each recent event's order key. The recent events and `settled` stay JSON text until a late
event or settling needs them, and are written back as the same text (msgspec's `Raw`), so the
usual arrival, the newest event so far, decodes and encodes the journey alone. Decoding and
encoding the whole history with pydantic cost 130 µs an event, a third of the worker's time.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from typing import cast
from uuid import UUID

import msgspec

from journey.state import Journey
from schemas.events import Event, decode_event

_NULL = msgspec.Raw(b"null")
_UNREAD = object()  # a settled journey not decoded yet
# What model_dump_json leaves out (a set, as its `exclude` asks): the personal part, and its sealed
# boxes, which nothing folded needs.
_PERSONAL = {"personal", "sealed"}


class Recent(msgspec.Struct, frozen=True, gc=False):
    """One event of the re-fold window: what orders it, and its JSON without the personal part
    (an empty one, which decodes to the family's empty personal part)."""

    id: str
    type: str
    time: datetime
    event: msgspec.Raw

    @classmethod
    def of(cls, event: Event) -> Recent:
        # Dumping without the personal part and adding an empty one costs a third of copying the
        # event with an empty personal part and dumping the copy.
        text = event.model_dump_json(exclude=_PERSONAL)
        return cls(str(event.id), event.type, event.time, msgspec.Raw(text[:-1] + ',"personal":{}}'))

    def decoded(self) -> Event:
        raw = bytes(self.event)
        if raw[:1] == b'"':  # kept before the event was stored as JSON itself: a JSON string of it
            raw = msgspec.json.decode(raw, type=str).encode()
        return decode_event(raw)


class _Stored(msgspec.Struct, gc=False):
    """The stored form: the same fields as History, the journey and `settled` left as JSON."""

    person_id: str
    journey: msgspec.Raw
    settled: msgspec.Raw = _NULL
    settled_ids: tuple[str, ...] = ()
    recent: tuple[Recent, ...] = ()


_decode = msgspec.json.Decoder(_Stored).decode
_encode = msgspec.json.Encoder().encode


class History:
    """What the journey stage keeps per person. Immutable once made.

    Stored with `model_dump_json` and read with `model_validate_json`, the names every kept state
    answers to (streams/runtime/stage.py)."""

    __slots__ = ("person_id", "journey", "settled_ids", "recent", "_settled", "_settled_json", "_journey_json",
                 "_settled_id_set")

    def __init__(self, person_id: UUID, journey: Journey, settled: Journey | None = None,
                 settled_ids: tuple[str, ...] = (), recent: tuple[Recent, ...] = (), *,
                 settled_json: msgspec.Raw | None = None, journey_json: str | None = None,
                 settled_id_set: frozenset[str] | None = None) -> None:
        self.person_id = person_id
        self.journey = journey
        self.settled_ids = settled_ids
        self.recent = recent
        # `settled` is known decoded, as JSON, or both; never neither.
        self._settled = settled if settled_json is None else _UNREAD
        self._settled_json = settled_json
        self._journey_json = journey_json
        self._settled_id_set = settled_id_set

    @property
    def settled(self) -> Journey | None:
        """The fold of every event older than `recent`, decoded when first asked for."""
        if self._settled is _UNREAD:
            raw = bytes(self._settled_json)  # type: ignore[arg-type]
            self._settled = None if raw == b"null" else Journey.model_validate_json(raw)
        return self._settled  # type: ignore[return-value]

    @property
    def settled_json(self) -> msgspec.Raw:
        if self._settled_json is None:
            # Without its JSON, the settled journey is known decoded (see __init__).
            settled = cast("Journey | None", self._settled)
            self._settled_json = _NULL if settled is None else msgspec.Raw(settled.model_dump_json())
        return self._settled_json

    @property
    def journey_json(self) -> str:
        """The journey's JSON, made once (the read model stores the same text)."""
        if self._journey_json is None:
            self._journey_json = self.journey.model_dump_json()
        return self._journey_json

    @property
    def settled_id_set(self) -> frozenset[str]:
        if self._settled_id_set is None:
            self._settled_id_set = frozenset(self.settled_ids)
        return self._settled_id_set

    def carried_on(self, journey: Journey, recent: tuple[Recent, ...]) -> History:
        """This history with a new journey and recent events, and the same `settled` and ids,
        carried over in whatever form they are (JSON is not decoded or made again)."""
        changed = History(self.person_id, journey, settled_ids=self.settled_ids, recent=recent,
                          settled_id_set=self._settled_id_set)
        changed._settled, changed._settled_json = self._settled, self._settled_json
        return changed

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        return ((self.person_id, self.journey, self.settled, self.settled_ids, self.recent)
                == (other.person_id, other.journey, other.settled, other.settled_ids, other.recent))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"History(person_id={self.person_id}, sequence={self.journey.sequence}, recent={len(self.recent)})"

    @classmethod
    def model_validate_json(cls, stored: bytes | str) -> History:
        kept = _decode(stored)
        journey_json = bytes(kept.journey).decode()
        return cls(UUID(kept.person_id), Journey.model_validate_json(journey_json), settled_ids=kept.settled_ids,
                   recent=kept.recent, settled_json=kept.settled, journey_json=journey_json)

    def model_dump_json(self) -> str:
        return _encode(_Stored(str(self.person_id), msgspec.Raw(self.journey_json), self.settled_json,
                               self.settled_ids, self.recent)).decode()


def order_key(event: Event | Recent) -> tuple[datetime, int, str]:
    """When it happened; then a report before anything else at that moment (its routing, or a risk
    report's referral, carries the report's own time); then the id, so every arrival order gives
    one order."""
    return (event.time, 0 if event.type in _FIRST_AT_ITS_MOMENT else 1, str(event.id))


_FIRST_AT_ITS_MOMENT = frozenset({"report.received", "risk.reported"})


def place_of(recent: tuple[Recent, ...], event: Event) -> tuple[int, bool]:
    """Where an event goes among `recent`, by when it happened, and whether it is there already
    (an event's place is fixed by its order key, which includes its id)."""
    key = order_key(event)
    if not recent or order_key(recent[-1]) < key:
        return len(recent), False  # the usual arrival: the newest so far
    place = bisect_right(recent, key, key=order_key)
    if place and recent[place - 1].id == key[2]:
        return place - 1, True
    return place, False


def due_to_settle(recent: tuple[Recent, ...], window: timedelta) -> int:
    """How many of the oldest events can leave `recent`: they happened more than `window` before
    the newest event."""
    if not recent:
        return 0
    oldest_kept = recent[-1].time - window  # recent is in event-time order
    count = 0
    for event in recent:
        if event.time >= oldest_kept:
            break
        count += 1
    return count
