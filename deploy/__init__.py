"""Deployment: settings, the local Kafka broker, topic creation and the command line."""
