"""A software passkey authenticator for tests that drive the pages without a browser: it answers
WebAuthn's create and get as a phone would (an ES256 key per credential, "none" attestation,
user present and verified), in the JSON shape browsers send (PublicKeyCredential.toJSON). The
browser tests use Chromium's own virtual authenticator instead (the DevTools WebAuthn domain)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    origin: str
    # Synced passkeys (a phone's password manager) always report a signature count of 0, so the
    # count cannot catch a replay: the server's single-use challenge must.
    counts: bool = False
    credentials: dict[bytes, Credential] = field(default_factory=dict)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], *, origin: str | None = None) -> dict[str, Any]:
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        excluded = {unb64(c["id"]) for c in options.get("excludeCredentials", [])}
        if excluded & set(self.credentials):
            raise ValueError("InvalidStateError: this authenticator holds an excluded credential")
        credential_id = os.urandom(16)
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
        auth_data = (rp_hash + bytes([UP | UV | AT]) + (0).to_bytes(4, "big") + bytes(16)
                     + len(credential_id).to_bytes(2, "big") + credential_id + cose)
        self.credentials[credential_id] = Credential(key, unb64(options["user"]["id"]))
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": b64(credential_id), "rawId": b64(credential_id), "type": "public-key",
                "authenticatorAttachment": "platform", "clientExtensionResults": {},
                "response": {"clientDataJSON": b64(self._client_data("webauthn.create", options["challenge"], origin)),
                             "attestationObject": b64(attestation), "transports": ["internal"]}}

    def get(self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None,
            credential_id: bytes | None = None) -> dict[str, Any]:
        allowed = [unb64(c["id"]) for c in options.get("allowCredentials", [])]
        chosen = credential_id or next(c for c in (allowed or list(self.credentials)) if c in self.credentials)
        held = self.credentials[chosen]
        held.sign_count += 1 if self.counts else 0
        auth_data = (hashlib.sha256((rp_id or options["rpId"]).encode()).digest() + bytes([UP | UV])
                     + held.sign_count.to_bytes(4, "big"))
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = held.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": b64(chosen), "rawId": b64(chosen), "type": "public-key", "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {"clientDataJSON": b64(client_data), "authenticatorData": b64(auth_data),
                             "signature": b64(signature), "userHandle": b64(held.user_handle)}}
