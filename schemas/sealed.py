"""Sealing an event's personal part with data keys of its own (crypto-shredding). Pure.

The API seals the personal part of every event it accepts before the event enters Kafka: the
person's fields with the person's data key, a report's reporter with a key of that report's
reporter alone. Downstream (topics, changelogs, the worker's store, dead letters, the read
model) holds only the boxes; the sharing layer opens them on the way out. Destroying a key
erases what it sealed everywhere the boxes went, backups included, which an append-only log
cannot otherwise do. AES-256-GCM; the associated data binds a box to its event and its key, so a
box cannot be moved onto another event and opened there.

A data key is kept only wrapped by a key-encryption key (`KeyEncryptionKey`): a local key here,
a KMS or Vault's transit engine in production (readmodel/data_keys.py keeps the wrapped keys).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Any, Literal, Protocol
from uuid import UUID

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field

from schemas.common import Strict

SEALED = "sealed"  # the stored personal part's one field when it is sealed
REPORTER = "reporter"  # the personal field sealed with the reporter's own key
_NONCE = 12


class SealedPart(Strict):
    """Some of an event's personal fields, encrypted with one data key."""

    of: Literal["person", "reporter"] = Field(
        "person", description="Whose details the box holds: the person's, or their reporter's (forgotten sooner)")
    key: UUID = Field(description="The data key's id (in the envelope, never in a record's key or headers)")
    box: str = Field(description="Base64 of the 12-byte nonce and the AES-GCM ciphertext with its tag")


class KeyEncryptionKey(Protocol):
    """What keeps data keys secret at rest. A KMS (AWS KMS, Azure Key Vault, Google Cloud KMS) or
    Vault's transit engine fits behind these two calls: each wraps or unwraps one data key and
    never hands out its own key."""

    name: str

    def wrap(self, data_key: bytes, key_id: UUID) -> bytes: ...

    def unwrap(self, wrapped: bytes, key_id: UUID) -> bytes: ...


class LocalKeyEncryptionKey:
    """A key-encryption key held by the process (from a file or the environment): for development
    and for deployments without a KMS."""

    def __init__(self, secret: bytes, name: str = "local") -> None:
        if len(secret) != 32:
            raise ValueError("a key-encryption key is 32 bytes (44 characters of base64)")
        self._aead = AESGCM(secret)
        self.name = name

    def wrap(self, data_key: bytes, key_id: UUID) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, data_key, key_id.bytes)

    def unwrap(self, wrapped: bytes, key_id: UUID) -> bytes:
        return self._aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], key_id.bytes)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def personal_fields(personal: Any) -> dict[str, Any]:
    """The fields of a personal part that say something (its defaults say nothing), as JSON values."""
    fields: dict[str, Any] = personal.model_dump(mode="json", exclude_defaults=True)
    return fields


def seal(event_id: UUID, fields: Mapping[str, Any], person: tuple[UUID, AESGCM],
         reporter: tuple[UUID, AESGCM] | None) -> tuple[SealedPart, ...]:
    """The boxes of an event's personal fields: the reporter (if any) with `reporter`'s key, the
    rest with `person`'s."""
    about = {name: value for name, value in fields.items() if name != REPORTER}
    parts = []
    if about:
        parts.append(_box(event_id, about, *person))
    if fields.get(REPORTER) is not None:
        if reporter is None:
            raise ValueError("a reporter's details are sealed with the reporter's own key")
        parts.append(_box(event_id, {REPORTER: fields[REPORTER]}, *reporter, of="reporter"))
    return tuple(parts)


def _box(event_id: UUID, fields: Mapping[str, Any], key_id: UUID, aead: AESGCM,
         of: Literal["person", "reporter"] = "person") -> SealedPart:
    nonce = os.urandom(_NONCE)
    sealed = aead.encrypt(nonce, msgspec.json.encode(fields), _bound(str(event_id), str(key_id)))
    return SealedPart(of=of, key=key_id, box=base64.b64encode(nonce + sealed).decode())


def _bound(event_id: str, key_id: str) -> bytes:
    # The ids' canonical text, as every part of the platform writes them: parsing them as UUIDs
    # on every read cost more than opening the box.
    return f"{event_id}/{key_id}".encode()


def sealed_keys(stored: Mapping[str, Any] | None) -> set[str]:
    """The data keys (their ids' text) a stored personal part needs."""
    if not stored or SEALED not in stored:
        return set()
    return {part["key"] for part in stored[SEALED]}


def opened(event_id: UUID | str, stored: Mapping[str, Any] | None, keys: Mapping[str, AESGCM]) -> dict[str, Any]:
    """A stored personal part's fields: as they are if it was never sealed; otherwise what the
    keys in `keys` (by their ids' text) open; a box whose key was destroyed opens to nothing."""
    if not stored:
        return {}
    if SEALED not in stored:
        return dict(stored)
    event = str(event_id)
    fields: dict[str, Any] = {}
    for part in stored[SEALED]:
        key_id = part["key"]
        aead = keys.get(key_id)
        if aead is None:
            continue
        raw = base64.b64decode(part["box"])
        fields.update(msgspec.json.decode(aead.decrypt(raw[:_NONCE], raw[_NONCE:], _bound(event, key_id))))
    return fields


def stored_form(parts: tuple[SealedPart, ...]) -> dict[str, Any]:
    """How a sealed personal part is stored in the read model's personal column."""
    return {SEALED: [part.model_dump(mode="json") for part in parts]}
