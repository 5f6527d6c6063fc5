"""The project's topics: their names, what each holds, and how long it keeps it. Created by
`deploy/topics.create_topics` (broker auto-creation stays off)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.settings import Settings

INTAKE = "intake"  # submissions as accepted, keyed by person id or event id
PERSON_EVENTS = "person-events"  # events with their person resolved, keyed by person id
JOURNEY_UPDATES = "journey-updates"  # each applied event with its timeline entry, for subscribers
DEAD_LETTER = "dead-letter"  # what the worker could not apply, with the reason
BED_REQUESTS = "bed-requests"  # bed requests and their outcomes, keyed by person id
BED_COMMANDS = "bed-commands"  # everything a bed provider's agent decides on, keyed by provider id
BED_UPDATES = "bed-updates"  # each provider's live picture and outcomes, keyed by provider id
# Identity decisions, all under one key: one stage judges them one at a time, in one order.
IDENTITY_DECISIONS = "identity-decisions"
AUDIT = "audit"  # every read of a person's data, relayed from the audit table; kept for ever, keyed by organisation
IDENTITY_KEY = b"identity-decisions"
# The worker's stages keep their state in compacted changelogs, one per stateful stage.
STATEFUL_STAGES = ("identify", "follow", "judge-identity", "claim-nights", "allocate")


def changelog(settings: Settings, stage: str) -> str:
    """The compacted topic that holds a stage's state; partition p holds input partition p's keys."""
    return settings.topic(f"state.{stage}")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    retention_ms: int
    cleanup_policy: str = "delete"


def topic_specs(settings: Settings) -> list[TopicSpec]:
    kept = settings.event_retention_ms
    return [
        TopicSpec(settings.topic(INTAKE), kept),
        TopicSpec(settings.topic(PERSON_EVENTS), kept),
        TopicSpec(settings.topic(JOURNEY_UPDATES), settings.update_retention_ms),
        TopicSpec(settings.topic(DEAD_LETTER), kept),
        TopicSpec(settings.topic(IDENTITY_DECISIONS), kept),
        TopicSpec(settings.topic(BED_REQUESTS), kept),
        TopicSpec(settings.topic(BED_COMMANDS), kept),
        TopicSpec(settings.topic(BED_UPDATES), settings.update_retention_ms),
        TopicSpec(settings.topic(AUDIT), -1),
        *(TopicSpec(changelog(settings, stage), -1, "compact") for stage in STATEFUL_STAGES),
    ]
