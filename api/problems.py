"""One error shape for the whole API: RFC 9457 problem details (application/problem+json).

`detail` says what was wrong in words; `errors` lists each invalid field (`loc`, `msg`, `type`).
Submitted values are never echoed back: proxies and clients log error bodies.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query or path, then the field's path")
    msg: str
    type: str


class Problem(BaseModel):
    """What went wrong (RFC 9457)."""

    type: str = Field("about:blank", description="about:blank: the status says what kind of problem")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


def problem_response(status: int, title: str | None, detail: str, errors: list[dict[str, Any]] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    body = Problem(title=title or HTTPStatus(status).phrase, status=status, detail=detail,
                   errors=[FieldError(**e) for e in errors] if errors is not None else None)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=MEDIA_TYPE,
                        headers=headers)


def _field_errors(errors: list[Any]) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in errors]


def _said(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])


def install(app: FastAPI) -> None:
    """Every refusal, whoever raises it, as a problem."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = _field_errors(list(error.errors()))
        return problem_response(422, "Invalid request", _said(errors), errors)

    @app.exception_handler(StarletteHTTPException)
    async def refused(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        if isinstance(error.detail, list):
            errors = _field_errors(error.detail)
            return problem_response(error.status_code, None, _said(errors), errors, headers=error.headers)
        return problem_response(error.status_code, None, str(error.detail), headers=error.headers)


def _declared(status: int, description: str) -> dict[str, Any]:
    return {"description": description, "model": Problem, "content": {MEDIA_TYPE: {}}}


# What any /v1 operation can answer besides its own success: declared on every router, so the
# OpenAPI document is the API (schemathesis checks it in .ci/run).
COMMON: dict[int | str, dict[str, Any]] = {
    401: _declared(401, "No X-API-Key, or one unknown, expired or revoked"),
    403: _declared(403, "This organisation type may not do this"),
    422: _declared(422, "A parameter or the body is invalid: `errors` names each field"),
    429: _declared(429, "Too many requests for this key: see Retry-After"),
}
WITH_BODY: dict[int | str, dict[str, Any]] = {
    **COMMON,
    400: _declared(400, "Not one JSON document: malformed, a key twice in one object, or nested too deep"),
    413: _declared(413, "The body is over the size limit"),
    415: _declared(415, "The body is not application/json"),
}
NOT_FOUND = {404: _declared(404, "Not there, or not this reader's to see")}
CONFLICT = {409: _declared(409, "Conflicts with what was sent before (an Idempotency-Key or id reused)")}
UNAVAILABLE = {503: _declared(503, "Kafka did not acknowledge: retry with the same Idempotency-Key")}


def declare(router: APIRouter) -> APIRouter:
    """Declare on each of the router's operations the refusals it can answer."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        answers: dict[int | str, dict[str, Any]] = dict(COMMON)
        if route.methods & {"POST", "PUT", "PATCH"}:
            answers |= WITH_BODY | CONFLICT | UNAVAILABLE
        if "{" in route.path:
            answers |= NOT_FOUND
        route.responses = {**answers, **route.responses}
    return router
