"""Account events (who changed whose account, break-glass taken), data protection leads'
addresses and the alerts sent to them (issue 24).

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel.tables import UTCDateTime

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("members") as members:
        members.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    op.create_table(
        "account_events",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("organisation", sa.String(length=120), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    op.create_index("ix_account_events_organisation", "account_events", ["organisation"])
    op.create_table(
        "lead_alerts",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", UTCDateTime(), nullable=False),
        sa.Column("leased_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    op.create_index("ix_lead_alerts_due", "lead_alerts", ["status", "next_try_at"])


def downgrade() -> None:
    op.drop_table("lead_alerts")
    op.drop_table("account_events")
    with op.batch_alter_table("members") as members:
        members.drop_column("email")
