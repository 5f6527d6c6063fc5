"""The worker's wiring: the batch engine, its stages and the projectors. Thin: the logic lives in handlers/
and journey/."""
