"""Webhooks benchmark: deliveries/s to many subscribers on loopback, and submission-to-delivery
latency at a steady rate while one subscriber answers slowly.

    deploy/dev bench webhooks [--subscribers 50] [--updates 400] [--rate 100] [--seconds 20]

1. Baseline: one asyncio client (aiohttp, the deliverer's) POSTs delivery-sized bodies to the same
   receiver with the same concurrency: the HTTP ceiling of this machine, in the same run.
2. Latency: one fast and one slow (--slow s) subscription; contacts at --rate/s for --seconds;
   each one's latency runs from just before its POST to its arrival at the fast endpoint. The
   slow endpoint's count shows it was served meanwhile, in its own slots.
3. Throughput: then --subscribers subscriptions (scope all) to the receiver's fast endpoints;
   --updates contacts about as many people go through the API; the clock runs from the first
   delivery's arrival to the last's. Every delivery is signed and built through the policy.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import httpx

from bench.common import machine, percentile
from deploy.processes import free_port, start_api, start_worker
from deploy.throwaway import throwaway_settings
from readmodel.database import read_model
from readmodel.keys import Role, issue_key
from schemas.settings import Settings


def arrivals(log: Path, after: int = 0) -> list[tuple[str, str, str, float]]:
    """The receiver's arrivals after its first `after` lines."""
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines()[after:]:
        parts = line.split()
        if len(parts) == 4:
            found.append((parts[0], parts[1], parts[2], float(parts[3])))
    return found


def wait_for(what: str, check, timeout: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def submit(settings: Settings, key: str, total: int, rate: float | None) -> dict[str, float]:
    """Contacts about new people through the API, at `rate`/s (None: as fast as it takes them);
    event id -> wall time just before its POST."""
    sent: dict[str, float] = {}
    senders = 8 if rate is None else max(8, int(rate / 10))
    start = time.perf_counter()
    lock = threading.Lock()

    def send_every(first: int) -> None:
        connection = http.client.HTTPConnection(settings.api_host, settings.api_port, timeout=30)
        headers = {"X-API-Key": key, "Content-Type": "application/json"}
        for n in range(first, total, senders):
            if rate:
                time.sleep(max(0.0, start + n / rate - time.perf_counter()))
            body = json.dumps({
                "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(), "person_id": None,
                "details": {"team": "bench-outreach", "worker": "W1", "bedded_down": True, "engaged": True},
                "personal": {"known_as": "J"},
            })
            at = time.time()
            connection.request("POST", "/v1/contacts", body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 202:
                raise RuntimeError(f"the API answered {response.status}: {answer[:200]!r}")
            with lock:
                sent[json.loads(answer)["event_id"]] = at
        connection.close()

    threads = [threading.Thread(target=send_every, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent


async def baseline(url: str, count: int, concurrency: int, body: bytes) -> float:
    """Plain POSTs/s from one aiohttp session (the deliverer's client) to the same receiver."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        queue = iter(range(count))

        async def worker() -> None:
            for _ in queue:
                async with client.post(url, data=body, headers={"content-type": "application/json"}) as answer:
                    await answer.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--updates", type=int, default=400, help="updates each subscriber gets in the throughput run")
    parser.add_argument("--rate", type=float, default=100.0, help="submissions per second in the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
    parser.add_argument("--slow", type=float, default=5.0, help="seconds the slow subscriber takes to answer")
    args = parser.parse_args()
    with throwaway_settings("webhooks", api_port=free_port(), webhook_allow_loopback_http=True,
                        webhook_timeout_s=max(10.0, args.slow * 2)) as settings:
        run(settings, args)


def run(settings: Settings, args: argparse.Namespace) -> None:
    workdir = settings.state_dir
    engine = read_model(settings)
    port, log = free_port(), workdir / "arrivals.log"
    receiver = subprocess.Popen([sys.executable, "-m", "bench.receiver", "--port", str(port), "--log", str(log),
                                 "--slow", str(args.slow)], stdin=subprocess.DEVNULL)
    parts = []
    try:
        print(f"machine: {machine()}")
        parts.append(start_worker(settings, workdir / "worker.log"))
        parts.append(start_api(settings, workdir / "api.log"))
        key = issue_key(engine, organisation="bench-outreach", role=Role.OUTREACH, now=datetime.now(UTC))
        base = f"http://127.0.0.1:{port}"
        wait_for("the receiver", lambda: _answers(base), 30)
        body = json.dumps({"data": {"entry": {"event_id": "baseline"}, "person": {}}, "pad": "x" * 1400}).encode()
        plain = asyncio.run(baseline(f"{base}/fast/baseline", 5000, args.subscribers * settings.webhook_in_flight,
                                     body))
        print(f"baseline:       {plain:10,.0f} plain POSTs/s to the receiver (one aiohttp client, same concurrency)")

        api = httpx.Client(base_url=f"http://127.0.0.1:{settings.api_port}", headers={"X-API-Key": key})
        before = len(arrivals(log))
        pair = [api.post("/v1/subscriptions", json={"url": f"{base}/{kind}/latency", "scope": "all"}).json()
                for kind in ("fast", "slow")]
        total = int(args.rate * args.seconds)
        sent = submit(settings, key, total, args.rate)
        fast: dict[str, float] = {}

        def all_fast() -> bool:
            for path, _id, event, at in arrivals(log, before):
                if path.startswith("/fast"):
                    fast.setdefault(event, at)
            return len(fast) >= total

        wait_for("every delivery to the fast subscriber", all_fast, 120)
        latencies = [fast[event] - at for event, at in sent.items()]
        slow = defaultdict(int)
        for path, *_ in arrivals(log, before):
            slow[path.split("/")[1]] += 1
        p50, p95, p99 = (percentile(latencies, q) * 1000 for q in (50, 95, 99))
        print(f"latency at {args.rate:.0f}/s for {args.seconds:.0f} s ({total:,} submissions), submission to "
              f"delivery: p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms (goal p99 <= 500 ms); "
              f"meanwhile the slow subscriber ({args.slow:.0f} s an answer) got {slow['slow']:,}")
        for subscription in pair:
            api.delete(f"/v1/subscriptions/{subscription['subscription_id']}")

        made = [api.post("/v1/subscriptions", json={"url": f"{base}/fast/{n}", "scope": "all"}).json()
                for n in range(args.subscribers)]
        before = len(arrivals(log))
        submit(settings, key, args.updates, None)
        expected = args.updates * args.subscribers
        wait_for("every delivery", lambda: len(arrivals(log, before)) >= expected, 600)
        got = arrivals(log, before)
        elapsed = max(a[3] for a in got) - min(a[3] for a in got)
        rate = len(got) / elapsed
        print(f"throughput:     {rate:10,.0f} deliveries/s  ({len(got):,} to {args.subscribers} subscribers in "
              f"{elapsed:.1f} s; {rate / plain:.0%} of the baseline; goal >= 1,000/s)")
        for subscription in made:
            api.delete(f"/v1/subscriptions/{subscription['subscription_id']}")

        api.close()
    finally:
        for part in parts:
            part.stop()
        receiver.terminate()
        receiver.wait()
        engine.dispose()


def _answers(base: str) -> bool:
    try:
        return httpx.post(f"{base}/fast/probe", content=b"{}", timeout=1).status_code == 204
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
