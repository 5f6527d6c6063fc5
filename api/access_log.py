"""The API's access log: method, route template, status and time, never the path as sent.

uvicorn's own access log writes the path with its query string and the client's address: a
search term or a person's id in a URL, and a member of the public's address, would reach the log.
This writes the route's template (`/v1/people/{person_id}/journey`) instead."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("journeys.access")


class AccessLog:
    """A pure ASGI middleware (it does not buffer bodies, so the live stream streams)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered: list[int] = []

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answered.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "(no route)"
            log.info("%s %s %s %.1f ms", scope["method"], template, answered[0] if answered else "-",
                     (time.perf_counter() - started) * 1000)
