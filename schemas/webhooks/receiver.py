"""A partner's receiver for journey updates: verify, drop repeats, then act (docs/partners.md)."""
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from standardwebhooks import Webhook, WebhookVerificationError


def receiver(secret: str, handle: Callable[[dict[str, Any]], None]) -> FastAPI:
    app, webhook, seen = FastAPI(), Webhook(secret), set()  # keep `seen` in your database in production

    @app.post("/journeys")
    async def receive(request: Request) -> dict[str, str]:
        try:  # the signature, and a webhook-timestamp within 5 minutes of now
            event = webhook.verify(await request.body(), dict(request.headers))
        except WebhookVerificationError:
            raise HTTPException(400, "not a valid delivery") from None
        if request.headers["webhook-id"] not in seen:  # at-least-once: a repeat has the same id
            seen.add(request.headers["webhook-id"])
            handle(event)  # e.g. event["data"]["person"]["stage"], event["data"]["entry"]["summary"]
        return {"status": "ok"}

    return app
