"""One API process's intake: accepted submissions a second with acks=all, and its answer times.

    deploy/dev bench api [--seconds 8] [--rates 250,500,1000,2000,4000] [--without-ids] [--kept 0]

Contacts go to `POST /v1/contacts` of one API process on the benchmark's own broker (no worker:
this measures the API), at each offered rate in turn, open loop: each submission is due at its
moment whether or not earlier ones were answered, and its answer time runs from that moment (a
client that waited for slow answers before sending would hide them). Each carries the client's
own id (`event_id`, the phone's way), so each costs the API its idempotency claim, unless
--without-ids. The client is asyncio on plain sockets with up to 512 kept-alive connections, so
that it can offer more than one API process takes; its own CPU is printed. A rate is kept when
at least 98 % of it was accepted (202) within the run and 3 s after it, with a p99 answer under
1 s; the run stops at the first rate the API did not keep. `--kept N` first fills the read
model with N earlier claims (a month of them is kept, RETENTION_IDEMPOTENCY_DAYS), so that the
run sees what a claim costs in a read model that has been taking submissions for weeks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from bench.common import cpu_seconds, machine, percentile
from deploy.processes import free_port, start_api
from deploy.throwaway import throwaway_settings
from readmodel.database import read_model
from readmodel.keys import Role, issue_key
from readmodel.tables import submissions
from schemas.settings import Settings

MOST_CONNECTIONS = 512
# uvicorn closes a connection idle for 5 s (its timeout_keep_alive); one idle longer here is not
# reused, or a submission would meet a connection the server had closed.
IDLE_SECONDS = 4.0


class Client:
    """Kept-alive HTTP/1.1 connections, one request at a time on each."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port = host, port
        self.head = (f"POST /v1/contacts HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {key}\r\n"
                     "Content-Type: application/json\r\nContent-Length: ")
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.opened = 0

    async def post(self, body: bytes) -> tuple[int, bytes]:
        now = time.monotonic()
        while self.idle and now - self.idle[0][2] > IDLE_SECONDS:
            self.idle.pop(0)[1].close()
        if self.idle:
            reader, writer, _ = self.idle.pop()
        else:
            self.opened += 1
            reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(f"{self.head}{len(body)}\r\n\r\n".encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        answer = await reader.readexactly(length)
        self.idle.append((reader, writer, time.monotonic()))
        return status, answer

    def close(self) -> None:
        for _reader, writer, _ in self.idle:
            writer.close()


def contact(with_id: bool) -> bytes:
    return json.dumps({
        **({"event_id": str(uuid.uuid4())} if with_id else {}),
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "details": {"team": "T", "worker": "W1", "bedded_down": True, "engaged": True, "area_code": "E05000001"},
        "personal": {"known_as": "J"},
    }).encode()


async def offer(client: Client, rate: float, seconds: float, with_id: bool) -> dict[str, object]:
    """Submissions at `rate` for `seconds`, open loop: the answers' times from each one's moment."""
    total = int(rate * seconds)
    bodies = [contact(with_id) for _ in range(total)]
    answers: list[float] = []
    statuses: Counter[int] = Counter()
    in_flight = asyncio.Semaphore(MOST_CONNECTIONS)
    start = time.perf_counter() + 0.05

    async def one(n: int) -> None:
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        async with in_flight:
            try:
                status, _ = await client.post(bodies[n])
            except (OSError, asyncio.IncompleteReadError):
                status = 0
        statuses[status] += 1
        if status == 202:
            answers.append(time.perf_counter() - due)

    tasks = [asyncio.create_task(one(n)) for n in range(total)]
    # A rate is kept if its submissions were answered within the run and a little after it.
    _done, late = await asyncio.wait(tasks, timeout=seconds + 3)
    for task in late:
        task.cancel()
    ended = time.perf_counter()
    return {"offered": rate, "accepted": statuses[202], "total": total, "elapsed": ended - start,
            "answers": answers, "statuses": statuses, "unanswered": len(late)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the run at each rate")
    parser.add_argument("--rates", default="250,500,1000,1500,2000,3000,4000", help="offered rates, in turn")
    parser.add_argument("--without-ids", action="store_true", help="submissions without the client's own id")
    parser.add_argument("--kept", type=int, default=0, help="earlier claims in the read model before the run")
    args = parser.parse_args()
    with throwaway_settings("bench-api", api_port=free_port()) as settings:
        run(settings, args)


def _keep_claims(engine: Engine, many: int) -> None:
    """Earlier claims, acknowledged, as a month of submissions leaves them."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for at in range(0, many, 20_000):
            connection.execute(insert(submissions), [
                {"organisation": "bench" if n % 7 == 0 else f"partner-{n % 7}", "idempotency_key": str(uuid.uuid4()),
                 "event_id": str(uuid.uuid4()), "request_sha256": "0" * 64, "produced": 1,
                 "created_at": now - timedelta(minutes=n)} for n in range(at, min(many, at + 20_000))])


def run(settings: Settings, args: argparse.Namespace) -> None:
    engine = read_model(settings)
    api = None
    try:
        print(f"machine: {machine()}")
        print(f"kafka: {settings.kafka_bootstrap_servers}; read model: {engine.dialect.name}; one API process; "
              f"{'without' if args.without_ids else 'with'} the client's own ids (idempotency claims)")
        key = issue_key(engine, organisation="bench", role=Role.OUTREACH, now=datetime.now(UTC))
        if args.kept:
            _keep_claims(engine, args.kept)
            print(f"claims kept before the run: {args.kept:,} (seven organisations', this one's among them)")
        api = start_api(settings, settings.state_dir / "api.log")
        asyncio.run(_rates(settings, key, api.process.pid, args))
    finally:
        if api is not None:
            api.stop()
        engine.dispose()


async def _rates(settings: Settings, key: str, api_pid: int, args: argparse.Namespace) -> None:
    client = Client(settings.api_host, settings.api_port, key)
    try:
        await _warm(client, args)
        kept = None
        for rate in (float(r) for r in args.rates.split(",")):
            api_cpu, own_cpu = cpu_seconds(api_pid), cpu_seconds(os.getpid())
            found = await offer(client, rate, args.seconds, not args.without_ids)
            api_cpu, own_cpu = cpu_seconds(api_pid) - api_cpu, cpu_seconds(os.getpid()) - own_cpu
            answers = found["answers"]
            accepted = found["accepted"]
            took = f"p50 {percentile(answers, 50) * 1000:,.0f} ms, p99 {percentile(answers, 99) * 1000:,.0f} ms" \
                if len(answers) > 10 else "too few answers"
            refused = {s: n for s, n in found["statuses"].items() if s != 202}
            unanswered = f", unanswered {found['unanswered']:,}" if found["unanswered"] else ""
            other = f", other answers {refused}" if refused else ""
            print(f"offered {rate:6,.0f}/s: accepted {accepted / args.seconds:6,.0f}/s "
                  f"({accepted:,} of {found['total']:,}{unanswered}{other}); answer {took}; "
                  f"API CPU {api_cpu / max(accepted, 1) * 1e6:,.0f} µs a submission "
                  f"({api_cpu / found['elapsed']:.0%} of a core), client {own_cpu / max(accepted, 1) * 1e6:,.0f} µs")
            if accepted < 0.98 * found["total"] or len(answers) <= 10 or percentile(answers, 99) >= 1.0:
                break
            kept = rate
        print(f"highest rate kept by one API process: {f'{kept:,.0f}/s' if kept else 'below the first rate'}  "
              f"(target >= 1,500/s; p99 answer <= 50 ms at 500/s)")
    finally:
        client.close()


async def _warm(client: Client, args: argparse.Namespace) -> None:
    # Connections opened and the API's first requests (imports, prepared statements) out of the figures.
    for _ in range(50):
        status, answer = await client.post(contact(not args.without_ids))
        if status != 202:
            raise RuntimeError(f"the API answered {status}: {answer[:200]!r}")


if __name__ == "__main__":
    main()
