"""Where a webhook may point, checked at registration (the URL) and at connection (every address
the name resolves to). The connection check runs a real aiohttp client against a real server on
127.0.0.1; only the name's answer is made up (there is no DNS to poison on this machine)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from schemas.webhooks.targets import Targets, url_refused
from streams.delivery.sender import ANSWER_CAP, PartnerResolver, _read_capped, error_kind

REFUSED = ["https://127.0.0.1/", "https://[::1]/", "https://localhost/", "https://169.254.169.254/latest/meta-data/",
           "https://10.1.2.3/", "https://192.168.0.1/", "https://172.16.0.1/", "https://[fd00::1]/",
           "https://[fe80::1]/", "https://[::ffff:127.0.0.1]/", "https://0.0.0.0/", "https://224.0.0.1/",
           "https://printer.local/", "https://db.internal/", "http://partner.example/", "ftp://partner.example/",
           "https://user:pass@partner.example/"]


@pytest.mark.parametrize("url", REFUSED)
def test_a_url_inside_the_network_is_refused(url: str) -> None:
    assert url_refused(url, Targets()) is not None


def test_a_partners_url_is_accepted_and_the_settings_open_only_what_they_name() -> None:
    assert url_refused("https://hooks.thebrick.example/journeys", Targets()) is None
    on_premises = Targets(private=True)
    assert url_refused("https://10.1.2.3/", on_premises) is None
    assert url_refused("https://[fd00::1]/", on_premises) is None
    for still in ("https://127.0.0.1/", "https://169.254.169.254/", "https://[fe80::1]/"):
        assert url_refused(still, on_premises) is not None
    development = Targets(loopback_http=True)
    assert url_refused("http://127.0.0.1:8080/hook", development) is None
    assert url_refused("http://partner.example/", development) is not None
    assert url_refused("https://10.1.2.3/", development) is not None


class Answers(aiohttp.abc.AbstractResolver):
    """A name server's answer, made up: every name resolves to 127.0.0.1."""

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[Any]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


async def _post_through(targets: Targets, body_size: int = 2) -> tuple[int | None, str | None, int]:
    served = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        return web.Response(body=b"x" * body_size)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    resolver = PartnerResolver(targets)
    resolver.inner = Answers()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver)) as client:
            try:
                async with client.post(f"http://partner.example:{port}/hook", data=b"{}") as answered:
                    await _read_capped(answered)
                    return answered.status, None, served
            except aiohttp.ClientError as failure:
                return None, error_kind(failure), served
    finally:
        await runner.cleanup()


def test_a_name_that_resolves_inside_is_refused_when_connecting() -> None:
    # Registration saw only "partner.example"; the connection sees 127.0.0.1 and does not go.
    status, error, served = asyncio.run(_post_through(Targets()))
    assert (status, error, served) == (None, "refused-address", 0)


def test_the_same_connection_goes_where_the_setting_allows_it_and_a_long_answer_is_cut() -> None:
    # Shows the refusal above is the address check, not a broken test server.
    assert asyncio.run(_post_through(Targets(loopback_http=True))) == (200, None, 1)
    assert asyncio.run(_post_through(Targets(loopback_http=True), body_size=ANSWER_CAP * 8)) == (200, None, 1)
