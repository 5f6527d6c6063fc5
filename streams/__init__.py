"""Faust wiring: topics, agents and the projector. Thin: the logic lives in handlers/ and journey/."""
