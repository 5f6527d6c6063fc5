"""A partner's endpoints for the webhooks benchmark, in a process of their own: every path under
/fast answers 204 at once, /slow after --slow seconds. Each arrival is written as one line,
"path webhook-id event-id unix-time", to --log (the benchmark reads it afterwards).

Signatures are not verified here: the benchmark measures the sender, and a verifying receiver
is tested in tests/integration/test_webhooks.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import uvicorn


def app(log_path: str, slow_s: float) -> Any:
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the life of the process

    async def serve(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        arrived = time.time()
        headers = dict(scope["headers"])
        entry = (json.loads(body).get("data") or {}).get("entry") or {}
        log.write(f"{scope['path']} {headers.get(b'webhook-id', b'-').decode()} {entry.get('event_id', '-')} "
                  f"{arrived:.6f}\n")
        if scope["path"].startswith("/slow"):
            await asyncio.sleep(slow_s)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return serve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--slow", type=float, default=5.0)
    args = parser.parse_args()
    uvicorn.run(app(args.log, args.slow), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False, backlog=4096)


if __name__ == "__main__":
    main()
