"""Built for Zero's statuses as spans of nights kept by the worker, the records of one person,
and which projections were made for which rules (issue 28).

Revision ID: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_table(
        "statistics_statuses",
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("person_id", "since"),
    )
    op.create_index("ix_statistics_statuses_since", "statistics_statuses", ["since"])
    op.create_index("ix_statistics_statuses_open", "statistics_statuses", ["status", "until", "since"])
    op.create_table(
        "same_person",
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("other", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("person_id", "other"),
    )
    op.create_table(
        "projections",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("made_for", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # A worker makes them from the timeline when it starts (readmodel/statistics.remake).


def downgrade() -> None:
    op.drop_table("projections")
    op.drop_table("same_person")
    op.drop_table("statistics_statuses")
