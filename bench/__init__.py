"""Benchmarks: scripts that print figures. Not tests."""
