"""The WebAuthn ceremonies of passkeys, with py_webauthn: registering a passkey (from an
invitation, or another one from a signed-in member's account page), signing in with one, and
confirming who you are before an account change. The challenge lives on the server
(readmodel/passkeys.ceremonies), is used once and only by the browser that asked for it (its
handle is an HttpOnly, SameSite=Strict cookie). User verification (the phone's fingerprint, face
or PIN) is required: a passkey is then two factors in one, and there is no password at all."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from readmodel.keys import AccountError, Principal
from readmodel.passkeys import (
    Invited,
    add_passkey,
    finish_ceremony,
    member_passkeys,
    passkey,
    passkey_used,
    principal_of,
    start_ceremony,
)
from schemas.settings import Settings

CEREMONY_COOKIE = "journeys_ceremony"
RELYING_PARTY = "Journeys"


class PasskeyRefused(ValueError):
    """A ceremony that did not prove what it had to; the text is for the member (nothing secret)."""


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str  # the host name a passkey is bound to
    origin: str

    @classmethod
    def configured(cls, settings: Settings) -> RelyingParty:
        origin = settings.origin
        return cls(urlsplit(origin).hostname or "localhost", origin)


def registration_options(engine: Engine, settings: Settings, member_id: str, name: str, now: datetime, *,
                         invited: Invited | None = None, invitation_sha256: str | None = None) -> tuple[str, str]:
    """Start registering a passkey for a member: the ceremony's handle and the options (JSON) for
    navigator.credentials.create. The member's passkeys already kept are excluded, so one device
    is not registered twice."""
    party = RelyingParty.configured(settings)
    handle, challenge = start_ceremony(engine, "register", now, member_id=member_id,
                                       invitation_sha256=invitation_sha256)
    options = generate_registration_options(
        rp_id=party.id, rp_name=RELYING_PARTY, challenge=challenge,
        # The user handle is the member's random id: nothing personal goes to the authenticator
        # but the name the member sees in their phone's list of passkeys.
        user_id=member_id.encode(), user_name=name, user_display_name=name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(row.credential_id))
                             for row in member_passkeys(engine, member_id)])
    return handle, options_to_json(options)


def register(engine: Engine, settings: Settings, handle: str | None, credential: dict[str, Any], device: str,
             now: datetime) -> str:
    """Check a new passkey against the ceremony this browser started and keep it; the member's id."""
    ceremony = finish_ceremony(engine, handle, "register", now)
    if ceremony is None:
        raise PasskeyRefused("That took too long or was already used: start again")
    party = RelyingParty.configured(settings)
    try:
        verified = verify_registration_response(
            credential=json.dumps(credential), expected_challenge=ceremony.challenge, expected_rp_id=party.id,
            expected_origin=party.origin, require_user_verification=True)
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError):
        raise PasskeyRefused("Your device's answer could not be checked: try again") from None
    try:
        add_passkey(engine, member_id=ceremony.member_id, credential_id=bytes_to_base64url(verified.credential_id),
                    public_key=verified.credential_public_key, sign_count=verified.sign_count,
                    name=device.strip()[:60] or "a device", now=now, invitation_sha256=ceremony.invitation_sha256)
    except AccountError as refused:
        raise PasskeyRefused(f"This passkey was not kept: {refused}") from None
    return str(ceremony.member_id)


def authentication_options(engine: Engine, settings: Settings, now: datetime, *,
                           member_id: str | None = None) -> tuple[str, str]:
    """Start a sign-in (any of the site's passkeys the device holds: the member need not type
    anything) or, with `member_id`, a confirmation by that member before an account change."""
    party = RelyingParty.configured(settings)
    purpose = "confirm" if member_id else "sign_in"
    handle, challenge = start_ceremony(engine, purpose, now, member_id=member_id)
    allowed = None if member_id is None else [
        PublicKeyCredentialDescriptor(id=base64url_to_bytes(row.credential_id))
        for row in member_passkeys(engine, member_id)]
    options = generate_authentication_options(rp_id=party.id, challenge=challenge, allow_credentials=allowed,
                                              user_verification=UserVerificationRequirement.REQUIRED)
    return handle, options_to_json(options)


def authenticate(engine: Engine, settings: Settings, handle: str | None, credential: dict[str, Any], now: datetime,
                 *, purpose: str = "sign_in") -> Principal:
    """The member whose live passkey signed this browser's ceremony (with the member's
    fingerprint, face or PIN). A confirmation must be signed by the member it was started for."""
    ceremony = finish_ceremony(engine, handle, purpose, now)
    if ceremony is None:
        raise PasskeyRefused("That took too long or was already used: start again")
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    kept = passkey(engine, credential_id) if isinstance(credential_id, str) and len(credential_id) < 1400 else None
    if kept is None:
        raise PasskeyRefused("That passkey is not known here, or was removed: ask your organisation for an invitation")
    if ceremony.member_id is not None and kept.member_id != ceremony.member_id:
        raise PasskeyRefused("That is another member's passkey")
    handle_given = (credential.get("response") or {}).get("userHandle")
    if handle_given and base64url_to_bytes(handle_given) != kept.member_id.encode():
        raise PasskeyRefused("Your device's answer could not be checked: try again")
    party = RelyingParty.configured(settings)
    try:
        verified = verify_authentication_response(
            credential=json.dumps(credential), expected_challenge=ceremony.challenge, expected_rp_id=party.id,
            expected_origin=party.origin, credential_public_key=kept.public_key,
            credential_current_sign_count=kept.sign_count, require_user_verification=True)
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError):
        raise PasskeyRefused("Your device's answer could not be checked: try again") from None
    passkey_used(engine, kept.credential_id, verified.new_sign_count, now)
    return principal_of(kept.member_id, kept)
