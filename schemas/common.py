"""Small value types shared by every event family."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

# Free text is capped so that one submission can never grow without bound; the cap is per
# field so that a 422 names the field that was too long.
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
AreaCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:-]+$")
]

# A flag must be true or false: 1, "yes" or "maybe" are mistakes to report, not to guess at.
Flag = StrictBool


class Strict(BaseModel):
    """Base of every model that crosses a boundary: unknown fields are an error, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Place(Strict):
    """Where someone was seen. Personal: where a person sleeps can be used to find them."""

    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    description: LongText | None = None
