"""Protected in motion: the whole pipeline through a broker that takes only TLS and SCRAM
(Apache Kafka from the same jars, its certificate made by Java's keytool in the test): a
submission through the API's producer, the worker's stages, the read model and the live stream's
reader; a client with a wrong password, or without TLS, gets nothing. And a mail server reached
with STARTTLS has its certificate verified."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from deploy.kafka.broker import BrokerSecurity, LocalBroker
from deploy.processes import free_port, start_api
from schemas.settings import Settings
from streams.reporters import send_email
from tests.builders import contact_body
from tests.conftest import PROJECT, System
from tests.integration.test_stream import Listener

pytestmark = pytest.mark.integration

USER, PASSWORD = "journeys", "journeys-scram-secret"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    broker = LocalBroker(state_dir=tmp_path_factory.mktemp("secured-kafka"), port=free_port(),
                         controller_port=free_port(), heap="512m", cache_dir=PROJECT / ".state",
                         security=BrokerSecurity(users={USER: PASSWORD}))
    broker.start(progress=lambda line: print(f"[secured broker] {line}"))
    try:
        yield broker
    finally:
        broker.stop()


def test_the_pipeline_runs_through_a_tls_and_scram_broker(secured: LocalBroker,
                                                          make_settings: Callable[..., Settings]) -> None:
    # The topics are made through the secured broker too (deploy/topics.py takes the same options).
    settings = make_settings(kafka_bootstrap_servers=secured.bootstrap_servers, kafka_security_protocol="SASL_SSL",
                             kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username=USER,
                             kafka_sasl_password=PASSWORD, kafka_ssl_cafile=secured.ca_file)
    system = System(settings)
    system.start_worker()
    api = start_api(settings, settings.state_dir / "api.log")  # its live stream reads through the broker too
    try:
        listener = Listener(f"http://127.0.0.1:{settings.api_port}/v1/stream?scope=all", system.outreach_key)
        system.wait_for("the stream open", lambda: listener.status == 200)
        sent = system.post("/v1/contacts", contact_body(None, personal={"known_as": "Tls"}),
                           key=system.outreach_key)
        assert sent.status_code == 202, sent.text
        journey = system.wait_journey(sent.json()["person_id"], 1)
        assert journey["timeline"][0]["personal"]["known_as"] == "Tls"
        (update,) = system.wait_for("the update on the live stream", listener.updates)
        assert update["data"]["entry"]["personal"]["known_as"] == "Tls"
        listener.stop()
    finally:
        api.stop()
        system.close()


@pytest.mark.parametrize("options", [
    {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256", "sasl_plain_username": USER,
     "sasl_plain_password": "not-the-password"},
    {"security_protocol": "PLAINTEXT"},
    {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256", "sasl_plain_username": USER,
     "sasl_plain_password": PASSWORD, "ssl_cafile": None},  # the system's authorities: not this broker's
], ids=["wrong password", "no TLS", "certificate not trusted"])
def test_a_client_without_the_right_password_tls_and_trust_gets_nothing(secured: LocalBroker,
                                                                         options: dict[str, Any]) -> None:
    right = secured.client_options(USER)
    control = KafkaAdminClient(bootstrap_servers=secured.bootstrap_servers, request_timeout_ms=3000,
                               bootstrap_timeout_ms=4000, **right)
    control.list_topics()  # the same call with the right options is answered: what fails below is the option
    control.close()
    options = {**right, **options}
    with pytest.raises(KafkaError):
        admin = KafkaAdminClient(bootstrap_servers=secured.bootstrap_servers, request_timeout_ms=3000,
                                 bootstrap_timeout_ms=4000, **options)
        admin.list_topics()


def _certificate(directory: Path) -> tuple[Path, Path]:
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, cert


def test_mail_goes_with_starttls_and_a_server_whose_certificate_is_not_trusted_gets_nothing(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    key, cert = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    received: list[bytes] = []

    class Keep(Sink):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.content)
            return "250 OK"

    port = free_port()
    server = Controller(Keep(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    server.start()
    try:
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = "a@example.org", "b@example.org", "Told"
        email.set_content("The outreach team went to look.")
        trusted = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_cafile=cert)
        assert trusted.smtp_starttls  # the default
        send_email(trusted, email)
        assert len(received) == 1
        with pytest.raises(ssl.SSLCertVerificationError):
            send_email(Settings(smtp_host="127.0.0.1", smtp_port=port), email)  # the system's authorities
        with pytest.raises(smtplib.SMTPException):  # the server requires STARTTLS
            send_email(Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False), email)
        assert len(received) == 1
    finally:
        server.stop()
    asyncio.set_event_loop(None)
