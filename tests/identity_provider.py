"""A real OpenID Connect provider for the tests (deploy/identity_provider.py: panva's
oidc-provider on Node, on a free port of 127.0.0.1), and a member's browser at it: `browser`'s
cookies are the member's session there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from deploy.identity_provider import StandInProvider


class IdentityProvider(StandInProvider):
    def __init__(self, directory: Path, origin: str, **config: Any) -> None:
        super().__init__(directory, origin, **config)
        self.browser = httpx.Client(timeout=10.0)

    def sign_in(self, address: str, login: str) -> str:
        """Follow the platform's redirect to the provider as a browser does, sign in as `login`
        and agree; the address the provider sends the browser back to (not followed)."""
        for _ in range(12):
            answer = self.browser.get(address)
            if answer.status_code in (302, 303):
                address = urljoin(address, answer.headers["location"])
                if not address.startswith(self.issuer):
                    return address
                continue
            form = re.search(r'action="([^"]+)"', answer.text)
            assert answer.status_code == 200 and form, answer.text[:500]
            # The form's hidden fields (the prompt, or a page that submits itself: the provider
            # ending the session of another account before this one signs in), and the login.
            fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', answer.text))
            if fields.get("prompt") == "login":
                fields |= {"login": login, "password": "any"}
            answer = self.browser.post(urljoin(address, form.group(1)), data=fields)
            assert answer.status_code in (302, 303), answer.text[:500]
            address = urljoin(address, answer.headers["location"])
            if not address.startswith(self.issuer):
                return address
        raise AssertionError("the provider's sign-in did not end")

    def sign_out(self) -> None:
        """The member signs out at the provider: it tells each client on the back channel."""
        page = self.browser.get(f"{self.issuer}/session/end")
        form = re.search(r'<form[^>]*action="([^"]+)"', page.text)
        xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
        assert page.status_code == 200 and form and xsrf, page.text[:500]
        done = self.browser.post(urljoin(self.issuer, form.group(1)), data={"xsrf": xsrf.group(1), "logout": "yes"})
        assert done.status_code in (200, 302, 303), done.text[:500]

    def close(self) -> None:
        self.browser.close()
        super().close()
