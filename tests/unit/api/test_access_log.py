"""The access log names the route, never the path as sent: no query string, no id, no address."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.access_log import AccessLog


def test_the_access_log_writes_the_route_template_and_nothing_sent(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()

    @app.get("/v1/people/{person_id}/journey")
    def journey(person_id: str, name: str = "") -> dict[str, str]:
        return {"person_id": person_id}

    app.add_middleware(AccessLog)
    with caplog.at_level(logging.INFO, logger="journeys.access"):
        client = TestClient(app)
        assert client.get("/v1/people/4f1c2a/journey?name=Jonno+Smith&date_of_birth=1979-04-05").status_code == 200
        assert client.get("/nowhere?name=Jonno").status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "journeys.access"]
    assert len(lines) == 2
    assert lines[0].startswith("GET /v1/people/{person_id}/journey 200 ")
    assert lines[1].startswith("GET (no route) 404 ")
    for line in lines:
        assert "Jonno" not in line and "4f1c2a" not in line and "1979" not in line and "testclient" not in line
