"""The no-show timer: beds allocated but not checked into by the provider's release time ->
bed-commands, for allocate to decide (a check-in that got there first wins, and a repeated
no-show changes nothing)."""

from __future__ import annotations

from datetime import UTC, datetime

from journey.beds import ProviderBeds, due_no_shows
from schemas.beds import StayCommand
from schemas.ids import no_show_id
from schemas.settings import Settings
from schemas.topics import BED_COMMANDS
from streams.runtime import Engine


async def release_no_shows(settings: Settings, engine: Engine) -> None:
    """Ask each provider's stage (in the partitions this worker holds) to release beds nobody
    arrived for."""
    now = datetime.now(UTC)
    for key, stored in engine.stage("allocate").values():
        state = ProviderBeds.model_validate_json(stored)
        for night, stay in due_no_shows(state, now, settings.zone):
            command = StayCommand(
                id=no_show_id(stay.request_id), type="bed.no_show", provider_id=state.provider_id,
                source=state.provider.organisation if state.provider else "journeys", actor="no-show timer",
                time=now, request_id=stay.request_id, night=night,
            )
            await engine.send(settings.topic(BED_COMMANDS), key, command.model_dump_json().encode())
