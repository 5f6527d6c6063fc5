"""Built for Zero's statuses as spans of nights kept by the worker, the contacts that found
someone bedded down, the records of one person,
and which projections were made for which rules (issue 28).

Revision ID: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel.tables import UTCDateTime

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
        "rough_sleeping",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("night", sa.Date(), nullable=False),
        sa.Column("area_code", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_rough_sleeping_night", "rough_sleeping", ["night"])
    op.create_index("ix_rough_sleeping_person", "rough_sleeping", ["person_id", "at"])
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
    op.drop_table("rough_sleeping")
    op.drop_table("statistics_statuses")
