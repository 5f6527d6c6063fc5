"""The `journeys` command: run the whole system locally, or each part on its own."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx

from deploy.kafka.broker import BrokerUnavailable, LocalBroker
from schemas.settings import Settings, get_settings


def say(message: str) -> None:
    print(f"journeys: {message}", flush=True)


def local_broker(settings: Settings) -> LocalBroker:
    return LocalBroker(
        state_dir=settings.state_dir,
        port=settings.local_broker_port,
        controller_port=settings.local_controller_port,
        heap=settings.local_broker_heap,
    )


def uses_local_broker(settings: Settings) -> bool:
    """The local broker runs unless KAFKA_BOOTSTRAP_SERVERS names another cluster."""
    return "kafka_bootstrap_servers" not in settings.model_fields_set


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    broker = local_broker(settings)
    if args.action == "start":
        broker.start(progress=say)
    elif args.action == "stop":
        say("Kafka stopped" if broker.stop() else "Kafka was not running")
    else:
        pid = broker.pid()
        say(f"Kafka running (pid {pid}) on {broker.bootstrap_servers}" if pid else "Kafka not running")
    return 0


def cmd_topics(_args: argparse.Namespace, settings: Settings) -> int:
    from deploy.topics import create_topics

    created = create_topics(settings)
    say(f"created topics: {', '.join(created)}" if created else "all topics exist")
    return 0


def cmd_worker(_args: argparse.Namespace, settings: Settings) -> int:
    from mode import Worker as Runtime

    from streams.worker import Worker

    Runtime(Worker(settings), loglevel="INFO").execute_from_commandline()
    return 0


def cmd_rebuild(_args: argparse.Namespace, settings: Settings) -> int:
    from deploy.rebuild import RebuildRefused, rebuild

    try:
        done = rebuild(settings, say)
    except RebuildRefused as refused:
        say(f"not rebuilt: {refused}")
        return 1
    say(f"rebuilt {done.events:,} events in {done.seconds:.1f}s ({done.events / max(done.seconds, 1e-9):,.0f}/s)")
    return 0


def cmd_api(_args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.main import create_app

    # uvicorn's access log writes query strings and client addresses: api/access_log.py writes
    # the route template instead.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_level="info",
                access_log=False)
    return 0


def cmd_api_key(args: argparse.Namespace, settings: Settings) -> int:
    from readmodel.database import read_model
    from readmodel.keys import Role, issue_key

    token = issue_key(
        read_model(settings), organisation=args.organisation, role=Role(args.role),
        now=datetime.now(UTC), member_name=args.member, data_protection_lead=args.data_protection_lead,
        email=args.email,
    )
    print(token)
    return 0


def cmd_policy(_args: argparse.Namespace, _settings: Settings) -> int:
    from journey.policy import as_markdown

    print(as_markdown())
    return 0


def cmd_retention(_args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from readmodel.database import read_model
    from readmodel.retention import Schedule, apply_retention

    removed = apply_retention(read_model(settings), Schedule.configured(settings),
                              datetime.now(UTC))
    for what, count in removed.items():
        print(f"{what.replace('_', ' ')}: {count:,} removed")
    return 0


def demo_keys(settings: Settings) -> dict[str, str]:
    from deploy.scenario import ORGANISATIONS
    from readmodel.database import read_model
    from readmodel.keys import Role, issue_key

    engine = read_model(settings)
    now = datetime.now(UTC)
    return {
        "outreach": issue_key(engine, organisation=ORGANISATIONS["outreach"], role=Role.OUTREACH, now=now),
        "frontline": issue_key(engine, organisation=ORGANISATIONS["frontline"], role=Role.FRONTLINE, now=now),
        "brick": issue_key(engine, organisation=ORGANISATIONS["charity"], role=Role.CHARITY, now=now),
        "shelter": issue_key(engine, organisation="station-shelter-trust", role=Role.CHARITY, now=now),
        "council": issue_key(engine, organisation=ORGANISATIONS["council"], role=Role.COUNCIL, now=now),
    }


def demo_invitations(settings: Settings, keys: dict[str, str]) -> dict[str, str]:
    """One-time links with which the demo's members make a passkey and sign in to the pages (as
    their organisation's lead would send them): no key is pasted anywhere."""
    from readmodel.database import read_model
    from readmodel.keys import key_id_of, live_key
    from readmodel.passkeys import invite

    engine = read_model(settings)
    now = datetime.now(UTC)
    links = {}
    for who in ("outreach", "council", "brick", "frontline"):
        principal = live_key(engine, key_id_of(keys[who]), now)
        assert principal is not None
        token, _ = invite(engine, principal.member_id, now, valid_for=timedelta(hours=settings.invitation_hours),
                          actor="operator")
        links[who] = f"{settings.origin}/join/{token}"
    return links


