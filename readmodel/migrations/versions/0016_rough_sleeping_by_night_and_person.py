"""Rough sleeping by night with its person and area: CHAIN's grouping of a period's nights by
person reads this index alone, not a row of the table for each night seen (issue 28: at a
million events, 22 ms of a period of 84 nights became 12).

Revision ID: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.drop_index("ix_rough_sleeping_night", table_name="rough_sleeping")
    op.create_index("ix_rough_sleeping_night_person", "rough_sleeping", ["night", "person_id", "area_code"])


def downgrade() -> None:
    op.drop_index("ix_rough_sleeping_night_person", table_name="rough_sleeping")
    op.create_index("ix_rough_sleeping_night", "rough_sleeping", ["night"])
