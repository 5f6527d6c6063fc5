"""Members sign in through their organisation's identity provider (issue 27): who a member is
there, what a sign-in carries across the provider, and the provider's session for back-channel
sign-out.

Revision ID: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

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


def downgrade() -> None:
    with op.batch_alter_table("ceremonies") as ceremonies:
        ceremonies.drop_column("carried")
    with op.batch_alter_table("page_sessions") as sessions:
        sessions.drop_index("ix_page_sessions_provider_session")
        sessions.drop_column("provider_session")
    with op.batch_alter_table("members") as members:
        members.drop_index("ix_members_sign_in_name")
        members.drop_column("sign_in_name")