# The demo council member's account at the stand-in identity provider (any password).
DEMO_SIGN_IN = {"c.jones": {"email": "c.jones@town-council.example", "name": "C Jones"}}


def demo_single_sign_on(settings: Settings, keys: dict[str, str]) -> str:
    """The demo council member signs in through the council's (stand-in) identity provider as
    c.jones: their sign-in name is set as the council's lead would set it. Returns the login."""
    from readmodel.database import read_model
    from readmodel.keys import key_id_of, live_key, set_sign_in_name
    from readmodel.passkeys import member_signing_in_as

    engine = read_model(settings)
    now = datetime.now(UTC)
    login, claims = next(iter(DEMO_SIGN_IN.items()))
    member = live_key(engine, key_id_of(keys["council"]), now)
    assert member is not None
    earlier = member_signing_in_as(engine, member.organisation, claims["email"])
    if earlier is not None and earlier.member_id != member.member_id:  # the member of an earlier run
        set_sign_in_name(engine, earlier.member_id, None, actor="operator", now=now)
    set_sign_in_name(engine, member.member_id, claims["email"], actor="operator", now=now)
    return login


def cmd_demo(_args: argparse.Namespace, settings: Settings) -> int:
    from deploy.demo import send_demo, send_demo_beds, send_demo_prevention, send_scenario

    keys = demo_keys(settings)
    api = f"http://{settings.api_host}:{settings.api_port}"
    people = send_demo(api, keys)
    send_demo_beds(api, keys, people)
    send_demo_prevention(api, keys)
    sent = send_scenario(api, keys, settings.zone)
    say(f"sent demo events for {len(people)} people, tonight's beds and {sent:,} scenario submissions "
        f"through {api}")
    _show_where_to_look(api, keys, people, demo_invitations(settings, keys))
    return 0


def _show_where_to_look(api: str, keys: dict[str, str], people: list[str], links: dict[str, str],
                        single_sign_on: str | None = None) -> None:
    end = datetime.now(UTC).date()
    start = end - timedelta(days=28)
    site = api.replace('127.0.0.1', 'localhost')
    if single_sign_on:
        print(f"""
  The council signs in through its own identity provider (a stand-in here): open {site}/sign-in,
  press "Sign in with Town Council (demo)" and sign in there as {single_sign_on}, any password.""")
    print(
        f"""
  Sign in to the pages as a member does, with a passkey (your browser or phone asks for your
  fingerprint, face or PIN; Chrome's DevTools > WebAuthn gives a virtual one). Open one link; each
  works once, in Chrome, Edge, Safari or Firefox on this computer:
    Outreach worker:   {links['outreach']}
    Council member:    {links['council']}
    The Brick:         {links['brick']}
    Eyes and ears:     {links['frontline']}
  Later sign-ins:    {site}/sign-in (Sign in with a passkey)
  Public form:       {api}/report

  API keys (for partner systems and curl; no page takes one):
    Outreach {keys['outreach']}
    Council  {keys['council']}
    Brick    {keys['brick']}
  API docs:        {api}/docs
  A journey:       curl -s -H 'X-API-Key: {keys['outreach']}' {api}/v1/people/{people[0]}/journey
  Beds tonight:    curl -s -H 'X-API-Key: {keys['outreach']}' {api}/v1/beds/availability
  Statistics:      curl -s -H 'X-API-Key: {keys['council']}' '{api}/v1/statistics?start={start}&end={end}'
""",
        flush=True,
    )


