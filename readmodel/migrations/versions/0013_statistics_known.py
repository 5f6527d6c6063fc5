"""What each record's facts say about its Built for Zero status, kept with its spans so that the
worker goes on from it for later facts (issue 28).

Revision ID: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from readmodel.tables import UTCDateTime

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.create_table(
        "statistics_known",
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("homeless", UTCDateTime(), nullable=True),
        sa.Column("housed", UTCDateTime(), nullable=True),
        sa.Column("contact", UTCDateTime(), nullable=True),
        sa.Column("closed", UTCDateTime(), nullable=True),
        sa.Column("close_reason", sa.String(length=32), nullable=True),
        sa.Column("latest", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("person_id"),
    )
    # The statistics projection's mark names this table's version (readmodel/statistics.made_for):
    # a worker that starts on a read model from before makes it whole from the timeline.


def downgrade() -> None:
    op.drop_table("statistics_known")
