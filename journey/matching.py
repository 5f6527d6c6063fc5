"""Proposing that two person records may be the same person, with the reasons.

Matching only proposes: a person confirms by linking or merging. Every score comes with the
reasons for and against, so that a worker can see why a pair was (or was not) proposed. A
pair that someone split is never proposed again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
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


# ---------------------------------------------------------------- blocking keys
# Search and matching read candidates by keys, not every profile: a record is a candidate when
# it shares a key with what is looked for, then scored as before (`found`, `compare`). A name
# gives, for each of its words, its first letter and first two (a search by a word's beginning;
# a spelling alike enough nearly always begins the same), its sound twice (metaphone: "Jon" and
# "John"; soundex: "Tomasz" and "Thomas") and its last three letters (a first letter misheard); a
# date of birth, description words and areas give themselves. Spellings alike in none of these
# (the first two letters swapped: "Adve" for Dave) are not found: the price of not reading
# everyone, 0.3 % of what a scan finds in tests/unit/journey/test_search_keys.py.


def _word_keys(word: str) -> set[str]:
    keys = {f"n{n}:{word[:n]}" for n in range(1, min(2, len(word)) + 1)}
    keys.add(f"nm:{jellyfish.metaphone(word)}")
    keys.add(f"ns:{jellyfish.soundex(word)}")
    if len(word) >= 3:
        keys.add(f"ne:{word[-3:]}")
    return keys


def name_keys(name: str) -> set[str]:
    return set().union(*(_word_keys(word) for word in _normal(name).split()))


def profile_keys(names: Iterable[str] = (), date_of_birth: date | str | None = None,
                 words: Iterable[str] = (), areas: Iterable[str] = ()) -> set[str]:
    """The blocking keys of what one event says about who someone is."""
    keys: set[str] = set().union(*(name_keys(name) for name in names if name))
    if date_of_birth:
        keys.add(f"b:{date_of_birth}")
        keys.add(f"bm:{str(date_of_birth)[:7]}")  # its month: half the weight of the same date
    keys.update(f"w:{word}" for word in words)
    keys.update(f"a:{area}" for area in areas if area)
    return keys


def _wanted_name_keys(name: str) -> set[str]:
    wanted = _normal(name)
    keys = set()
    for word in wanted.split():
        keys.add(f"n{min(2, len(word))}:{word[:2]}")  # its beginning (a part that starts with it)
        keys.add(f"nm:{jellyfish.metaphone(word)}")
        keys.add(f"ns:{jellyfish.soundex(word)}")
        if len(word) >= 3:
            keys.add(f"ne:{word[-3:]}")
    return keys


def search_keys(search: Search) -> list[set[str]]:
    """What a record must have to be found: one key of each set (each term given)."""
    wanted: list[set[str]] = []
    if search.name and _normal(search.name):
        wanted.append(_wanted_name_keys(search.name))
    if search.date_of_birth:
        wanted.append({f"b:{search.date_of_birth}"})
    if search.description:
        if not (words := description_words(search.description)):
            return [set()]  # nothing to match: found() finds nobody either
        wanted.append({f"w:{word}" for word in words})
    if search.area:
        wanted.append({f"a:{search.area}"})
    return wanted


def match_keys(profile: Profile) -> set[str]:
    """The keys a record proposed as the same person shares with `profile`: proposing takes
    names alike or the same date of birth (with neither, the rest weighs under PROPOSE_AT)."""
    keys = set().union(*(_wanted_name_keys(name) for name in profile.names))
    if profile.date_of_birth:
        keys.add(f"b:{profile.date_of_birth}")
    return keys


def evidence_keys(profile: Profile) -> set[str]:
    """The keys of everything `compare` weighs besides names: the date of birth and its month,
    areas, description words. Which of them a candidate shares bounds its score (`could_be_proposed`)."""
    return profile_keys(date_of_birth=profile.date_of_birth, words=profile.description_words, areas=profile.areas)


def could_be_proposed(target: Profile, named: bool, shared: Collection[str]) -> bool:
    """Whether a record could score PROPOSE_AT against `target`, whatever its profile says, from
    whether it shares a key of the target's names (`named`, of `match_keys`) and which of the
    target's `evidence_keys` it has (`shared`): the most each kind of evidence could give. A key
    says what a record has or once had, so a stale one only makes the bound higher. Most of a
    common name's candidates share a name's key and an area at most (0.55): they need not be opened."""
    most = NAME_WEIGHT if named else 0.0
    if target.date_of_birth:
        if f"b:{target.date_of_birth}" in shared:
            most += BIRTH_WEIGHT
        elif f"bm:{str(target.date_of_birth)[:7]}" in shared:
            most += BIRTH_WEIGHT / 2
    if any(key.startswith("a:") for key in shared):
        most += AREA_WEIGHT
    if target.description_words:
        words = sum(1 for key in shared if key.startswith("w:"))
        # The overlap is shared words over both records' words: at most those over the target's.
        most += DESCRIPTION_WEIGHT * min(1.0, 2 * words / len(target.description_words))
    return round(most, 3) >= PROPOSE_AT


def found(profiles: Iterable[Profile], search: Search, limit: int = 20) -> list[Profile]:
    """The records matching every part of the search given, at most `limit`: names as given (or
    with a word beginning so) before names only alike, then the most description words shared,
    then in the order read (search reads the most recently seen first: the person in front of an
    outreach worker is more likely someone seen last week than ten years ago).

    `profiles` is read only until `limit` records are found that nothing read after them could
    go before, so a caller may read them lazily: a common name finds thousands of candidates in a
    city, and opening each costs a read and a decryption."""
    wanted_name = _normal(search.name) if search.name else None
    wanted_words = description_words(search.description) if search.description else frozenset()
    best = (0, -len(wanted_words))  # a name as given and every description word shared
    scored: list[tuple[int, int, int, Profile]] = []
    at_best = 0
    for position, profile in enumerate(profiles):
        alike = 0
        if wanted_name:
            likeness = _name_likeness(wanted_name, profile.names)
            if likeness < SIMILAR_NAME:
                continue
            alike = 0 if likeness == 1.0 else 1
        if search.date_of_birth and profile.date_of_birth != search.date_of_birth:
            continue
        if search.area and search.area not in profile.areas:
            continue
        overlap = len(wanted_words & profile.description_words)
        if wanted_words and not overlap:
            continue
        scored.append((alike, -overlap, position, profile))
        if (alike, -overlap) == best:
            at_best += 1
            if at_best == limit:
                break
    return [profile for *_, profile in sorted(scored, key=lambda s: s[:3])[:limit]]
