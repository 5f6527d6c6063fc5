"""The browser tests' Chromium (Debian's package, never a download) and their accessibility check
(axe-core through axe-playwright-python)."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import pytest


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("JOURNEYS_REQUIRE_BROWSER"):
            pytest.fail("JOURNEYS_REQUIRE_BROWSER is set but Debian's chromium is not installed")
        pytest.skip("no chromium: apt-get install chromium (.ci/run does)")
    return found


def accessible(page: Any, where: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page)
    serious = [v for v in found.response["violations"] if v.get("impact") in ("serious", "critical")]
    print(f"\naxe on {where}: {len(found.response['violations'])} violations, {len(serious)} serious or critical")
    assert serious == [], json.dumps(serious, indent=1)[:3000]
