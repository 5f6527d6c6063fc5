"""Spans by when they begin, with their status and the one before: the city's Built for Zero
changes in a period are counted from this index alone, not a row of the table for each span
(issue 28: at a million events, 14 ms of a period of 84 nights became 3, 38-53 of a year 7).

Revision ID: 0017
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    op.drop_index("ix_statistics_statuses_since", table_name="statistics_statuses")
    op.create_index("ix_statistics_statuses_changes", "statistics_statuses", ["since", "status", "previous"])


def downgrade() -> None:
    op.drop_index("ix_statistics_statuses_changes", table_name="statistics_statuses")
    op.create_index("ix_statistics_statuses_since", "statistics_statuses", ["since"])
