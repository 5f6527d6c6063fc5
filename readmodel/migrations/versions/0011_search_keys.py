"""Search and identity matching read a profile projection, one row a person, and find their
candidates by keyed hashes of blocking keys (issue 28).

Revision ID: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel.tables import UTCDateTime

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_table(
        "search_keys",
        sa.Column("key", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("key", "person_id"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_search_keys_person", "search_keys", ["person_id"])
    # Journeys already stored get theirs when a worker starts (readmodel/profiles.backfill).


def downgrade() -> None:
    op.drop_table("search_keys")
    op.drop_table("profiles")
