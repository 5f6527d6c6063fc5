"""Proposing that two person records may be the same person, with the reasons.

Matching only proposes: a person confirms by linking or merging. Every score comes with the
reasons for and against, so that a worker can see why a pair was (or was not) proposed. A
pair that someone split is never proposed again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

import jellyfish

from schemas.sharing import Category

# A pair is proposed at or above this score.
PROPOSE_AT = 0.6

# How much each kind of evidence weighs; a name carries most, a shared area least.
NAME_WEIGHT, BIRTH_WEIGHT, AREA_WEIGHT, DESCRIPTION_WEIGHT = 0.45, 0.35, 0.1, 0.2
SIMILAR_NAME = 0.88  # Jaro-Winkler similarity from which two spellings count as the same name


@dataclass(frozen=True)
class Profile:
    """What the records say about who someone is (from the personal parts of their events)."""

    person_id: UUID
    names: frozenset[str] = frozenset()
    date_of_birth: date | None = None
    areas: frozenset[str] = frozenset()
    description_words: frozenset[str] = frozenset()
    not_same_as: frozenset[UUID] = frozenset()


@dataclass(frozen=True)
class Match:
    person_id: UUID
    other: UUID
    score: float
    proposed: bool
    reasons: tuple[str, ...] = field(default=())


_STOP_WORDS = frozenset("a an and the with in of on his her their he she they man woman person wearing".split())


def description_words(text: str) -> frozenset[str]:
    words = ("".join(c if c.isalnum() else " " for c in text.lower())).split()
    return frozenset(w for w in words if len(w) > 2 and w not in _STOP_WORDS)


def _normal(name: str) -> str:
    return " ".join(name.lower().split())


def _name_evidence(a: frozenset[str], b: frozenset[str]) -> tuple[float, str]:
    best, said = 0.0, "no names to compare"
    for x in map(_normal, a):
        for y in map(_normal, b):
            if x == y:
                return 1.0, f"same name or alias ({x!r})"
            similarity = jellyfish.jaro_winkler_similarity(x, y)
            if jellyfish.metaphone(x) == jellyfish.metaphone(y):
                similarity = max(similarity, 0.9)
                reason = f"names sound alike ({x!r}, {y!r})"
            else:
                reason = f"names {x!r} and {y!r} are {similarity:.0%} alike"
            if similarity > best:
                best, said = similarity, reason
    if a and b and best < SIMILAR_NAME:
        return 0.0, f"names differ (closest: {said.split('names ', 1)[-1]})"
    return best, said


def compare(a: Profile, b: Profile) -> Match:
    """Score two records from 0 to 1, with the reasons for and against."""
    reasons: list[str] = []
    if b.person_id in a.not_same_as or a.person_id in b.not_same_as:
        return Match(a.person_id, b.person_id, 0.0, False, ("split apart by a person: never proposed again",))
    score = 0.0
    name, said = _name_evidence(a.names, b.names)
    score += NAME_WEIGHT * name
    reasons.append(said)
    if a.date_of_birth and b.date_of_birth:
        if a.date_of_birth == b.date_of_birth:
            score += BIRTH_WEIGHT
            reasons.append("same date of birth")
        elif (a.date_of_birth.year, a.date_of_birth.month) == (b.date_of_birth.year, b.date_of_birth.month):
            score += BIRTH_WEIGHT / 2
            reasons.append("date of birth in the same month")
        else:
            score -= BIRTH_WEIGHT
            reasons.append("different dates of birth")
    else:
        reasons.append("no date of birth on one or both records")
    shared_areas = a.areas & b.areas
    if shared_areas:
        score += AREA_WEIGHT
        reasons.append(f"seen in the same area ({', '.join(sorted(shared_areas))})")
    elif a.areas and b.areas:
        reasons.append("never seen in the same area")
    shared = a.description_words & b.description_words
    if a.description_words and b.description_words:
        overlap = len(shared) / len(a.description_words | b.description_words)
        score += DESCRIPTION_WEIGHT * min(1.0, overlap * 2)
        if shared:
            reasons.append(f"descriptions share {', '.join(sorted(shared))}")
        else:
            reasons.append("descriptions share nothing")
    score = round(max(0.0, min(1.0, score)), 3)
    return Match(a.person_id, b.person_id, score, score >= PROPOSE_AT, tuple(reasons))


def candidates(target: Profile, others: list[Profile], limit: int = 10) -> list[Match]:
    """The records proposed as possibly the same person as `target`, best first."""
    matches = [compare(target, other) for other in others if other.person_id != target.person_id]
    proposed = [m for m in matches if m.proposed]
    return sorted(proposed, key=lambda m: (-m.score, str(m.other)))[:limit]


@dataclass(frozen=True)
class Search:
    """What an outreach worker knows when looking someone up: any of a name or alias (as heard:
    spellings vary), a date of birth, words of a description, an area."""

    name: str | None = None
    date_of_birth: date | None = None
    description: str | None = None
    area: str | None = None

    def terms(self) -> dict[str, Category]:
        """Each term given, with the category of what it is matched against. A reader may search
        only by what it may see of the people found, or a search would confirm a hidden field."""
        given = {"name": self.name, "date_of_birth": self.date_of_birth, "description": self.description,
                 "area": self.area}
        return {term: SEARCHED_IN[term] for term, value in given.items() if value}


# What each search term is matched against: names, date of birth and description are who the
# person is (core); the areas they were seen in are coordination.
SEARCHED_IN = {"name": Category.CORE, "date_of_birth": Category.CORE, "description": Category.CORE,
               "area": Category.COORDINATION}


def _name_likeness(wanted: str, names: frozenset[str]) -> float:
    best = 0.0
    for name in map(_normal, names):
        if name == wanted or any(part.startswith(wanted) for part in name.split()):
            return 1.0
        similarity = jellyfish.jaro_winkler_similarity(wanted, name)
        if jellyfish.metaphone(wanted) == jellyfish.metaphone(name):
            similarity = max(similarity, 0.9)
        best = max(best, similarity)
    return best


def found(profiles: list[Profile], search: Search, limit: int = 20) -> list[Profile]:
    """The records matching every part of the search given, best name first."""
    scored = []
    wanted_words = description_words(search.description) if search.description else frozenset()
    for profile in profiles:
        likeness = 1.0
        if search.name:
            likeness = _name_likeness(_normal(search.name), profile.names)
            if likeness < SIMILAR_NAME:
                continue
        if search.date_of_birth and profile.date_of_birth != search.date_of_birth:
            continue
        if search.area and search.area not in profile.areas:
            continue
        overlap = len(wanted_words & profile.description_words)
        if wanted_words and not overlap:
            continue
        scored.append((-likeness, -overlap, str(profile.person_id), profile))
    return [profile for *_, profile in sorted(scored, key=lambda s: s[:3])[:limit]]
