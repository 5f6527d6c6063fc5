"""The SQL read model's tables: what the worker's projections write and the API reads (SQLite or
PostgreSQL). Their migrations are in readmodel/migrations; readmodel/database.py connects."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.sql.elements import ColumnElement


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always gives back an aware datetime, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONDocument(TypeDecorator[Any]):
    """A JSON column the worker writes as JSON text it has serialised already (pydantic's
    serialiser is several times faster than dumping to Python values for SQLAlchemy to encode
    again), read back as Python values. PostgreSQL casts the text to json on insert."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


metadata = MetaData()

journeys = Table(
    "journeys",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("sequence", Integer, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("first_seen", UTCDateTime),
    Column("last_seen", UTCDateTime),
    Column("last_area", String(32)),
    Column("reports", Integer, nullable=False),
    Column("contacts", Integer, nullable=False),
    Column("rough_sleeping_nights", Integer, nullable=False),
    Column("emergency_bed_nights", Integer, nullable=False),
    Column("provisional", Integer, nullable=False),
    Column("merged_into", String(36)),
    Column("state", JSONDocument),  # the whole journey, as the worker last folded it
    Column("updated_at", UTCDateTime, nullable=False),
    # Search reads candidates the most recently seen first (readmodel/profiles.recent_first):
    # walked in this index alone, without the rows' states.
    Index("ix_journeys_last_seen", "last_seen", "person_id", "merged_into"),
)

# Sighting reports and their lifecycle, for the reporter's status, overdue lists and statistics.
sighting_reports = Table(
    "sighting_reports",
    metadata,
    Column("report_id", String(36), primary_key=True),
    Column("person_id", String(36), nullable=False),
    Column("organisation", String(120), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("area_code", String(32)),
    Column("received_at", UTCDateTime, nullable=False),
    Column("wants_update", Integer, nullable=False),
    Column("team", String(120)),
    Column("due_by", UTCDateTime),
    Column("first_attempt_at", UTCDateTime),
    Column("outcome", String(32)),
    Column("outcome_at", UTCDateTime),
    Column("reporter_told_at", UTCDateTime),
    Column("reporter_forgotten_at", UTCDateTime),  # the reporter's key destroyed: retention looks no further
    Index("ix_sighting_reports_received", "received_at"),
)

# Referrals as the journey stage left them (journey/state.py's Referral): the receiver's inbox
# and the referrer's view. Written with the journey, so a referral and its answer are never ahead
# of the person's record; `sequence` is the journey's, so an older update never rolls one back.
referrals = Table(
    "referrals",
    metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("person_id", String(36), nullable=False),
    Column("from_organisation", String(120), nullable=False),
    Column("to_organisation", String(120), nullable=False),
    Column("made_at", UTCDateTime, nullable=False),
    Column("reason", String(200)),
    Column("categories", String(400), nullable=False),
    Column("expires_at", UTCDateTime),
    Column("status", String(16), nullable=False),
    Column("answered_at", UTCDateTime),
    Column("decline_reason", String(32)),
    Column("sequence", Integer, nullable=False),
    Index("ix_referrals_to", "to_organisation", "made_at"),
    Index("ix_referrals_from", "from_organisation", "made_at"),
)

# The event id is the primary key: a redelivered journey update inserts nothing, and because
# it is written in the same transaction as the journey row, "applied" and "stored" never differ.
timeline_entries = Table(
    "timeline_entries",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("person_id", String(36), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("source", String(120), nullable=False),
    Column("summary", Text, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("data", JSONDocument, nullable=False),
    Column("personal", JSONDocument, nullable=False),
    Index("ix_timeline_person", "person_id", "occurred_at"),
    Index("ix_timeline_type_time", "type", "occurred_at"),  # the board's recent sightings
)


def of_types(types: Collection[str]) -> ColumnElement[bool]:
    """Timeline entries of these types, among those found by person: a condition checked row by
    row (`type || ''` is no column an index has). Given a long list of people and a few types,
    SQLite's planner chose the index by type and read every entry of those types (a second at
    1,000,000 events, in the worker's every batch too)."""
    return timeline_entries.c.type.concat("").in_(list(types))

# What the records say about who each person is (readmodel/profiles.py), one row a person, kept by
# the worker as events arrive: search and identity matching open these, not the timeline. Sealed
# with the person's key as the events it came from were (in clear if they came in clear).
profiles = Table(
    "profiles",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("profile", JSONDocument, nullable=False),
    Column("version", Integer, nullable=False),  # each write's: a process's memory of a profile is checked against it
    Column("updated_at", UTCDateTime, nullable=False),
)

# Search and identity matching find their candidates here (readmodel/search_keys.py):
# a person's blocking keys (journey/matching.py), each kept as a keyed hash (8 bytes of an HMAC
# with a secret of the keyring), so that the table says nothing without that secret. Erasure
# deletes a person's rows with their keys.
search_keys = Table(
    "search_keys",
    metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=False),
    Column("person_id", String(36), primary_key=True),
    Index("ix_search_keys_person", "person_id"),  # erasure
    sqlite_with_rowid=False,
)

# Built for Zero's status of each record as spans of nights (journey/statistics.status_spans),
# kept by the worker from the record's facts (readmodel/statistics.py): a period's inflow,
# outflow and active count read the spans that begin in it or cover its last night. `until` is
# 9999-12-31 while nothing known ends the span. No personal data: ids, nights and status names.
statistics_statuses = Table(
    "statistics_statuses",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("since", Date, primary_key=True),
    Column("until", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("previous", String(16), nullable=False),
    # Built for Zero's changes in a period counted from this index alone (the city's figures).
    Index("ix_statistics_statuses_changes", "since", "status", "previous"),
    Index("ix_statistics_statuses_open", "status", "until", "since"),  # the spans covering a night, from the index
)

# What each record's facts so far say about its Built for Zero status (journey.statistics.Known),
# kept with its spans: a later fact goes on from it instead of reading the record's history
# again, which grew with every contact (readmodel/statistics.py). No personal data: times and a
# close reason's code.
statistics_known = Table(
    "statistics_known",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("homeless", UTCDateTime),
    Column("housed", UTCDateTime),
    Column("contact", UTCDateTime),
    Column("closed", UTCDateTime),
    Column("close_reason", String(32)),
    Column("latest", UTCDateTime, nullable=False),
)

# Every outreach contact that found someone bedded down (CHAIN's "seen rough sleeping"), one row
# each, kept by the worker: the bulk of the timeline is contacts, and the figures need only these
# of them, by night (readmodel/statistics.py). No personal data: ids, times and area codes.
rough_sleeping = Table(
    "rough_sleeping",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("person_id", String(36), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("night", Date, nullable=False),
    Column("area_code", String(32)),
    # CHAIN groups a period's nights by person (for one area too) from this index alone.
    Index("ix_rough_sleeping_night_person", "night", "person_id", "area_code"),
    Index("ix_rough_sleeping_person", "person_id", "at"),
)

# Records of one person (merged or linked), as each record's journey says: statistics count
# them as one person without reading every journey.
same_person = Table(
    "same_person",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("other", String(36), primary_key=True),
)

# The board's month's flow (readmodel/board.py): counts only, as JSON text, worked out by one
# worker when a board asked for figures older than a minute, and read by every API process.
board_flow = Table(
    "board_flow",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("figures", Text),
    Column("worked_out_at", UTCDateTime),
    Column("wanted_at", UTCDateTime),
    Column("working_since", UTCDateTime),  # a worker's claim: only one works it out at a time
)

# Which derived tables were made whole, and for which rules: a worker remakes one whose rules
# changed (readmodel/statistics.remake), and readers do not trust it meanwhile.
projections = Table(
    "projections",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("made_for", String(200), nullable=False),
)

# ---------------------------------------------------------------- accounts and audit
# Not part of the rebuildable read model: `journeys rebuild` never empties these.

organisations = Table(
    "organisations",
    metadata,
    Column("organisation", String(120), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("member_id", String(32), primary_key=True),
    Column("organisation", String(120), nullable=False, index=True),
    Column("name", String(120), nullable=False),
    Column("data_protection_lead", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime),
    # A data protection lead's work address: where the platform tells them at once of a
    # break-glass read by their organisation. Only leads have one.
    Column("email", String(254)),
    # Who the member is at their organisation's identity provider (the mapped claim's value):
    # single sign-on finds members by it, and never makes one.
    Column("sign_in_name", String(254)),
    Index("ix_members_sign_in_name", "organisation", "sign_in_name", unique=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("organisation", String(120), nullable=False),
    Column("role", String(32), nullable=False),
    Column("member_id", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

# Append-only: one row per read of a person's data, with what was shown and under which rule.
audit_entries = Table(
    "audit_entries",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("member_id", String(32), nullable=False),
    Column("organisation", String(120), nullable=False, index=True),
    Column("person_id", String(36), nullable=False, index=True),
    Column("categories", String(400), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("endpoint", String(200), nullable=False),
)

# How far the worker has relayed the audit table to the audit topic.
audit_relayed = Table(
    "audit_relayed",
    metadata,
    Column("relay", String(32), primary_key=True),
    Column("entry_id", Integer, nullable=False),
)

break_glass = Table(
    "break_glass",
    metadata,
    Column("grant_id", String(36), primary_key=True),
    Column("member_id", String(32), nullable=False),
    Column("organisation", String(120), nullable=False, index=True),
    Column("person_id", String(36), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("until", UTCDateTime, nullable=False),
)

# Append-only: who changed whose account (members added and removed, keys issued and revoked)
# and each break-glass taken or refused. What a data protection lead reviews besides the reads.
account_events = Table(
    "account_events",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("organisation", String(120), nullable=False, index=True),  # whose account it is
    Column("actor", String(32), nullable=False),  # the member who did it
    Column("action", String(32), nullable=False),
    Column("member_id", String(32)),  # the member it was done to
    Column("key_id", String(32)),
    Column("detail", String(200)),  # never personal data: counts, an expiry, a grant id
)

# A data protection lead to be told of an account event (a break-glass read) by email, at once,
# retried on the webhooks' schedule. One row per event; the worker's notifier sends it.
lead_alerts = Table(
    "lead_alerts",
    metadata,
    Column("entry_id", Integer, primary_key=True),  # the account event
    Column("organisation", String(120), nullable=False),
    Column("status", String(16), nullable=False),  # pending, sent, no_lead, failed
    Column("attempts", Integer, nullable=False),
    Column("next_try_at", UTCDateTime, nullable=False),
    Column("leased_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    Index("ix_lead_alerts_due", "status", "next_try_at"),
)

# Invitations a lead asked the platform to email (POST /v1/members/{id}/invitations with an
# address): the worker sends each (streams/invitations.py), then forgets the address and the
# link. Until then they wait here, for minutes, as a lead's alert does.
invitation_emails = Table(
    "invitation_emails",
    metadata,
    Column("token_sha256", String(64), primary_key=True),  # the invitation's
    Column("organisation", String(120), nullable=False),
    Column("member_id", String(32), nullable=False),
    Column("to_address", String(254)),  # emptied once sent or given up
    Column("link", String(400)),  # emptied once sent or given up
    Column("status", String(16), nullable=False),  # pending, sent, withdrawn, failed
    Column("attempts", Integer, nullable=False),
    Column("next_try_at", UTCDateTime, nullable=False),
    Column("leased_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    Index("ix_invitation_emails_due", "status", "next_try_at"),
)

# Members signed in to the pages: a random token in an HttpOnly cookie, kept here only as its
# SHA-256. Each request checks the member's key is still live, so a revoked key signs them out.
page_sessions = Table(
    "page_sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("key_id", String(32)),  # sessions from before issue 27 were begun with a key
    Column("member_id", String(32), nullable=False, index=True),
    Column("method", String(16)),  # how the member proved who they are: passkey, invitation, oidc
    Column("csrf", String(64), nullable=False),  # the forms' token for this session
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("last_seen_at", UTCDateTime),  # the last request, to the minute
    Column("idle_s", Integer),  # it ends after this long without one
    # When the member last proved who they are in this session: account changes ask again after
    # a few minutes (REAUTHENTICATE_MINUTES), so a phone left signed in cannot add a passkey.
    Column("authenticated_at", UTCDateTime),
    # Single sign-on: a hash of the provider's issuer and session id, so that the provider's
    # back-channel sign-out ends this session.
    Column("provider_session", String(64), index=True),
)

# A member's passkeys (WebAuthn credentials): only the public key is here; the private key never
# leaves the member's phone or computer.
passkeys = Table(
    "passkeys",
    metadata,
    Column("credential_id", String(1400), primary_key=True),  # base64url, as the browser sends it
    Column("member_id", String(32), nullable=False, index=True),
    Column("name", String(60), nullable=False),  # the member's own word for the device: "work phone"
    Column("public_key", LargeBinary, nullable=False),  # COSE
    Column("sign_count", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("removed_at", UTCDateTime),
)

# One-time links with which a member registers their first passkey: only a hash of the token.
invitations = Table(
    "invitations",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("member_id", String(32), nullable=False, index=True),
    Column("created_by", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Column("withdrawn_at", UTCDateTime),
)

# A WebAuthn ceremony's challenge, kept by the server (never trusted from the browser) and used
# once: an assertion replayed against it, or against another ceremony, fails.
ceremonies = Table(
    "ceremonies",
    metadata,
    Column("ceremony_id", String(64), primary_key=True),  # sha256 of the browser's cookie
    Column("purpose", String(16), nullable=False),  # sign_in, register, confirm
    Column("challenge", LargeBinary, nullable=False),
    Column("member_id", String(32)),  # register and confirm: whose
    Column("invitation_sha256", String(64)),  # register from an invitation
    Column("carried", JSON),  # single sign-on: the organisation, shared device, the page asked for
    Column("expires_at", UTCDateTime, nullable=False),
)

# One row per idempotency key per organisation: the first submission wins, retries get its
# event id back and produce nothing.
submissions = Table(
    "submissions",
    metadata,
    Column("organisation", String(120), primary_key=True),
    Column("idempotency_key", String(200), primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Column("produced", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)


# ---------------------------------------------------------------- partners' subscriptions
# Not rebuildable either: what partners asked for, and what was delivered to them.

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", String(36), primary_key=True),
    Column("organisation", String(120), nullable=False, index=True),
    Column("created_by", String(32), nullable=False),  # the member whose key made it
    Column("url", String(2000), nullable=False),
    # Standard Webhooks' "whsec_" + base64 secret; the previous one also signs until
    # `previous_until`, so that a partner can roll its receiver over without losing a delivery.
    Column("secret", String(200), nullable=False),
    Column("previous_secret", String(200)),
    Column("previous_until", UTCDateTime),
    Column("families", String(400), nullable=False),  # comma-separated; empty: all
    Column("stages", String(400), nullable=False),
    Column("areas", String(400), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # active, paused, disabled, deleted
    Column("status_reason", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)

# One row per update to deliver to one subscription. Holds ids only: the payload is built from
# the read model through the sharing policy when it is sent, so a consent withdrawn before then
# already shows. `position` orders one person's deliveries (the order the updates came in).
deliveries = Table(
    "deliveries",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), nullable=False, unique=True),  # the webhook-id
    Column("subscription_id", String(36), nullable=False),
    Column("person_id", String(36), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("refolded", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # pending, delivered, failed, withheld, cancelled
    Column("attempts", Integer, nullable=False),
    Column("next_try_at", UTCDateTime, nullable=False),
    Column("leased_until", UTCDateTime),  # a deliverer is sending it; another waits until then
    Column("leased_by", String(40)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    Index("ix_deliveries_due", "status", "next_try_at"),
    Index("ix_deliveries_person", "subscription_id", "person_id", "status", "position"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("attempt_id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), nullable=False, index=True),
    Column("subscription_id", String(36), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("status_code", Integer),  # null: no HTTP answer
    Column("error", String(80)),  # the kind of failure (timeout, refused...), never a body
    Column("answer", String(16), nullable=False),
    Column("took_ms", Integer, nullable=False),
)

# A reporter who asked to hear back is told the outcome by email; one row per report.
reporter_notices = Table(
    "reporter_notices",
    metadata,
    Column("report_id", String(36), primary_key=True),
    Column("person_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),  # pending, sent, no_contact, not_wanted, failed
    Column("attempts", Integer, nullable=False),
    Column("next_try_at", UTCDateTime, nullable=False),
    Column("leased_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    Index("ix_reporter_notices_due", "status", "next_try_at"),
)

# Emergency beds, as the providers' agents last published them.
bed_providers = Table(
    "bed_providers",
    metadata,
    Column("provider_id", String(63), primary_key=True),
    Column("organisation", String(120), nullable=False),
    Column("name", String(120), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("area_code", String(32), nullable=False),
    Column("no_show_release", String(8), nullable=False),
    Column("waitlist_limit", Integer, nullable=False),
    Column("capacity", JSON, nullable=False),  # the capacity windows: beds on any night follow from them
    Column("sequence", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Counts for the nights on which something happened; other nights are all free.
bed_nights = Table(
    "bed_nights",
    metadata,
    Column("provider_id", String(63), primary_key=True),
    Column("night", Date, primary_key=True),
    Column("bed_type", String(40), primary_key=True),
    Column("capacity", Integer, nullable=False),
    Column("allocated", Integer, nullable=False),
    Column("checked_in", Integer, nullable=False),
    Column("free", Integer, nullable=False),
    Column("waitlisted", Integer, nullable=False),
    Column("sequence", Integer, nullable=False),
)

bed_requests = Table(
    "bed_requests",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("person_id", String(36), nullable=False),
    Column("provider_id", String(63), nullable=False),
    Column("night", Date, nullable=False),
    Column("bed_type", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("bed", Integer),
    Column("waitlist_position", Integer),
    Column("reason", String(120)),
    Column("leave_reason", String(20)),
    Column("requested_by", String(120), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_bed_requests_provider_night", "provider_id", "night"),
)


# Each identity decision's verdict, as the stage that judges them gave it.
identity_decisions = Table(
    "identity_decisions",
    metadata,
    Column("decision_id", String(36), primary_key=True),
    Column("decision", String(20), nullable=False),
    Column("person_id", String(36), nullable=False),
    Column("other", String(36), nullable=False),
    Column("status", String(10), nullable=False),
    Column("reason", String(200)),
    Column("decided_by", String(120), nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
)

# Stay commands a provider's stage refused after the API had accepted them, with why.
bed_command_refusals = Table(
    "bed_command_refusals",
    metadata,
    Column("command_id", String(36), primary_key=True),
    Column("request_id", String(36), nullable=False, index=True),
    Column("provider_id", String(63), nullable=False),
    Column("command", String(20), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("refused_at", UTCDateTime, nullable=False),
)

# Data keys that seal personal parts (schemas/sealed.py), each wrapped by the key-encryption key
# named in `kek`. A subject is a person's id or "reporter:<report id>": ids, nothing personal.
# Destroying a key empties `wrapped` and keeps the row, so that what was destroyed and when is known.
data_keys = Table(
    "data_keys",
    metadata,
    Column("key_id", String(36), primary_key=True),
    Column("subject", String(60), nullable=False, index=True),
    Column("kek", String(40), nullable=False),
    Column("wrapped", LargeBinary),
    Column("created_at", UTCDateTime, nullable=False),
    Column("destroyed_at", UTCDateTime),
)

# Each erasure a data protection lead made: the ground and their reference, never personal data.
erasures = Table(
    "erasures",
    metadata,
    Column("erasure_id", String(36), primary_key=True),
    Column("subject", String(60), nullable=False, index=True),  # a person's id, or reporter:<report id>
    Column("ground", String(40), nullable=False),
    Column("reference", String(60), nullable=False),
    Column("organisation", String(120), nullable=False),
    Column("member_id", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("records", Integer, nullable=False),
    Column("keys_destroyed", Integer, nullable=False),
    Column("entries_emptied", Integer, nullable=False),
)
