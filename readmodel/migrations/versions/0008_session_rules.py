"""Page sessions end after a while without use (issue 27).

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel.tables import UTCDateTime

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("page_sessions") as sessions:
        sessions.add_column(sa.Column("last_seen_at", UTCDateTime(), nullable=True))
        sessions.add_column(sa.Column("idle_s", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("page_sessions") as sessions:
        sessions.drop_column("idle_s")
        sessions.drop_column("last_seen_at")
