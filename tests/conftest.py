"""Fixtures: one Kafka broker and one PostgreSQL server for the session; an isolated system per use."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from api.main import create_app
from deploy.kafka.broker import LocalBroker
from deploy.processes import Part, free_port, start_worker
from deploy.topics import create_topics
from readmodel.database import read_model
from readmodel.keys import Role, issue_key
from schemas.settings import Settings

PROJECT = Path(__file__).resolve().parent.parent


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@dataclass(frozen=True)
class Broker:
    bootstrap_servers: str
    data_dir: Path | None = None  # where its partitions' files are, when the tests run it from its jars


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """KAFKA_BOOTSTRAP_SERVERS if set; else testcontainers where Docker answers; else the local jars."""
    if servers := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield Broker(servers)
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:3.9.1") as kafka:
            yield Broker(kafka.get_bootstrap_server())
        return
    broker = LocalBroker(
        state_dir=tmp_path_factory.mktemp("kafka"),
        port=free_port(),
        controller_port=free_port(),
        heap="1g",
        cache_dir=PROJECT / ".state",
    )
    broker.start(progress=lambda line: print(f"[broker] {line}"))
    try:
        yield Broker(broker.bootstrap_servers, broker.home / "data")
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Broker) -> str:
    return kafka_broker.bootstrap_servers


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DATABASE_URL_POSTGRES if set; else a throwaway server from Debian's PostgreSQL packages."""
    if url := os.environ.get("DATABASE_URL_POSTGRES"):
        yield url
        return
    bin_dir = _postgres_bin()
    if bin_dir is None:
        if os.environ.get("JOURNEYS_REQUIRE_POSTGRES"):
            pytest.fail("JOURNEYS_REQUIRE_POSTGRES is set but no PostgreSQL server binaries were found")
        pytest.skip("no PostgreSQL server binaries: apt-get install postgresql, or set DATABASE_URL_POSTGRES")
    # Outside pytest's private temp tree: the server runs as the `postgres` user when we are root.
    data = Path(tempfile.mkdtemp(prefix="journeys-postgres-"))
    port = free_port()
    # initdb refuses to run as root; Debian's package creates the `postgres` user for this.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        data.chmod(0o755)
        shutil.chown(data, "postgres")

    def run(*command: str) -> None:
        done = subprocess.run([*as_user, *command], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    run(str(bin_dir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "journeys")
    run(str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-w", "-l", str(data / "db" / "server.log"),
        "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        yield f"postgresql+psycopg://journeys@127.0.0.1:{port}/postgres"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "stop")
        shutil.rmtree(data, ignore_errors=True)


def fresh_postgres_database(server: str, prefix: str) -> str:
    """A new, empty database in the PostgreSQL server; its URL."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return f"{server.rsplit('/', 1)[0]}/{name}"


@pytest.fixture
def make_settings(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Settings]:
    """Settings with their own topics, consumer group and database: nothing seen by another test."""

    def make(**overrides: Any) -> Settings:
        tag = uuid.uuid4().hex[:10]
        state = tmp_path_factory.mktemp(f"state-{tag}")
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": kafka_bootstrap,
            "topic_prefix": f"test-{tag}.",
            "app_id": f"journeys-test-{tag}",
            "state_dir": state,
            "database_url": f"sqlite:///{state / 'read-model.db'}",
            "topic_partitions": 2,
            "api_port": free_port(),
            # Static membership: a restarted worker takes its partitions back without waiting.
            "worker_instance_id": "worker-1",
            # Tests send as fast as they can through one key; tests/integration/test_hostile.py
            # turns the limit on to test it.
            "rate_limit_per_second": 0,
            # The test client and the browser tests speak plain http to 127.0.0.1.
            "cookies_secure": False,
            **overrides,
        }
        settings = Settings(**values)
        create_topics(settings)
        return settings

    return make


class System:
    """A worker process and an in-process API on one isolated set of topics and one database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = read_model(settings)
        self.worker: Part | None = None
        self.client = TestClient(create_app(settings))
        self.client.__enter__()
        now = datetime.now(UTC)
        self.outreach_key = issue_key(self.engine, organisation="town-centre-outreach", role=Role.OUTREACH, now=now)
        self.frontline_key = issue_key(self.engine, organisation="street-services", role=Role.FRONTLINE, now=now)
        self.brick_key = issue_key(self.engine, organisation="the-brick", role=Role.CHARITY, now=now)
        self.council_key = issue_key(self.engine, organisation="the-council", role=Role.COUNCIL, now=now)

    def start_worker(self) -> None:
        self.worker = start_worker(self.settings, self.settings.state_dir / f"worker-{time.monotonic_ns()}.log")

    def stop_worker(self) -> None:
        if self.worker:
            self.worker.stop()

    def close(self) -> None:
        self.stop_worker()
        self.client.__exit__(None, None, None)
        self.engine.dispose()

    def post(self, path: str, body: dict[str, Any], key: str | None = None, **headers: str) -> httpx.Response:
        key = key or (self.outreach_key if path.endswith("contacts") else self.frontline_key)
        return self.client.post(path, json=body, headers={"X-API-Key": key, **headers})

    def call(self, method: str, path: str, key: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.client.request(method, path, json=body, headers={"X-API-Key": key})

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Poll until `check` returns something truthy; fail naming `what` otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result := check():
                return result
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def journey(self, person_id: str) -> httpx.Response:
        return self.client.get(f"/v1/people/{person_id}/journey", headers={"X-API-Key": self.outreach_key})

    def wait_journey(self, person_id: str, events: int, timeout: float = 30.0) -> dict[str, Any]:
        """The journey once it has at least `events` events on its timeline."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            response = self.journey(person_id)
            if response.status_code == 200:
                last = response.json()
                if len(last["timeline"]) >= events:
                    return last
            time.sleep(0.05)
        raise AssertionError(f"journey did not reach {events} events in {timeout}s; last seen: {last}")

    def topic_records(self, name: str) -> list[Any]:
        """Every record now in one of this system's topics."""
        return read_topic(self.settings.kafka_bootstrap_servers, self.settings.topic(name))


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[Any] = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


@pytest.fixture
def system(make_settings: Callable[..., Settings]) -> Iterator[System]:
    running = System(make_settings())
    running.start_worker()
    try:
        yield running
    finally:
        running.close()
