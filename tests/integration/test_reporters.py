"""Reporters told, through the real API, broker, worker and a real SMTP server (aiosmtpd on
127.0.0.1): the outcome is emailed once, with nothing about the person reported;
`report.reporter_told` is recorded; and the reporter's contact details leave the read model."""

from __future__ import annotations

import email
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from deploy.processes import free_port
from readmodel.data_keys import keyring
from readmodel.tables import reporter_notices, timeline_entries
from schemas.settings import Settings
from tests.builders import local_noon, report_body
from tests.conftest import System

pytestmark = pytest.mark.integration


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def test_a_reporter_who_asked_is_told_the_outcome_and_then_forgotten(make_settings: Callable[..., Settings]) -> None:
    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    # A mail server on this machine, without TLS: the one case for SMTP_STARTTLS=false.
    system = System(make_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False))
    system.start_worker()
    try:
        at = local_noon(1, system.settings.zone)
        reporter = {"name": "Pat Doe", "email": "pat@example.org", "phone": "07700 900123"}
        asked = system.post("/v1/reports", report_body(at=at, details={"wants_update": True},
                                                        personal={"reporter": reporter}))
        quiet = system.post("/v1/reports", report_body(at=at + timedelta(minutes=5), personal={"reporter": {
            "email": "sam@example.org"}}))  # did not ask to hear back
        assert asked.status_code == quiet.status_code == 202, asked.text
        report, person = asked.json()["event_id"], asked.json()["person_id"]
        other = quiet.json()["event_id"]
        system.wait_journey(person, 2)
        system.wait_journey(quiet.json()["person_id"], 2)  # each report is another person's, maybe in a later batch
        for report_id in (report, other):
            outcome = {"what": "outcome", "outcome": "found_and_engaged",
                       "occurred_at": (at + timedelta(hours=1)).isoformat()}
            stepped = system.call("POST", f"/v1/reports/{report_id}/steps", system.outreach_key, outcome)
            assert stepped.status_code == 202, stepped.text
        told = system.wait_journey(person, 4)  # received, routed, outcome, reporter told
        assert [e["type"] for e in told["timeline"]][-1] == "report.reporter_told"
        assert told["timeline"][-1]["source"] == "journeys"
        system.wait_for("the email", lambda: inbox.messages)
        time.sleep(1.5)
        assert len(inbox.messages) == 1, "one email, and none to the reporter who did not ask"
        sent = inbox.messages[0]
        assert sent["To"] == "pat@example.org"
        text = sent.get_payload(decode=True).decode()
        assert report in text and "found the person" in text
        for personal in ("red coat", "dog", "Bank doorway", "53.545", "Pat Doe", person):
            assert personal not in text, f"the email says {personal!r}"
        with system.engine.connect() as connection:
            kept = connection.execute(select(timeline_entries.c.personal).where(
                timeline_entries.c.event_id == report)).scalar_one()
            notices = dict(connection.execute(select(reporter_notices.c.report_id, reporter_notices.c.status)).all())
        # Stored sealed: one box left, the person's; the reporter's key is destroyed.
        assert list(kept) == ["sealed"] and len(kept["sealed"]) == 1, kept
        fields = keyring(system.engine).personal([(report, kept)])[0]
        assert "reporter" not in fields and fields["person_description"], fields
        assert notices == {report: "sent", other: "not_wanted"}
        status = system.call("GET", f"/v1/reports/{report}", system.frontline_key).json()
        assert status["reporter_told_at"] is not None, status
    finally:
        system.close()
        smtp.stop()
