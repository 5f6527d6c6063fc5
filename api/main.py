"""The FastAPI application: wiring of settings, read model, producer and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.producer import EventProducer
from api.routes import accounts, beds, identity, people, statistics, submissions
from deploy.settings import Settings, get_settings
from schemas.read_model import connect


def _problem(errors: list[dict]) -> JSONResponse:
    # Name the field and the problem; never echo the submitted values back into responses
    # that proxies and clients may log.
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = connect(settings.resolved_database_url)
        app.state.producer = EventProducer(settings.kafka_bootstrap_servers, settings.produce_timeout_s)
        yield
        app.state.producer.close()
        app.state.engine.dispose()

    app = FastAPI(title="Journeys", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        return _problem(list(error.errors()))

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # noqa: ANN001, ANN202
        if request.method in ("POST", "PUT", "PATCH"):
            declared = request.headers.get("content-length")
            size = int(declared) if declared and declared.isdigit() else len(await request.body())
            if size > settings.max_payload_bytes:
                return _problem([{
                    "loc": ["body"],
                    "msg": f"payload is {size} bytes; the limit is {settings.max_payload_bytes}",
                    "type": "payload_too_large",
                }])
        return await call_next(request)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        """Liveness: no key needed."""
        return {"status": "ok"}

    app.include_router(submissions.router)
    app.include_router(people.router)
    app.include_router(beds.router)
    app.include_router(identity.router)
    app.include_router(statistics.router)
    app.include_router(accounts.router)
    return app
