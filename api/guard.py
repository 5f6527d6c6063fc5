"""Size and type before work: what every /v1 request passes before a route sees it (and, for the
pages' forms outside /v1, a type and a size limit before anything parses them).

In this order, each refusal an RFC 9457 problem naming what was wrong:
1. the API key (401): nothing of an unauthenticated request is read, however large;
2. the key's rate (429 with Retry-After): one partner's runaway script cannot starve the others;
3. for a request with a body: JSON only (415), read as it streams and stopped at the limit (413,
   chunked bodies too), a JSON document (400), no key twice in one object (400: a duplicate
   would otherwise let a later copy silently replace an earlier, checked one), nested at most
   MAX_DEPTH deep (400).
The route then validates the body against its schema (422, api/problems.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api.problems import problem_response
from readmodel.keys import KeyCheck

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_DEPTH = 32
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
# Open311 reads its own bounded form and answers in GeoReport's error format (api/routes/open311.py).
OPEN311 = "/open311/"
_PAGE_TYPES = frozenset({"application/x-www-form-urlencoded", "application/json"})
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;.*)?$", re.IGNORECASE)


class Refused(Exception):
    def __init__(self, status: int, title: str, detail: str, **headers: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers


def _depth(body: bytes) -> int:
    """How deeply the document nests, counted without parsing it (strings are left out first)."""
    deepest = depth = 0
    for byte in _STRINGS.sub(b'""', body):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def _no_key_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen:
            raise Refused(400, "Duplicate key", f"the key {key!r} appears twice in one object")
        seen.add(key)
    return dict(pairs)


def check_json(body: bytes) -> None:
    """Refuse a body that is not one well-formed JSON document of sane depth and unique keys."""
    if _depth(body) > MAX_DEPTH:
        raise Refused(400, "Too deeply nested", f"the JSON document nests deeper than {MAX_DEPTH} levels")
    try:
        json.loads(body, object_pairs_hook=_no_key_twice)
    except UnicodeDecodeError:
        raise Refused(400, "Not UTF-8", "the body is not UTF-8 text") from None
    except ValueError as error:
        raise Refused(400, "Not JSON", f"the body is not a JSON document ({error.args[0].split(':')[0]})") from None


class KeyAllowance:
    """Each key's requests in a moving window, counted in the API process's memory: /v1 (the
    Guard) and Open311's posts spend the same allowance, so a key cannot go round its limit."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage()) if per_second > 0 else None
        # A moving window of `burst` requests over burst/per_second seconds: a steady rate of
        # per_second, with bursts up to `burst`.
        self.limit = RateLimitItemPerSecond(burst, max(1, round(burst / per_second))) if per_second > 0 else None

    def seconds_to_wait(self, key_id: str) -> int:
        """0 if this key may make a request now (it is counted), else how long until it may."""
        if self.limiter is None or self.limit is None or self.limiter.hit(self.limit, key_id):
            return 0
        reset, _remaining = self.limiter.get_window_stats(self.limit, key_id)
        return max(1, int(reset - datetime.now(UTC).timestamp()) + 1)

    def said(self, wait: int) -> str:
        assert self.limit is not None
        return f"this key's limit is {self.limit.amount} requests per {self.limit.multiples} s; retry after {wait} s"

    def close(self) -> None:
        """Stop the storage's expiry timer (not a daemon thread: it would keep a process alive)."""
        if self.limiter is not None:
            self.limiter.storage.timer.cancel()


class Guard:
    """ASGI middleware in front of the API's /v1 routes (health and the docs pass untouched)."""

    def __init__(self, app: ASGIApp, *, keys: KeyCheck, max_body: int, allowance: KeyAllowance,
                 max_page_body: int = 64 * 1024) -> None:
        self.app = app
        self.keys = keys
        self.max_body = max_body
        self.max_page_body = max_page_body
        self.allowance = allowance

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            if scope["path"].startswith("/v1/"):
                receive = await self._checked(scope, receive)
            elif scope["method"] in ("POST", "PUT", "PATCH") and not scope["path"].startswith(OPEN311):
                receive = await self._page_body(scope, receive)
        except Refused as refused:
            response = problem_response(refused.status, refused.title, refused.detail, headers=refused.headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive) -> Receive:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        token = headers.get("x-api-key")
        if not token:
            raise Refused(401, "Unauthorized", "an X-API-Key header is required")
        now = datetime.now(UTC)
        principal = await self.keys.check(token, now)
        if principal is None:
            raise Refused(401, "Unauthorized", "the API key is unknown, expired or revoked")
        scope.setdefault("state", {})["principal"] = principal
        if wait := self.allowance.seconds_to_wait(principal.key_id):
            raise Refused(429, "Too many requests", self.allowance.said(wait), **{"Retry-After": str(wait)})
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return receive
        kind = headers.get("content-type", "")
        declared = headers.get("content-length")
        if kind and not _JSON_TYPE.match(kind):
            raise Refused(415, "Unsupported media type", f"the body must be application/json, not {kind.split(';')[0]}")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            raise Refused(413, "Content too large", f"the body is {declared} bytes; the limit is {self.max_body}")
        body = await self._read(receive)
        if body:
            if not kind:
                raise Refused(415, "Unsupported media type", "the body must be application/json (Content-Type)")
            check_json(body)
        return _replay(body)

    async def _page_body(self, scope: Scope, receive: Receive) -> Receive:
        """A page's form (or the phone's JSON contact, or Open311's post): a form or JSON only
        (no multipart: no page takes a file, and its parser is the costly one) and at most
        max_page_body bytes, read before anything parses it."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind and kind not in _PAGE_TYPES:
            raise Refused(415, "Unsupported media type",
                          f"a page's form is sent as {' or '.join(sorted(_PAGE_TYPES))}, not {kind}")
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_page_body:
            raise Refused(413, "Content too large", f"the body is {declared} bytes; the limit is {self.max_page_body}")
        return _replay(await self._read(receive, self.max_page_body))

    async def _read(self, receive: Receive, limit: int | None = None) -> bytes:
        """The body, read as it arrives and abandoned as soon as it passes the limit."""
        limit = limit or self.max_body
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Refused(400, "Disconnected", "the client went away before the body ended")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise Refused(413, "Content too large", f"the body is over the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
