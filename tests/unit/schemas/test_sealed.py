"""Sealing personal parts: what a key seals only that key opens, on that event; a destroyed key
opens nothing; a reporter's details have a key of their own."""

from __future__ import annotations

import base64
from uuid import uuid4

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.sealed import (
    SEALED,
    LocalKeyEncryptionKey,
    new_data_key,
    opened,
    seal,
    sealed_keys,
    stored_form,
)

FIELDS = {"person_description": "tall, red coat", "place": {"description": "Bank doorway"},
          "reporter": {"name": "Pat Doe", "phone": "07700 900456"}}


def _key() -> tuple:
    return uuid4(), AESGCM(new_data_key())


def _ring(*keys: tuple) -> dict:
    return {str(key_id): aead for key_id, aead in keys}


def test_what_is_sealed_opens_whole_with_both_keys_and_is_not_readable_without() -> None:
    event, person, reporter = uuid4(), _key(), _key()
    parts = seal(event, FIELDS, person, reporter)
    assert [p.key for p in parts] == [person[0], reporter[0]]
    stored = stored_form(parts)
    text = str(stored)
    assert "red coat" not in text and "Pat Doe" not in text and "Bank" not in text
    assert sealed_keys(stored) == {str(person[0]), str(reporter[0])}
    assert opened(event, stored, _ring(person, reporter)) == FIELDS


def test_a_destroyed_key_opens_nothing_and_the_other_key_still_opens_its_part() -> None:
    event, person, reporter = uuid4(), _key(), _key()
    stored = stored_form(seal(event, FIELDS, person, reporter))
    assert opened(event, stored, _ring(person)) == {k: v for k, v in FIELDS.items() if k != "reporter"}
    assert opened(event, stored, _ring(reporter)) == {"reporter": FIELDS["reporter"]}
    assert opened(event, stored, {}) == {}


def test_a_box_moved_onto_another_event_does_not_open() -> None:
    person = _key()
    stored = stored_form(seal(uuid4(), {"known_as": "Sam"}, person, None))
    with pytest.raises(InvalidTag):
        opened(uuid4(), stored, _ring(person))


def test_a_reporter_is_never_sealed_with_the_persons_key() -> None:
    with pytest.raises(ValueError, match="reporter's own key"):
        seal(uuid4(), FIELDS, _key(), None)


def test_an_entry_from_before_sealing_reads_as_it_is() -> None:
    assert opened(uuid4(), {"known_as": "Sam"}, {}) == {"known_as": "Sam"}
    assert SEALED not in opened(uuid4(), {}, {})


def test_the_key_encryption_key_unwraps_only_what_it_wrapped_for_that_key() -> None:
    kek = LocalKeyEncryptionKey(base64.b64decode(base64.b64encode(b"k" * 32)))
    secret, key_id = new_data_key(), uuid4()
    wrapped = kek.wrap(secret, key_id)
    assert secret not in wrapped and kek.unwrap(wrapped, key_id) == secret
    with pytest.raises(InvalidTag):
        kek.unwrap(wrapped, uuid4())
    with pytest.raises(InvalidTag):
        LocalKeyEncryptionKey(b"o" * 32).unwrap(wrapped, key_id)
    with pytest.raises(ValueError, match="32 bytes"):
        LocalKeyEncryptionKey(b"short")
