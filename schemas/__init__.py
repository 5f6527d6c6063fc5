"""Pydantic models: the event envelope and payloads (versioned), API models, read-model tables."""
