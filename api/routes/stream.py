"""The live stream: journey updates as Server-Sent Events, filtered like webhooks (api/stream.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, SettingsDep
from api.routes.subscriptions import SUBSCRIBERS, Family
from api.stream import Broadcaster, Client, parse_cursor
from journey.delivery import Scope, Wanted, update_event, wants
from readmodel.keys import Principal, authenticate
from readmodel.sharing import Push, disclosed_update
from schemas.common import AreaCode
from schemas.progress import Stage
from schemas.topics import JOURNEY_UPDATES

router = APIRouter(prefix="/v1", tags=["subscriptions"])

ABOUT = """Journey updates as they happen, as Server-Sent Events (`text/event-stream`).

Each `journey.update` event's data is the same CloudEvent a webhook delivers, filtered by the
sharing policy for the caller when it is sent; its `id` is a cursor: reconnect with it in
`Last-Event-ID` to get what was missed. Other events: `reset` (the cursor is further back than
the server keeps: reload, then carry on), `dropped` (this client read too slowly and is
disconnected: reconnect with Last-Event-ID). A comment line is sent when idle, as a heartbeat."""


def broadcaster(request: Request) -> Broadcaster:
    app = request.app
    if getattr(app.state, "broadcaster", None) is None:
        settings = app.state.settings
        app.state.broadcaster = Broadcaster(settings.kafka_bootstrap_servers, settings.topic(JOURNEY_UPDATES),
                                            settings.topic_partitions, settings.stream_keep,
                                            settings.stream_client_buffer,
                                            connection=settings.kafka_options(for_asyncio=True))
    return app.state.broadcaster


@router.get("/stream", description=ABOUT, response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "The stream"},
                       503: {"description": "The live stream cannot reach Kafka now"}})
async def stream(request: Request, engine: EngineDep, settings: SettingsDep,
                 families: Annotated[list[Family] | None, Query(max_length=20)] = None,  # type: ignore[valid-type]
                 stages: Annotated[list[Stage] | None, Query(max_length=20)] = None,
                 areas: Annotated[list[AreaCode] | None, Query(max_length=100)] = None,
                 scope: Scope = Scope.RELATED,
                 last_event_id: Annotated[str | None, Header(max_length=400)] = None,
                 principal: Principal = SUBSCRIBERS) -> EventSourceResponse:
    wanted = Wanted(families=frozenset(families or ()), stages=frozenset(s.value for s in stages or ()),
                    areas=frozenset(areas or ()), scope=scope)
    try:
        fanout = await asyncio.wait_for(broadcaster(request).started(), 10)
    except TimeoutError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the live stream cannot reach Kafka now") from None
    client = fanout.join(parse_cursor(last_event_id, fanout.partitions))
    key = request.headers.get("x-api-key", "")
    return EventSourceResponse(_events(client, fanout.leave, engine, settings, principal, wanted, key),
                               ping=settings.stream_heartbeat_s)


async def _events(client: Client, leave, engine, settings, principal: Principal, wanted: Wanted,  # noqa: ANN001
                  key: str) -> AsyncIterator[ServerSentEvent]:
    try:
        if client.reset:
            yield ServerSentEvent(event="reset", data=json.dumps({"reason": "resumed from further back than is kept"}))
        checked = asyncio.get_running_loop().time()
        while True:
            if client.dropped.is_set():
                said = f"more than {client.limit} updates waited for this client; reconnect with Last-Event-ID"
                yield ServerSentEvent(event="dropped", data=json.dumps({"reason": said}))
                return
            getting = asyncio.ensure_future(client.queue.get())
            dropping = asyncio.ensure_future(client.dropped.wait())
            done, _ = await asyncio.wait({getting, dropping}, timeout=settings.stream_heartbeat_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            dropping.cancel()
            if getting not in done:
                getting.cancel()
                continue
            item = getting.result()
            now = datetime.now(UTC)
            if asyncio.get_running_loop().time() - checked > 5:
                # A key revoked or expired while the stream is open ends it within seconds.
                if await run_in_threadpool(authenticate, engine, key, now) is None:
                    return
                checked = asyncio.get_running_loop().time()
            update = item.update
            if not wants(wanted, event_type=update.event_type, stage=update.stage, area=update.area):
                continue
            push = Push(principal.viewer, update.person_id, update.event_id, related_only=wanted.scope is Scope.RELATED,
                        endpoint="GET /v1/stream")
            disclosed = await run_in_threadpool(disclosed_update, engine, push, settings=settings, now=now)
            if disclosed is None:
                continue
            event = update_event(event_id=f"{update.event_id}/{update.sequence}", event_type=update.event_type,
                                 person_id=update.person_id, refolded=update.refolded, disclosed=disclosed, now=now)
            yield ServerSentEvent(id=item.cursor, event="journey.update", data=json.dumps(event))
    finally:
        leave(client)
