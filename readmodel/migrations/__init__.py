"""Alembic migrations of every table (read model, accounts, audit): `connect` brings any database
up to date, and tests/unit/readmodel/test_migrations.py checks the migrations build what readmodel/tables.py
declares."""
