"""What every answer says to the browser about keeping and framing it.

- `Cache-Control: no-store` on everything but the static assets: pages and API answers may hold
  personal data, and a shared computer's cache or a proxy must not keep them.
- `Strict-Transport-Security` when cookies are Secure (production): the browser never tries the
  site over plain http again, where a session cookie could be caught.
- `Referrer-Policy: no-referrer`: a page's path (a person's id) never leaves with a link.
- `X-Content-Type-Options: nosniff` and `frame-ancestors 'none'`: no page is read as another
  type or framed by another site (clickjacking a form)."""

from __future__ import annotations

from typing import Any

STATIC = "/static/"
HSTS = b"max-age=63072000; includeSubDomains"


class SecurityHeaders:
    """A pure ASGI middleware: it adds headers an answer does not set itself."""

    def __init__(self, app: Any, *, strict_transport: bool) -> None:
        self.app = app
        self.strict_transport = strict_transport

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(STATIC)

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                wanted = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                          (b"content-security-policy", b"frame-ancestors 'none'")]
                if not static:
                    wanted.append((b"cache-control", b"no-store"))
                if self.strict_transport:
                    wanted.append((b"strict-transport-security", HSTS))
                headers.extend((name, value) for name, value in wanted if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
