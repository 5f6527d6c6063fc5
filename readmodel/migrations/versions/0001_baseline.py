"""The read model as it stood before migrations were Alembic's (stop 17): a database made by
that version is stamped with this revision and upgraded from here.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel import tables as read_model

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('organisation', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('created_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', read_model.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key_id')
    )
    op.create_table('bed_command_refusals',
    sa.Column('command_id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('provider_id', sa.String(length=63), nullable=False),
    sa.Column('command', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('refused_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('command_id')
    )
    with op.batch_alter_table('bed_command_refusals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bed_command_refusals_request_id'), ['request_id'], unique=False)

    op.create_table('bed_nights',
    sa.Column('provider_id', sa.String(length=63), nullable=False),
    sa.Column('night', sa.Date(), nullable=False),
    sa.Column('bed_type', sa.String(length=40), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('allocated', sa.Integer(), nullable=False),
    sa.Column('checked_in', sa.Integer(), nullable=False),
    sa.Column('free', sa.Integer(), nullable=False),
    sa.Column('waitlisted', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('provider_id', 'night', 'bed_type')
    )
    op.create_table('bed_providers',
    sa.Column('provider_id', sa.String(length=63), nullable=False),
    sa.Column('organisation', sa.String(length=120), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('area_code', sa.String(length=32), nullable=False),
    sa.Column('no_show_release', sa.String(length=8), nullable=False),
    sa.Column('waitlist_limit', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.JSON(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('updated_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider_id')
    )
    op.create_table('bed_requests',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('provider_id', sa.String(length=63), nullable=False),
    sa.Column('night', sa.Date(), nullable=False),
    sa.Column('bed_type', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('bed', sa.Integer(), nullable=True),
    sa.Column('waitlist_position', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=120), nullable=True),
    sa.Column('leave_reason', sa.String(length=20), nullable=True),
    sa.Column('requested_by', sa.String(length=120), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('updated_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    with op.batch_alter_table('bed_requests', schema=None) as batch_op:
        batch_op.create_index('ix_bed_requests_provider_night', ['provider_id', 'night'], unique=False)

    op.create_table('identity_decisions',
    sa.Column('decision_id', sa.String(length=36), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('other', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('decided_by', sa.String(length=120), nullable=False),
    sa.Column('decided_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('decision_id')
    )
    op.create_table('journeys',
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('first_seen', read_model.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_seen', read_model.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_area', sa.String(length=32), nullable=True),
    sa.Column('reports', sa.Integer(), nullable=False),
    sa.Column('contacts', sa.Integer(), nullable=False),
    sa.Column('rough_sleeping_nights', sa.Integer(), nullable=False),
    sa.Column('emergency_bed_nights', sa.Integer(), nullable=False),
    sa.Column('provisional', sa.Integer(), nullable=False),
    sa.Column('merged_into', sa.String(length=36), nullable=True),
    sa.Column('state', read_model.JSONDocument(), nullable=True),
    sa.Column('updated_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('person_id')
    )
    op.create_table('sighting_reports',
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('organisation', sa.String(length=120), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('area_code', sa.String(length=32), nullable=True),
    sa.Column('received_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.Column('wants_update', sa.Integer(), nullable=False),
    sa.Column('team', sa.String(length=120), nullable=True),
    sa.Column('due_by', read_model.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_attempt_at', read_model.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('outcome_at', read_model.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reporter_told_at', read_model.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('report_id')
    )
    with op.batch_alter_table('sighting_reports', schema=None) as batch_op:
        batch_op.create_index('ix_sighting_reports_received', ['received_at'], unique=False)

    op.create_table('submissions',
    sa.Column('organisation', sa.String(length=120), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('request_sha256', sa.String(length=64), nullable=False),
    sa.Column('produced', sa.Integer(), nullable=False),
    sa.Column('created_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('organisation', 'idempotency_key')
    )
    op.create_table('timeline_entries',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', read_model.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('data', read_model.JSONDocument(), nullable=False),
    sa.Column('personal', read_model.JSONDocument(), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('timeline_entries', schema=None) as batch_op:
        batch_op.create_index('ix_timeline_person', ['person_id', 'occurred_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('timeline_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_timeline_person')

    op.drop_table('timeline_entries')
    op.drop_table('submissions')
    with op.batch_alter_table('sighting_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_sighting_reports_received')

    op.drop_table('sighting_reports')
    op.drop_table('journeys')
    op.drop_table('identity_decisions')
    with op.batch_alter_table('bed_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_bed_requests_provider_night')

    op.drop_table('bed_requests')
    op.drop_table('bed_providers')
    op.drop_table('bed_nights')
    with op.batch_alter_table('bed_command_refusals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bed_command_refusals_request_id'))

    op.drop_table('bed_command_refusals')
    op.drop_table('api_keys')
