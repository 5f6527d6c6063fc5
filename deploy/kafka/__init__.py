"""A real single-node Apache Kafka broker (KRaft), run from the official jars."""
