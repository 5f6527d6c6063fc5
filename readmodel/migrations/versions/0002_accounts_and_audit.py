"""Members of organisations, keys that belong to members and expire, the audit of reads and
break-glass grants (governed sharing).

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel import tables as read_model

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('entry_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('organisation', sa.String(length=120), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('categories', sa.String(length=400), nullable=False),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('endpoint', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('entry_id')
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entries_organisation'), ['organisation'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_person_id'), ['person_id'], unique=False)

    op.create_table('break_glass',
    sa.Column('grant_id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('organisation', sa.String(length=120), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('started_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.Column('until', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('grant_id')
    )
    with op.batch_alter_table('break_glass', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_break_glass_organisation'), ['organisation'], unique=False)

    op.create_table('members',
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('organisation', sa.String(length=120), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('data_protection_lead', sa.Integer(), nullable=False),
    sa.Column('created_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.Column('removed_at', read_model.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('member_id')
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_members_organisation'), ['organisation'], unique=False)

    op.create_table('organisations',
    sa.Column('organisation', sa.String(length=120), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('created_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('organisation')
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('expires_at', read_model.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('member_id')

    op.drop_table('organisations')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_members_organisation'))

    op.drop_table('members')
    with op.batch_alter_table('break_glass', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_break_glass_organisation'))

    op.drop_table('break_glass')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entries_person_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entries_organisation'))

    op.drop_table('audit_entries')
