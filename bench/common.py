"""What every benchmark shares: the machine it ran on, its own Kafka and settings, percentiles."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deploy.kafka.broker import LocalBroker
from deploy.processes import free_port
from deploy.settings import Settings
from deploy.topics import create_topics

PROJECT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}"


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


@contextmanager
def bench_settings(name: str, **overrides: Any) -> Iterator[Settings]:
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
            "rate_limit_per_second": 0,  # the benchmarks measure the pipeline, not one key's allowance
            "cookies_secure": False,  # the board bench signs in over plain http to 127.0.0.1
            **overrides,
        })
        create_topics(settings)
        yield settings
    finally:
        if broker is not None:
            broker.stop()