def cmd_up(_args: argparse.Namespace, settings: Settings) -> int:
    """Broker, topics, worker, API and demo data; Ctrl-C stops everything it started."""
    from deploy import identity_provider
    from deploy.demo import send_demo, send_demo_beds, send_demo_prevention, send_scenario
    from deploy.processes import Supervisor, start_api, start_worker
    from deploy.scenario import ORGANISATIONS
    from deploy.topics import create_topics
    from schemas.settings import SignInProvider

    def stop_on_term(_signum: int, _frame: object) -> None:
        # A plain `kill` stops everything as cleanly as Ctrl-C; a second one must not cut the
        # stopping short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    # One worker, known to the group by a stable name: restarted after a crash, it takes its
    # partitions back at once.
    settings = settings.model_copy(update={"worker_instance_id": settings.worker_instance_id or "worker-1"})
    if settings.api_host in ("127.0.0.1", "localhost", "::1"):
        # The demo's pages are served over plain http on this machine: a Secure cookie would
        # never come back. Anywhere else the pages sit behind https, and cookies stay Secure.
        settings = settings.model_copy(update={"cookies_secure": False})
    stand_in = None
    if not settings.sign_in_providers and identity_provider.available():
        # The council's single sign-on, through a stand-in for its identity provider.
        stand_in = identity_provider.StandInProvider(settings.state_dir / "identity-provider", settings.origin,
                                                     organisation=ORGANISATIONS["council"], accounts=DEMO_SIGN_IN)
        say(f"the stand-in identity provider for the council is at {stand_in.issuer}")
        settings = settings.model_copy(update={"sign_in_providers": (
            SignInProvider(**stand_in.setting(name="Town Council (demo)")),)})
    broker = local_broker(settings) if uses_local_broker(settings) else None
    if broker is not None:
        broker.start(progress=say)
    else:
        say(f"using Kafka at {settings.kafka_bootstrap_servers}")
    created = create_topics(settings)
    say(f"topics ready ({len(created)} created)")
    logs = settings.state_dir / "logs"
    parts = []
    try:
        say(f"starting the worker (log: {logs / 'worker.log'})")
        parts.append(start_worker(settings, logs / "worker.log"))
        say(f"starting the API (log: {logs / 'api.log'})")
        parts.append(start_api(settings, logs / "api.log"))
        api = f"http://{settings.api_host}:{settings.api_port}"
        keys = demo_keys(settings)
        say("sending demo data through the API...")
        people = send_demo(api, keys)
        say("registering demo bed providers and tonight's requests...")
        send_demo_beds(api, keys, people)
        say("frontline staff reporting people at risk of homelessness; the housing team taking them on...")
        send_demo_prevention(api, keys)
        say("sending twelve weeks of the town-centre scenario (200 people) through the API...")
        sent = send_scenario(api, keys, settings.zone)
        say(f"sent {sent:,} scenario submissions" if sent else "the scenario was sent on an earlier run")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if httpx.get(f"{api}/v1/people/{people[-1]}/journey", headers={"X-API-Key": keys["outreach"]}).is_success:
                break
            time.sleep(0.5)
        say(f"the system is up with {len(people)} demo journeys. Ctrl-C stops it.")
        login = demo_single_sign_on(settings, keys) if stand_in is not None else None
        _show_where_to_look(api, keys, people, demo_invitations(settings, keys), login)
        supervisor = Supervisor(parts, say)
        while True:
            supervisor.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stopping short
        say("stopping...")
        return 0
    finally:
        for part in parts:
            part.stop()
        if broker is not None:
            broker.stop()
            say("Kafka stopped")
        if stand_in is not None:
            stand_in.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="journeys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run everything locally with demo data").set_defaults(run=cmd_up)
    broker = commands.add_parser("broker", help="the local Kafka broker")
    broker.add_argument("action", choices=["start", "stop", "status"])
    broker.set_defaults(run=cmd_broker)
    commands.add_parser("topics", help="create the project's topics").set_defaults(run=cmd_topics)
    commands.add_parser("worker", help="run the stream worker").set_defaults(run=cmd_worker)
    commands.add_parser("api", help="run the HTTP API").set_defaults(run=cmd_api)
    commands.add_parser("rebuild", help="make every journey and its read model again from person-events "
                                        "(stop the worker first)").set_defaults(run=cmd_rebuild)
    commands.add_parser("demo", help="send demo data to a running API").set_defaults(run=cmd_demo)
    key = commands.add_parser("api-key", help="issue an API key")
    key.add_argument("action", choices=["issue"])
    key.add_argument("--organisation", required=True)
    key.add_argument("--role", required=True, choices=[r for r in _roles()])
    key.add_argument("--member", default="member", help="the member's name, as the audit shows it")
    key.add_argument("--data-protection-lead", action="store_true",
                     help="may read the audit, and add and remove the organisation's members and their keys")
    key.add_argument("--email", help="a data protection lead's work address: told at once of each break-glass")
    key.set_defaults(run=cmd_api_key)
    commands.add_parser("policy", help="print the sharing policy's table").set_defaults(run=cmd_policy)
    commands.add_parser("retention", help="apply the retention schedule now and say what it removed (counts)"
                        ).set_defaults(run=cmd_retention)
    args = parser.parse_args(argv)
    settings = get_settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        return args.run(args, settings)
    except BrokerUnavailable as error:
        say(str(error))
        return 2


def _roles() -> list[str]:
    from readmodel.keys import Role

    return [role.value for role in Role]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
