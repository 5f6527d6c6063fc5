"""Creating the project's topics (schemas/topics.py names them): broker auto-creation stays off."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.settings import Settings
from schemas.topics import topic_specs


def create_topics(settings: Settings) -> list[str]:
    """Create every missing topic; return the names created. Existing topics are left as they are."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="journeys-admin",
                             **settings.kafka_options())
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name=spec.name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                topic_configs={
                    "cleanup.policy": spec.cleanup_policy,
                    "retention.ms": str(spec.retention_ms),
                    "min.insync.replicas": str(settings.topic_min_insync_replicas),
                },
            )
            for spec in topic_specs(settings)
            if spec.name not in existing
        ]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created them between our list and create: fine
        return [topic.name for topic in wanted]
    finally:
        admin.close()
