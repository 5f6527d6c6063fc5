"""The OpenAPI document is the API: schemathesis generates requests from the app's own document
(with a valid key and without one) against the real API process, broker and database, and
finds no server error, no undeclared status and no answer that breaks its declared schema."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.processes import start_api
from schemas.settings import Settings
from tests.conftest import System

pytestmark = pytest.mark.integration

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _schemathesis(url: str, headers: list[str], report: Path) -> tuple[int, str]:
    command = [str(Path(sys.executable).parent / "schemathesis"), "run", url, "--checks", CHECKS,
               "--max-examples", "15", "--seed", "20261202", "--workers", "1", "--phases", "examples,coverage,fuzzing",
               "--no-shrink", "--request-timeout", "20",
               # The live stream never ends, so a request-and-answer fuzzer cannot check it:
               # tests/integration/test_stream.py does.
               "--exclude-path", "/v1/stream", "--report", "ndjson", "--report-dir", str(report), *headers]
    # One worker: with two, hypothesis describes its filters with ast.parse in two threads at once,
    # and CPython 3.11's AST recursion counter is shared between threads (python/cpython#106905),
    # so a run failed now and then with "AST constructor recursion depth mismatch".
    # Run where its cache (.schemathesis/) is thrown away with the test's state.
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=report.parent)
    return done.returncode, done.stdout + done.stderr


def test_schemathesis_finds_the_api_true_to_its_document(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    system = System(settings)
    api = start_api(settings, settings.state_dir / "api.log")
    try:
        url = f"http://127.0.0.1:{settings.api_port}/openapi.json"
        cases = 0
        for who, headers in (("with a key", ["-H", f"X-API-Key: {system.council_key}"]), ("without one", [])):
            code, said = _schemathesis(url, headers, settings.state_dir / f"report-{len(headers)}")
            found = re.search(r"(\d+) generated", said)
            cases += int(found.group(1)) if found else 0
            print(f"\nschemathesis {who}: exit {code}\n{said[-2500:]}")
            assert code == 0, said[-6000:]
        print(f"schemathesis: {cases} generated cases in all")
    finally:
        api.stop()
        system.close()
