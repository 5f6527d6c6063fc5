"""Small value types shared by every event family, and the rules every submitted value keeps.

Text is refused, with the field named, when it holds what no person typed on purpose: control
characters (free text keeps tab and newline), bidirectional overrides that make text display
other than it reads, and zero-width characters that make two equal-looking names differ; it is
stored in Unicode's composed form (NFC), so "é" typed two ways is one name. A name whose word
mixes scripts (a Cyrillic "а" inside a Latin word) is refused: it is how look-alike names are
forged. Numbers must be JSON numbers and times JSON strings: nothing is guessed from another
type ("51.5", true or 1700000000 for a time are mistakes to report).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")


# ASCII control characters other than tab, newline and carriage return.
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(text: str, *, lines: bool) -> str:
    if text.isascii() and (text.isprintable() or (lines and _ASCII_CONTROL.search(text) is None)):
        # Most text is plain ASCII: no bidirectional or invisible characters, already composed.
        # Checked per character, every field of every event cost a tenth of the worker's time.
        return text
    for character in text:
        if character in _BIDI:
            raise ValueError(f"contains a bidirectional control character (U+{ord(character):04X})")
        if character in _ZERO_WIDTH:
            raise ValueError(f"contains an invisible character (U+{ord(character):04X})")
        if unicodedata.category(character) == "Cc" and not (lines and character in "\t\n\r"):
            raise ValueError(f"contains a control character (U+{ord(character):04X})")
    return unicodedata.normalize("NFC", text)


def _one_line(text: str) -> str:
    return _clean(text, lines=False)


def _free_text(text: str) -> str:
    return _clean(text, lines=True)


def _script(character: str) -> str | None:
    if not character.isalpha():
        return None
    return unicodedata.name(character, "UNKNOWN").split(" ", 1)[0]


def _one_script_a_word(name: str) -> str:
    if name.isascii():
        return name  # every ASCII letter is Latin
    for word in name.split():
        scripts = {s for s in map(_script, word) if s is not None}
        if len(scripts) > 1:
            raise ValueError(f"mixes scripts within a word ({', '.join(sorted(scripts)).lower()})")
    return name


# Free text is capped so that one submission can never grow without bound; the cap is per
# field so that a 422 names the field that was too long.
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), AfterValidator(_one_line)
]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), AfterValidator(_free_text)
]
PersonName = Annotated[ShortText, AfterValidator(_one_script_a_word)]
AreaCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:-]+$")
]

# A flag must be true or false: 1, "yes" or "maybe" are mistakes to report, not to guess at.
Flag = StrictBool
Count = StrictInt


def _text_only(value: Any) -> Any:
    if value is None or isinstance(value, str | date):
        return value
    raise ValueError("must be a string in ISO 8601 form")


def _iso_date(value: Any) -> Any:
    if value is None or isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("must be a date as YYYY-MM-DD")


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Dates and times come as ISO 8601 strings: a number (or "0") is not a time.
IsoText = BeforeValidator(_text_only)
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class Strict(BaseModel):
    """Base of every model that crosses a boundary: unknown fields are an error, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """pydantic's shallow copy (`update` applied, not validated), without its generic copying
        of what these frozen models never hold (extra fields, private attributes): the journey
        stage copies a journey or an event several times per event, and pydantic's way cost a
        sixth of the worker's time."""
        if deep or getattr(self, "__pydantic_private__", None) is not None or self.__pydantic_extra__ is not None:
            return super().model_copy(update=update, deep=deep)
        cls = type(self)
        copied = cls.__new__(cls)
        values = self.__dict__.copy()
        fields_set = set(self.__pydantic_fields_set__)
        if update:
            values.update(update)
            fields_set.update(update)
        object.__setattr__(copied, "__dict__", values)
        object.__setattr__(copied, "__pydantic_fields_set__", fields_set)
        object.__setattr__(copied, "__pydantic_extra__", None)
        object.__setattr__(copied, "__pydantic_private__", None)
        return copied


class Place(Strict):
    """Where someone was seen. Personal: where a person sleeps can be used to find them."""

    latitude: StrictFloat | None = Field(None, ge=-90, le=90)
    longitude: StrictFloat | None = Field(None, ge=-180, le=180)
    description: LongText | None = None
