"""The pure rules of pushing updates to partners: the retry schedule, what an answer means, what
a subscription wants, and the webhook-id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from journey.delivery import RETRY_AFTER, Answer, Scope, Wanted, judge, next_try, wants
from schemas.ids import delivery_id

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def test_retries_go_on_for_more_than_a_day_then_stop() -> None:
    assert sum(RETRY_AFTER, timedelta()) >= timedelta(hours=24)
    tries = [next_try(n, NOW, rand=lambda: 0.0) for n in range(1, len(RETRY_AFTER) + 1)]
    assert [t - NOW for t in tries if t] == list(RETRY_AFTER)
    assert next_try(len(RETRY_AFTER) + 1, NOW) is None
    assert next_try(0, NOW) is None


def test_jitter_adds_at_most_a_fifth() -> None:
    assert next_try(1, NOW, rand=lambda: 0.999) <= NOW + RETRY_AFTER[0] * 1.2  # type: ignore[operator]
    assert next_try(2, NOW, rand=lambda: 0.5) == NOW + RETRY_AFTER[1] * 1.1


@pytest.mark.parametrize(("status", "answer"), [
    (200, Answer.DELIVERED), (204, Answer.DELIVERED), (None, Answer.RETRY), (500, Answer.RETRY),
    (503, Answer.RETRY), (408, Answer.RETRY), (429, Answer.RETRY), (410, Answer.GONE), (400, Answer.FAILED),
    (401, Answer.FAILED), (404, Answer.FAILED), (301, Answer.FAILED),
])
def test_what_an_answer_means(status: int | None, answer: Answer) -> None:
    assert judge(status) is answer


def test_a_subscription_wants_its_families_stages_and_areas() -> None:
    everything = Wanted()
    assert wants(everything, event_type="contact.recorded", stage="contacted", area=None)
    reports = Wanted(families=frozenset({"report"}), areas=frozenset({"TC-MARKET"}), scope=Scope.ALL)
    assert wants(reports, event_type="report.received", stage="reported", area="TC-MARKET")
    assert not wants(reports, event_type="report.received", stage="reported", area="TC-STATION")
    assert not wants(reports, event_type="contact.recorded", stage="reported", area="TC-MARKET")
    housed = Wanted(stages=frozenset({"tenancy"}))
    assert not wants(housed, event_type="accommodation.moved", stage="engaged", area=None)


def test_one_webhook_id_per_update_per_subscription() -> None:
    first = delivery_id("s1", "e1", 3, False)
    assert first == delivery_id("s1", "e1", 3, False) and first.startswith("msg_")
    others = {delivery_id("s2", "e1", 3, False), delivery_id("s1", "e1", 4, True),
              delivery_id("s1", "e1", 3, False, "r1")}
    assert first not in others and len(others) == 3


def test_the_published_json_schema_is_the_payload_model() -> None:
    import json
    from pathlib import Path

    from schemas.webhooks.payload import json_schema

    published = Path(__file__).parents[3] / "schemas" / "webhooks" / "journey-update.schema.json"
    assert json.loads(published.read_text()) == json_schema(), (
        "regenerate: .venv/bin/python -m schemas.webhooks.payload > schemas/webhooks/journey-update.schema.json")


def test_the_partners_document_gives_the_receiver_the_tests_run() -> None:
    from pathlib import Path

    root = Path(__file__).parents[3]
    receiver = (root / "schemas" / "webhooks" / "receiver.py").read_text()
    assert f"```python\n{receiver}```" in (root / "docs" / "partners.md").read_text()


def test_the_journey_stage_reads_an_update_as_a_subscriber_of_its_json_would() -> None:
    """The journey stage pushes from its own objects (`update_of`); the live stream reads the
    published JSON (`read_update`): for every family, late events included, the two agree."""
    import uuid
    from zoneinfo import ZoneInfo

    import handlers
    from journey.delivery import read_update, update_of
    from schemas.updates import JourneyUpdate, journey_update_json
    from tests import events

    person, at = uuid.uuid4(), datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    sent = events.report(person, at, area="TC-STATION")
    story = [sent, events.progress(person, at + timedelta(hours=1), "routed", sent.id, team="T"),
             events.progress(person, at + timedelta(hours=3), "outcome", sent.id, outcome="found_and_engaged"),
             events.contact(person, at + timedelta(hours=2)),  # late: the outcome's entry moves along
             events.accommodation(person, at + timedelta(days=1), "tenancy_started"),
             events.case(person, at + timedelta(days=2), "closed")]
    history, seen = None, 0
    for event in story:
        recorded = handlers.record(history, event, ZoneInfo("Europe/London"), timedelta(days=28))
        history = recorded.history
        for (outcome, source), kept in zip(recorded.published, recorded.kept, strict=True):
            refolded = source is not event
            published = journey_update_json(outcome.entry, kept.event, refolded)
            assert update_of(outcome.entry, source, refolded) == read_update(published)
            # What is published is a JourneyUpdate, with nothing personal in it.
            update = JourneyUpdate.model_validate_json(published)
            assert (update.entry, update.refolded) == (outcome.entry, refolded)
            assert update.event == source.model_copy(update={"personal": type(source.personal)()})
            seen += 1
    assert seen > len(story)  # the late contact made the outcome's entry publish again
