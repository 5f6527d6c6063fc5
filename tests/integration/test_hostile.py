"""Hostile input: each class gets its status and a problem naming what was wrong, and nothing of
it reaches Kafka (the intake topic does not grow)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from readmodel.data_keys import keyring
from schemas.events import decode_event, opened_event
from schemas.topics import INTAKE
from tests.builders import contact_body, report_body
from tests.conftest import System

pytestmark = pytest.mark.integration


def _with(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


REPORT = report_body()
CONTACT = contact_body("00000000-0000-4000-8000-000000000001")

# (endpoint, body, the field the problem must name, the words it must say)
FIELD_CASES = {
    "nul-in-a-name": ("/v1/contacts", _with(CONTACT, ("personal", "known_as"), "Bo\x00b"),
                      ["body", "personal", "known_as"], "control character"),
    "right-to-left-override": ("/v1/contacts", _with(CONTACT, ("personal", "known_as"), "Bo\u202eb"),
                               ["body", "personal", "known_as"], "bidirectional"),
    "zero-width-space": ("/v1/contacts", _with(CONTACT, ("personal", "aliases"), ["Da\u200bve"]),
                         ["body", "personal", "aliases", 0], "invisible"),
    "mixed-script-confusable": ("/v1/contacts", _with(CONTACT, ("personal", "known_as"), "D\u0430ve"),
                                ["body", "personal", "known_as"], "mixes scripts"),
    "latitude-as-a-string": ("/v1/reports", _with(REPORT, ("personal", "place", "latitude"), "51.5"),
                             ["body", "personal", "place", "latitude"], "number"),
    "time-as-a-number": ("/v1/reports", _with(REPORT, ("occurred_at",), 1700000000),
                         ["body", "occurred_at"], "ISO 8601"),
    "control-character-in-free-text": ("/v1/reports", _with(REPORT, ("personal", "person_description"),
                                                             "red coat\x1b[2J"),
                                       ["body", "personal", "person_description"], "control character"),
}


@pytest.mark.parametrize("case", list(FIELD_CASES))
def test_hostile_values_are_refused_naming_the_field(system: System, case: str) -> None:
    path, body, field, said = FIELD_CASES[case]
    response = system.post(path, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and field in [e["loc"] for e in problem["errors"]]
    assert said in response.text
    assert system.topic_records(INTAKE) == []


def test_text_is_stored_in_composed_form(system: System) -> None:
    decomposed = _with(CONTACT, ("personal", "known_as"), "Zoe\u0301")
    assert system.post("/v1/contacts", decomposed).status_code == 202
    (record,) = system.topic_records(INTAKE)
    event = decode_event(record.value)
    opened = opened_event(event, keyring(system.engine).opening({part.key for part in event.sealed}))
    assert opened.personal.known_as == "Zo\u00e9"  # type: ignore[union-attr]


def _raw(system: System, path: str, content: bytes, key: str | None = None, **headers: str) -> httpx.Response:
    return system.client.post(path, content=content, headers={
        "X-API-Key": key or system.frontline_key, "Content-Type": "application/json", **headers})


def test_a_duplicate_key_is_refused_even_when_the_last_copy_is_valid(system: System) -> None:
    valid = json.dumps(REPORT)
    duplicated = valid[:-1] + ', "occurred_at": "not a time", "occurred_at": ' + json.dumps(REPORT["occurred_at"]) + "}"
    response = _raw(system, "/v1/reports", duplicated.encode())
    assert response.status_code == 400 and "'occurred_at' appears twice" in response.json()["detail"]
    assert system.topic_records(INTAKE) == []


def test_deep_nesting_is_refused_with_why(system: System) -> None:
    response = _raw(system, "/v1/reports", b"[" * 20_000 + b"]" * 20_000)
    assert response.status_code == 400 and "nests deeper than" in response.json()["detail"]
    assert system.topic_records(INTAKE) == []


def test_size_and_type_before_work(system: System) -> None:
    # A 10 MB body: 413, whether its length is declared or it comes in chunks.
    huge = json.dumps(_with(REPORT, ("personal", "person_description"), "x" * 10_000_000)).encode()
    assert _raw(system, "/v1/reports", huge).status_code == 413

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(huge), 65536):
            yield huge[start:start + 65536]

    chunked = system.client.post("/v1/reports", content=chunks(), headers={
        "X-API-Key": system.frontline_key, "Content-Type": "application/json"})
    assert chunked.status_code == 413 and "over the limit" in chunked.json()["detail"]
    # A 1 MB field: over the body limit too.
    assert _raw(system, "/v1/reports", json.dumps(_with(REPORT, ("personal", "person_description"),
                                                         "y" * 1_000_000)).encode()).status_code == 413
    # The key first: without one, nothing of the body is looked at.
    anonymous = system.client.post("/v1/reports", content=huge, headers={"Content-Type": "application/json"})
    assert anonymous.status_code == 401
    # JSON only.
    for kind, content in (("text/plain", b"hello"), ("application/x-www-form-urlencoded", b"a=1"),
                          ("application/xml", b"<report/>")):
        refused = _raw(system, "/v1/reports", content, **{"Content-Type": kind})
        assert refused.status_code == 415 and kind in refused.json()["detail"]
    assert system.topic_records(INTAKE) == []


def test_a_query_date_must_be_a_date(system: System) -> None:
    response = system.call("GET", "/v1/beds/availability?night=0", system.outreach_key)
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["query", "night"]


def test_one_keys_runaway_script_is_limited_and_told_when_to_come_back(make_settings) -> None:  # noqa: ANN001
    limited = System(make_settings(rate_limit_per_second=5, rate_limit_burst=10))
    try:
        answers = [limited.call("GET", "/v1/beds/providers", limited.outreach_key) for _ in range(15)]
        statuses = [a.status_code for a in answers]
        assert statuses[:10] == [200] * 10 and 429 in statuses[10:]
        refused = next(a for a in answers if a.status_code == 429)
        assert int(refused.headers["Retry-After"]) >= 1
        # Another key is not slowed by it.
        assert limited.call("GET", "/v1/beds/providers", limited.council_key).status_code == 200
        time.sleep(int(refused.headers["Retry-After"]))
        assert limited.call("GET", "/v1/beds/providers", limited.outreach_key).status_code == 200
    finally:
        limited.close()


def test_open311_posts_spend_the_same_allowance_as_the_keys_v1_calls(make_settings) -> None:  # noqa: ANN001
    limited = System(make_settings(rate_limit_per_second=5, rate_limit_burst=10))
    try:
        post = {"service_code": "rough-sleeping", "api_key": limited.frontline_key, "lat": "53.5451",
                "long": "-2.6325", "description": "Man, green coat"}
        statuses = [limited.call("GET", "/v1/beds/providers", limited.frontline_key).status_code for _ in range(10)]
        assert statuses == [200] * 10
        refused = limited.client.post("/open311/v2/requests.json", data=post)
        assert refused.status_code == 429, refused.text
        assert refused.json()[0]["code"] == 429 and "limit is 10 requests" in refused.json()[0]["description"]
        assert int(refused.headers["Retry-After"]) >= 1
        # Another key still reports.
        other = limited.client.post("/open311/v2/requests.json", data={**post, "api_key": limited.outreach_key})
        assert other.status_code == 201, other.text
    finally:
        limited.close()


def test_open311_reads_a_bounded_form_and_nothing_else(system: System) -> None:
    post = {"service_code": "rough-sleeping", "api_key": system.frontline_key, "lat": "53.5451", "long": "-2.6325"}
    as_json = system.client.post("/open311/v2/requests.json", json=post)
    assert as_json.status_code == 415 and "x-www-form-urlencoded" in as_json.json()[0]["description"]
    huge = system.client.post("/open311/v2/requests.json", data={**post, "description": "x" * 2_000_000})
    assert huge.status_code == 413 and huge.json()[0]["code"] == 413
    twice = system.client.post("/open311/v2/requests.json", content="service_code=rough-sleeping&lat=1&lat=2",
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert twice.status_code == 400 and "lat is given twice" in twice.json()[0]["description"]
