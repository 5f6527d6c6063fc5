"""Dependencies declared once: settings, the read model, the producer, the current principal.

Each is `async def` although none awaits: FastAPI runs a plain `def` dependency in its thread
pool, and a request took seven such hops before its route ran (half the API's CPU a
submission). None of these may block."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader
from sqlalchemy import Engine

from api.producer import EventProducer
from readmodel.keys import Principal, Role
from schemas.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_producer(request: Request) -> EventProducer:
    return request.app.state.producer


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ProducerDep = Annotated[EventProducer, Depends(get_producer)]

# Declared for the OpenAPI document; api/guard.py checks the key before any route runs.
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A member's key: POST /v1/members/{id}/keys")


async def get_principal(request: Request, _token: Annotated[str | None, Depends(_api_key)]) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "an X-API-Key header is required")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def allow(*roles: Role):  # noqa: ANN201 - a dependency factory
    """A dependency that admits only these organisation types. Admin keys manage members and
    keys; they read and record nothing about people unless admitted here by name."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the role {principal.role.value} may not do this")
        return principal

    return Depends(check)
