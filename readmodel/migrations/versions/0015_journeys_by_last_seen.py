"""Journeys by when each person was last seen: search reads the most recently seen of a common
name's thousands of candidates first, from this index alone (issue 28).

Revision ID: 0015
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.create_index("ix_journeys_last_seen", "journeys", ["last_seen", "person_id", "merged_into"])


def downgrade() -> None:
    op.drop_index("ix_journeys_last_seen", table_name="journeys")
