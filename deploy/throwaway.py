"""A throwaway system's settings: fresh topics in a fresh state directory, on its own local
broker unless KAFKA_BOOTSTRAP_SERVERS names one. Used by the benchmarks and the screenshots."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deploy.kafka.broker import LocalBroker
from deploy.processes import free_port
from deploy.topics import create_topics
from schemas.settings import Settings

PROJECT = Path(__file__).resolve().parent.parent


@contextmanager
def throwaway_settings(name: str, **overrides: Any) -> Iterator[Settings]:
    """Settings with fresh topics in a fresh state directory, on KAFKA_BOOTSTRAP_SERVERS or on a
    local broker of the benchmark's own, stopped afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=f"journeys-{name}-"))
    broker = None
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        broker = LocalBroker(state_dir=workdir, port=free_port(), controller_port=free_port(), heap="1g",
                             cache_dir=PROJECT / ".state")
        broker.start(progress=lambda line: print(f"  {line}"))
        servers = broker.bootstrap_servers
    tag = uuid.uuid4().hex[:8]
    try:
        settings = Settings(**{
            "kafka_bootstrap_servers": servers, "topic_prefix": f"bench-{tag}.", "app_id": f"journeys-bench-{tag}",
            "state_dir": workdir, "database_url": f"sqlite:///{workdir / 'bench.db'}",
            "rate_limit_per_second": 0,  # a benchmark measures the pipeline, not one key's allowance
            "cookies_secure": False,  # its pages are signed in to over plain http on 127.0.0.1
            **overrides,
        })
        create_topics(settings)
        yield settings
    finally:
        if broker is not None:
            broker.stop()
