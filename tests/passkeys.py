"""Signing members in to the pages as they do: an invitation, a passkey made from it, and
sign-ins with it, through the API's own routes (with tests/authenticator.py in place of a phone)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from readmodel.keys import key_id_of, live_key
from readmodel.passkeys import invite
from tests.authenticator import SoftAuthenticator


def member_of_key(system: Any, key: str) -> str:
    principal = live_key(system.engine, key_id_of(key), datetime.now(UTC))
    assert principal is not None
    return principal.member_id


def invitation_path(system: Any, key: str, *, valid_for: timedelta = timedelta(hours=1)) -> str:
    """A one-time link for the member a test key belongs to (as their lead would make it)."""
    token, _ = invite(system.engine, member_of_key(system, key), datetime.now(UTC), valid_for=valid_for,
                      actor="operator")
    return f"/join/{token}"


def page_csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None, path
    return found.group(1)


def join(client: TestClient, path: str, phone: SoftAuthenticator, device: str = "work phone") -> httpx.Response:
    csrf = page_csrf(client, path)
    options = client.post(f"{path}/options", json={"csrf": csrf})
    assert options.status_code == 200, options.text
    return client.post(path, json={"csrf": csrf, "device": device, "credential": phone.create(options.json())})


def sign_in(client: TestClient, phone: SoftAuthenticator, *, shared: bool = False, next_page: str = "/people",
            **change: Any) -> httpx.Response:
    """Sign in with the phone's passkey; `change` alters the phone's answer (origin=, rp_id=)."""
    csrf = page_csrf(client, "/sign-in")
    options = client.post("/sign-in/passkey/options", json={"csrf": csrf})
    if options.status_code != 200:
        return options
    body = {"csrf": csrf, "next": next_page, "credential": phone.get(options.json(), **change)}
    if shared:
        body["shared"] = "yes"
    return client.post("/sign-in/passkey", json=body)


def enrolled(system: Any, key: str, client: TestClient | None = None) -> SoftAuthenticator:
    """A phone with a passkey for the key's member, made from an invitation (which signs in `client`)."""
    phone = SoftAuthenticator(system.settings.origin)
    joined = join(client or TestClient(system.client.app), invitation_path(system, key), phone)
    assert joined.status_code == 200, joined.text
    return phone
