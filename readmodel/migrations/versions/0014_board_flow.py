"""The board's month's flow kept in the read model, worked out by one worker for every API
process (issue 28).

Revision ID: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel.tables import UTCDateTime

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.create_table(
        "board_flow",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("figures", sa.Text(), nullable=True),
        sa.Column("worked_out_at", UTCDateTime(), nullable=True),
        sa.Column("wanted_at", UTCDateTime(), nullable=True),
        sa.Column("working_since", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("board_flow")
