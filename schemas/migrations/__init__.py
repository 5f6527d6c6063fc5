"""Alembic migrations of every table (read model, accounts, audit): `connect` brings any database
up to date, and tests/unit/test_migrations.py checks the migrations build what schemas/read_model.py
declares."""
