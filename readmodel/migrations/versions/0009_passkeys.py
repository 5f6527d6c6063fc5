"""Members sign in as themselves (issue 27): sessions belong to members, not keys; passkeys,
invitations and WebAuthn ceremonies.

Revision ID: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel.tables import UTCDateTime

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    with op.batch_alter_table("page_sessions") as sessions:
        sessions.add_column(sa.Column("member_id", sa.String(length=32), nullable=True))
        sessions.add_column(sa.Column("method", sa.String(length=16), nullable=True))
        sessions.add_column(sa.Column("authenticated_at", UTCDateTime(), nullable=True))
        sessions.alter_column("key_id", existing_type=sa.String(length=32), nullable=True)
    # A session begun with a key belongs to the key's member.
    op.execute("UPDATE page_sessions SET member_id = (SELECT api_keys.member_id FROM api_keys "
               "WHERE api_keys.key_id = page_sessions.key_id)")
    op.execute("DELETE FROM page_sessions WHERE member_id IS NULL")
    with op.batch_alter_table("page_sessions") as sessions:
        sessions.alter_column("member_id", existing_type=sa.String(length=32), nullable=False)
        sessions.create_index("ix_page_sessions_member_id", ["member_id"])
    op.create_table(
        "passkeys",
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("credential_id"),
    )
    op.create_index("ix_passkeys_member_id", "passkeys", ["member_id"])
    op.create_table(
        "invitations",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index("ix_invitations_member_id", "invitations", ["member_id"])
    op.create_table(
        "ceremonies",
        sa.Column("ceremony_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("invitation_sha256", sa.String(length=64), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("ceremony_id"),
    )


def downgrade() -> None:
    op.drop_table("ceremonies")
    op.drop_table("invitations")
    op.drop_table("passkeys")
    with op.batch_alter_table("page_sessions") as sessions:
        sessions.drop_index("ix_page_sessions_member_id")
        sessions.drop_column("authenticated_at")
        sessions.drop_column("method")
        sessions.drop_column("member_id")
