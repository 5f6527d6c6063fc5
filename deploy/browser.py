"""Chromium driven by Playwright, as the screenshots, the browser tests and the board's benchmark drive it."""

from __future__ import annotations

from typing import Any


def passkey_store(page: Any) -> tuple[Any, str]:
    """The page's virtual authenticator (Chromium's DevTools WebAuthn domain, in place of a
    phone): a platform passkey store whose fingerprint check always passes (user verification).
    Its DevTools session and id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    return cdp, added["authenticatorId"]


def join(page: Any, invitation: str) -> None:
    """A member makes a passkey from their invitation's link, which signs them in."""
    page.goto(invitation)
    page.click("#make-passkey")
    page.wait_for_url(lambda url: "/join/" not in url)
