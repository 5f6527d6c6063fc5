"""The FastAPI application: wiring of settings, read model, producer and routes."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.access_log import AccessLog
from api.guard import Guard, KeyAllowance
from api.headers import SecurityHeaders
from api.problems import declare, install
from api.producer import EventProducer
from api.public import Allowance
from api.routes import (
    accounts,
    beds,
    erasure,
    identity,
    members,
    open311,
    pages,
    people,
    referrals,
    statistics,
    stream,
    submissions,
    subscriptions,
)
from api.single_sign_on import IdentityProviders
from readmodel.data_keys import keyring
from readmodel.database import read_model
from readmodel.keys import KeyCheck
from schemas.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = read_model(settings)
        app.state.producer = EventProducer(settings.kafka_bootstrap_servers, settings.produce_timeout_s,
                                           app.state.engine, settings.kafka_options(for_asyncio=True))
        await app.state.producer.start()
        # What starting made (modules, the app, the pools) lives as long as the process: out of
        # the cycle collector's way, whose full passes over it were the API's longest pauses.
        gc.freeze()
        app.state.broadcaster = None  # the live stream's reader: started by its first client
        yield
        if app.state.broadcaster is not None:
            await app.state.broadcaster.stop()
        await app.state.producer.stop()
        keyring(app.state.engine).bind()  # whose the last new data keys are
        app.state.engine.dispose()
        app.state.public_allowance.close()
        app.state.sign_in_allowance.close()
        app.state.key_allowance.close()

    # FastAPI's own OpenTelemetry hooks off: nothing here configures a provider, and asking
    # whether one was configured cost 4 % of a submission's time.
    app = FastAPI(title="Journeys", version="0.1.0", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.public_allowance = Allowance(settings.public_reports_per_hour)
    app.state.sign_in_allowance = Allowance(settings.sign_in_failures_allowed, minutes=15)
    app.state.identity_providers = IdentityProviders(settings.sign_in_providers)
    app.state.key_allowance = KeyAllowance(settings.rate_limit_per_second, settings.rate_limit_burst)

    install(app)
    # Keys checked against rows at most a second old (revoked here: at once, see accounts.py).
    app.state.key_check = KeyCheck(lambda: app.state.engine)
    app.add_middleware(Guard, keys=app.state.key_check, max_body=settings.max_payload_bytes,
                       allowance=app.state.key_allowance, max_page_body=settings.page_max_body_bytes)
    app.add_middleware(SecurityHeaders, strict_transport=settings.cookies_secure)
    app.add_middleware(AccessLog)  # outermost: it sees every answer, the guard's refusals too

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        """Liveness: no key needed."""
        return {"status": "ok"}

    for routes in (submissions, referrals, people, erasure, beds, identity, statistics, accounts, subscriptions,
                   stream):
        app.include_router(declare(routes.router))
    # Pages for people and Open311: outside /v1 and its document (they have their own rules).
    app.include_router(pages.router)
    app.include_router(members.router)
    app.include_router(open311.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).resolve().parent / "static"), name="static")
    return app
