"""The domain: journey state, stages and identity. Pure Python: no I/O, no clock."""
