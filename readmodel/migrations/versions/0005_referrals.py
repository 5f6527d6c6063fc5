"""Referrals: the receiver's inbox and the referrer's view (issue 24).

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel.tables import UTCDateTime

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("from_organisation", sa.String(length=120), nullable=False),
        sa.Column("to_organisation", sa.String(length=120), nullable=False),
        sa.Column("made_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("categories", sa.String(length=400), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("decline_reason", sa.String(length=32), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    op.create_index("ix_referrals_to", "referrals", ["to_organisation", "made_at"])
    op.create_index("ix_referrals_from", "referrals", ["from_organisation", "made_at"])


def downgrade() -> None:
    op.drop_table("referrals")
