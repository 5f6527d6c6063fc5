"""Members sign in through their organisation's identity provider (issue 27): who a member is
there, what a sign-in carries across the provider, and the provider's session for back-channel
sign-out; and invitations emailed by the platform.

Revision ID: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel.tables import UTCDateTime

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    with op.batch_alter_table("members") as members:
        members.add_column(sa.Column("sign_in_name", sa.String(length=254), nullable=True))
        members.create_index("ix_members_sign_in_name", ["organisation", "sign_in_name"], unique=True)
    with op.batch_alter_table("page_sessions") as sessions:
        sessions.add_column(sa.Column("provider_session", sa.String(length=64), nullable=True))
        sessions.create_index("ix_page_sessions_provider_session", ["provider_session"])
    with op.batch_alter_table("ceremonies") as ceremonies:
        ceremonies.add_column(sa.Column("carried", sa.JSON(), nullable=True))
    op.create_table(
        "invitation_emails",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=120), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=True),
        sa.Column("link", sa.String(length=400), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", UTCDateTime(), nullable=False),
        sa.Column("leased_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index("ix_invitation_emails_due", "invitation_emails", ["status", "next_try_at"])


def downgrade() -> None:
    op.drop_table("invitation_emails")
    with op.batch_alter_table("ceremonies") as ceremonies:
        ceremonies.drop_column("carried")
    with op.batch_alter_table("page_sessions") as sessions:
        sessions.drop_index("ix_page_sessions_provider_session")
        sessions.drop_column("provider_session")
    with op.batch_alter_table("members") as members:
        members.drop_index("ix_members_sign_in_name")
        members.drop_column("sign_in_name")
