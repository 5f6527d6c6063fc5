"""Every id the platform derives, in one place. An id derived from what caused it is the same
each time that cause is processed again (a redelivered batch, a retried request, a restarted
timer), so downstream keeps the result once. Each kind has its own namespace, so no two kinds
can give the same id. The namespaces' values must never change: ids already in topics and the
read model were derived from them."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

CLIENT_TOKEN = uuid5(NAMESPACE_URL, "journeys:idempotency-key")
PROVISIONAL_PERSON = UUID("6f1d8a3e-2c4b-5e7f-9a0b-1c2d3e4f5a6b")
ROUTED = UUID("0b6c3c55-6f0e-4f4e-9d3b-2f6a1c7e8d90")
REPORTER_TOLD = UUID("8d0b6f1e-2c4a-4e0b-9b7e-5f3c2a1d0e9f")
REFERRAL_EXPIRED = UUID("5b2f0a7e-9c1d-4f3e-8a6b-2d4c6e8f0a1b")
DELIVERY = UUID("5c1f2d4e-8a7b-4c3d-9e0f-1a2b3c4d5e6f")
NO_SHOW = uuid5(NAMESPACE_URL, "journeys:no-show")
BED_OUTCOME = uuid5(NAMESPACE_URL, "journeys:bed-outcome")
NIGHTS_JOINED = uuid5(NAMESPACE_URL, "journeys:nights-joined")
DUTY_TO_REFER = uuid5(NAMESPACE_URL, "journeys:duty-to-refer")


def keyed_id(organisation: str, token: str) -> UUID:
    """The platform's id of what an organisation sends under its own token (an Idempotency-Key or
    the client's event id): the same on every retry, so a copy produced twice is recognised
    downstream, and never the same as another organisation's, whatever id it chooses. A client's
    id is only its own token, never a key into someone else's records."""
    return uuid5(CLIENT_TOKEN, f"{organisation}\n{token}")


def provisional_person_id(first_event_id: UUID) -> UUID:
    """The id of the person first described by this event."""
    return uuid5(PROVISIONAL_PERSON, str(first_event_id))


def other_half_id(decision_id: UUID) -> UUID:
    """An identity decision's event on the other record's journey."""
    return uuid5(decision_id, "other-half")


def merge_told_to_beds_id(identity_event_id: UUID) -> UUID:
    """The note to the beds stages that a record was merged (or the merge undone)."""
    return uuid5(identity_event_id, "beds")


def routed_id(report_id: UUID) -> UUID:
    """A report's routing to its area's outreach team."""
    return uuid5(ROUTED, str(report_id))


def reporter_told_id(report_id: str) -> UUID:
    """The record that a report's reporter was told its outcome."""
    return uuid5(REPORTER_TOLD, report_id)


def referral_expired_id(referral_id: str) -> UUID:
    """A referral's expiry, decided by the timer."""
    return uuid5(REFERRAL_EXPIRED, referral_id)


def no_show_id(request_id: UUID) -> UUID:
    """The release of a bed nobody arrived for."""
    return uuid5(NO_SHOW, str(request_id))


def bed_outcome_id(command_id: UUID, request_id: UUID, kind: str) -> UUID:
    """A bed request's outcome of a command (allocated, refused, released, ...)."""
    return uuid5(BED_OUTCOME, f"{command_id}/{request_id}/{kind}")


def nights_joined_id(message_id: UUID, request_id: UUID | None = None) -> UUID:
    """A merged record's nights joining the kept record's; with `request_id`, the withdrawal of
    one of its claims."""
    return uuid5(NIGHTS_JOINED, f"{message_id}" if request_id is None else f"{message_id}/{request_id}")


def delivery_id(subscription_id: str, event_id: str, sequence: int, refolded: bool, replay: str | None = None) -> str:
    """The `webhook-id`: the same for every try of one update to one subscription (so that a
    redelivered journey update or a restarted deliverer makes no new delivery), another for a
    refold of the entry, and another for each replay a partner asks for."""
    name = f"{subscription_id}/{event_id}/{sequence}/{int(refolded)}/{replay or ''}"
    return "msg_" + uuid5(DELIVERY, name).hex


def duty_to_refer_id(risk_report_id: UUID) -> UUID:
    """The referral a risk report made with consent becomes (the duty to refer)."""
    return uuid5(DUTY_TO_REFER, str(risk_report_id))
