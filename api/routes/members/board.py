"""The board: the town centre's live picture, counts only, and the stream that tells it to refresh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api import board
from api.deps import EngineDep, SettingsDep
from api.routes.members.common import SERVICE, page_member, router, signed_in_member
from api.routes.pages import page, templates
from api.routes.stream import broadcaster
from journey.policy import MAY_READ_PEOPLE, safe_statistics
from readmodel.board import kept_flow
from readmodel.keys import Principal

BOARD = frozenset(MAY_READ_PEOPLE)


def _board_figures(request: Request, engine: EngineDep, settings: SettingsDep, principal: Principal) -> dict[str, Any]:
    now = datetime.now(UTC)
    # Worked out by a worker when asked for (readmodel/board.py): the last one meanwhile.
    flow = kept_flow(engine, now, timedelta(seconds=settings.board_flow_fresh_s))
    if flow is not None:
        flow = dict(safe_statistics(flow, principal.role))
        flow["chart"] = board.chart_bars(flow["weeks"])
    return {"f": board.figures(engine, settings, now, principal.role), "flow": flow,
            "updated": f"{now.astimezone(settings.zone):%H:%M:%S}"}


@router.get("/board", response_class=HTMLResponse)
def board_page(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """The live picture: no personal data; it updates itself as events arrive (/board/live)."""
    member = page_member(request, engine, BOARD, "The board is for partner organisations that work with people.")
    if isinstance(member, Response):
        return member
    principal, _csrf = member
    return page(request, "board.html", title="Town centre tonight", service=SERVICE, home="/board", wide=True,
                **_board_figures(request, engine, settings, principal))


@router.get("/board/figures", response_class=HTMLResponse)
def board_figures(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    member = signed_in_member(request, engine)
    if member is None or member[0].role not in BOARD:
        return Response(status_code=403)
    return templates.TemplateResponse(request, "board_figures.html",
                                      _board_figures(request, engine, settings, member[0]))


@router.get("/board/live")
async def board_live(request: Request, engine: EngineDep) -> Response:
    """A "changed" event (no data) whenever journeys change, at most five times a second: the page
    then fetches its figures again. Nothing of any person goes down this stream."""
    member = await run_in_threadpool(signed_in_member, request, engine)
    if member is None or member[0].role not in BOARD:
        return Response(status_code=403)
    fanout = await asyncio.wait_for(broadcaster(request).started(), 10)
    client = fanout.join(None)

    async def changes() -> AsyncIterator[ServerSentEvent]:
        try:
            while not client.dropped.is_set():
                await client.queue.get()
                await asyncio.sleep(0.2)  # let a burst of updates make one refresh
                while not client.queue.empty():
                    client.queue.get_nowait()
                yield ServerSentEvent(event="changed", data="{}")
        finally:
            fanout.leave(client)

    return EventSourceResponse(changes(), ping=15)
