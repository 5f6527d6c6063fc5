"""Data keys that seal personal parts, the erasures made, and which reports' reporters are
forgotten (issue 26).

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel.tables import UTCDateTime

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.String(length=60), nullable=False),
        sa.Column("kek", sa.String(length=40), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("destroyed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index("ix_data_keys_subject", "data_keys", ["subject"])
    op.create_table(
        "erasures",
        sa.Column("erasure_id", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.String(length=60), nullable=False),
        sa.Column("ground", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=False),
        sa.Column("organisation", sa.String(length=120), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("keys_destroyed", sa.Integer(), nullable=False),
        sa.Column("entries_emptied", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("erasure_id"),
    )
    op.create_index("ix_erasures_subject", "erasures", ["subject"])
    with op.batch_alter_table("sighting_reports") as reports:
        reports.add_column(sa.Column("reporter_forgotten_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sighting_reports") as reports:
        reports.drop_column("reporter_forgotten_at")
    op.drop_table("erasures")
    op.drop_table("data_keys")
