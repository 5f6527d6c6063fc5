"""Reading people's journeys from the read model."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import Engine, select

from schemas.read_model import journeys, timeline_entries
from schemas.views import JourneyView, TimelineItem


def get_journey(*, engine: Engine, person_id: UUID) -> JourneyView | None:
    """The journey of one person with its whole timeline, or None if nothing is known."""
    key = str(person_id)
    with engine.connect() as connection:
        row = connection.execute(select(journeys).where(journeys.c.person_id == key)).first()
        if row is None:
            return None
        entries = connection.execute(
            select(timeline_entries)
            .where(timeline_entries.c.person_id == key)
            .order_by(timeline_entries.c.occurred_at, timeline_entries.c.sequence)
        ).all()
    return JourneyView(
        person_id=person_id,
        stage=row.stage,
        events=row.sequence,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        last_area=row.last_area,
        reports=row.reports,
        contacts=row.contacts,
        rough_sleeping_nights=row.rough_sleeping_nights,
        emergency_bed_nights=row.emergency_bed_nights,
        timeline=[TimelineItem.model_validate(entry, from_attributes=True) for entry in entries],
    )
