"""Runs the worker and the API as child processes with given settings (for `up`, tests, benchmarks)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr

from schemas.settings import Settings


def free_port() -> int:
    """A port on the loopback interface that nothing listens on right now."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _plain(value: Any) -> Any:
    """A setting's value as JSON takes it, secrets revealed: the child must read them back."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return {name: _plain(item) for name, item in value}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process read exactly these settings."""
    env = dict(os.environ)
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is not None:
            # Complex values travel as JSON, which is how pydantic-settings reads them back.
            env[name.upper()] = json.dumps(_plain(value)) if isinstance(value, dict | list | tuple) else str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Part:
    """One `journeys <part>` child process whose output goes to a log file."""

    def __init__(self, part: str, settings: Settings, log_file: Path) -> None:
        self.part = part
        self.settings = settings
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> Part:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "deploy.cli", self.part],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=settings_env(self.settings),
            )
        self.started_at = time.monotonic()
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        """Wait until the log shows `text` (written after this start)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"the {self.part} exited; see {self.log_file}")
            if text in self.log_file.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the {self.part} did not log {text!r} within {timeout:.0f}s; see {self.log_file}")

    def wait_for_http(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"the {self.part} exited; see {self.log_file}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop cleanly (SIGTERM lets the worker finish its batch); kill if it will not."""
        if not self.running():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Supervisor:
    """Keeps parts running: a part that exits is started again, after a pause that doubles with
    each death that follows a short run (1 s, 2 s, ... up to 60 s), and each restart is said.
    One part dying is never a reason to stop the others."""

    STEADY_S = 60.0  # a part that ran this long before dying starts again at once

    def __init__(self, parts: list[Part], say: Callable[[str], None]) -> None:
        self.parts = parts
        self.say = say
        self.pause = {id(part): 0.0 for part in parts}
        self.due: dict[int, float] = {}

    def check(self) -> None:
        now = time.monotonic()
        for part in self.parts:
            key = id(part)
            if part.running():
                continue
            if key not in self.due:
                ran = now - part.started_at
                self.pause[key] = 0.0 if ran >= self.STEADY_S else min(max(self.pause[key] * 2, 1.0), 60.0)
                self.due[key] = now + self.pause[key]
                code = part.process.returncode if part.process else None
                self.say(f"the {part.part} exited (code {code}) after {ran:.0f}s; "
                         f"restarting it in {self.pause[key]:.0f}s (log: {part.log_file})")
            elif now >= self.due[key]:
                del self.due[key]
                part.start()
                self.say(f"the {part.part} restarted")


def start_worker(settings: Settings, log_file: Path, timeout: float = 90.0) -> Part:
    worker = Part("worker", settings, log_file)
    log_file.unlink(missing_ok=True)
    worker.start().wait_for_log("journeys worker ready", timeout)
    return worker


def start_api(settings: Settings, log_file: Path, timeout: float = 60.0) -> Part:
    api = Part("api", settings, log_file)
    api.start().wait_for_http(f"http://{settings.api_host}:{settings.api_port}/health", timeout)
    return api
