"""Search and matching read candidates by blocking keys (journey/matching.py), then score them
as before: what they find must be what scoring every profile finds, but for spellings alike in
neither beginning, sound nor end."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from journey.matching import (
    Profile,
    Search,
    candidates,
    compare,
    could_be_proposed,
    description_words,
    evidence_keys,
    found,
    match_keys,
    profile_keys,
    search_keys,
)

FIRST = ("John Jonno Jon Dave David Davey Margaret Mags Kelly Kel Danny Daniel Michelle Shell Mick Michael "
         "Stephanie Steph Karen Kaz Gary Gaz Rebecca Bex Eleanor Nell Catherine Kathryn Sean Shaun Aisha "
         "Mohammed Muhammad Zofia Sophia Liam Niamh Callum Siobhan Tomasz Thomas").split()
LAST = ("Smith Smyth Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Wright "
        "Walker White Hughes Edwards Green Hall Wood Harris Lewis Martin Jackson Clarke Clark Kowalski "
        "Nowak O'Brien Murphy Khan Begum Ahmed").split()


def _people(rng: random.Random, count: int) -> list[Profile]:
    people = []
    for n in range(count):
        names = {f"{rng.choice(FIRST)} {rng.choice(LAST)}" if rng.random() < 0.6 else rng.choice(FIRST)}
        if rng.random() < 0.3:
            names.add(rng.choice(FIRST))  # a street name
        birth = date(1960 + rng.randrange(45), 1 + rng.randrange(12), 1 + rng.randrange(28)) \
            if rng.random() < 0.5 else None
        people.append(Profile(UUID(int=n + 1), frozenset(names), birth, frozenset({rng.choice("ABCD")}),
                              description_words(rng.choice(("red coat beard", "green hat", "tall grey coat", "")))))
    return people


def _misheard(name: str, rng: random.Random) -> str:
    """A spelling as an outreach worker might type what they heard."""
    word = list(rng.choice(name.split()).lower())
    change = rng.randrange(5)
    at = rng.randrange(len(word))
    if change == 0 and len(word) > 3:
        del word[at]
    elif change == 1:
        word.insert(at, word[at])
    elif change == 2 and at + 1 < len(word):
        word[at], word[at + 1] = word[at + 1], word[at]
    elif change == 3:
        word[at] = rng.choice("aeiouy")
    else:
        word = word[:rng.randrange(1, len(word) + 1)]  # its beginning
    return "".join(word)


def _blocked(people: list[Profile], search: Search) -> list[Profile]:
    wanted = search_keys(search)
    keyed = [p for p in people
             if all(keys & profile_keys(p.names, p.date_of_birth, p.description_words, p.areas) for keys in wanted)]
    return found(keyed, search, limit=1000)


def test_a_search_by_keys_finds_what_scoring_everyone_finds() -> None:
    rng = random.Random(28)
    people = _people(rng, 600)
    missed = total = 0
    for _ in range(400):
        person = rng.choice([p for p in people if p.names])
        search = Search(name=_misheard(rng.choice(sorted(person.names)), rng), area=rng.choice(("A", None)),
                        date_of_birth=person.date_of_birth if rng.random() < 0.2 else None)
        everyone, by_keys = found(people, search, limit=1000), _blocked(people, search)
        assert set(by_keys) <= set(everyone)  # keys only narrow: scoring still decides
        total += len(everyone)
        missed += len(set(everyone) - set(by_keys))
    # Measured: 14 of the 4,518 a scan finds are missed, all spelt with the first two letters
    # swapped ("htomas" for Tomasz, "adve" for Dave).
    assert total > 4000 and missed / total < 0.005, (missed, total)


@settings(max_examples=200)
@given(st.sampled_from(FIRST + LAST), st.integers(1, 12), st.sampled_from(LAST))
def test_the_beginning_of_any_word_of_a_name_always_finds_it(word: str, length: int, other: str) -> None:
    person = Profile(UUID(int=1), frozenset({f"{other} {word}"}))
    search = Search(name=word[:length])
    assert found([person], search) == _blocked([person], search) == [person]


def test_every_pair_scoring_would_propose_shares_a_key() -> None:
    rng = random.Random(7)
    people = _people(rng, 400)
    proposed = 0
    for target in people:
        everyone = candidates(target, people, limit=1000)
        keyed = [p for p in people if match_keys(target) & profile_keys(p.names, p.date_of_birth)]
        assert candidates(target, keyed, limit=1000) == everyone
        proposed += len(everyone)
    assert proposed > 200


def test_the_other_terms_are_their_own_keys() -> None:
    person = Profile(UUID(int=1), frozenset({"Kel"}), date(1980, 2, 3), frozenset({"town-centre"}),
                     description_words("Red coat, grey beard"))
    for search in (Search(date_of_birth=date(1980, 2, 3)), Search(area="town-centre"),
                   Search(description="a beard"), Search(name="kell", area="town-centre")):
        assert _blocked([person], search) == found([person], search) == [person]
    for search in (Search(date_of_birth=date(1980, 2, 4)), Search(area="station"), Search(description="the hat")):
        assert _blocked([person], search) == found([person], search) == []


def _named(n: int, name: str, words: str = "") -> Profile:
    return Profile(UUID(int=n), frozenset({name}), description_words=description_words(words))


def test_names_as_given_come_before_names_alike_then_the_order_read() -> None:
    # Read in this order: the most recently seen first, as search reads them.
    read = [_named(1, "Davy"), _named(2, "Dave Smith"), _named(3, "Daev"), _named(4, "Dave"), _named(5, "Daniel")]
    assert [p.person_id.int for p in found(read, Search(name="dave"))] == [2, 4, 1, 3]
    read = [_named(1, "Dave", "red coat"), _named(2, "Dave", "red coat beard"), _named(3, "Dave", "coat")]
    assert [p.person_id.int for p in found(read, Search(name="dave", description="red beard"))] == [2, 1]


def test_search_reads_no_further_than_the_best_it_can_find() -> None:
    read: list[int] = []

    def lazily() -> Iterator[Profile]:
        for n in range(1, 200):
            read.append(n)
            yield _named(n, "Davy" if n % 2 else "Dave")

    shown = found(lazily(), Search(name="dave"), limit=20)
    # Twenty called Dave, the most recent first: no later record could go before them.
    assert [p.person_id.int for p in shown] == list(range(2, 41, 2))
    assert read == list(range(1, 41))
    # With fewer found as given, every candidate is read and the alike fill the rest in order.
    read.clear()
    assert [p.person_id.int for p in found(lazily(), Search(name="davy"), limit=5)] == [1, 3, 5, 7, 9]
    assert len(read) == 9


def test_no_record_a_proposal_would_name_is_left_unopened_by_the_bound() -> None:
    rng = random.Random(11)
    people = _people(rng, 400)
    proposed = skipped = 0
    for target in people:
        names = match_keys(Profile(target.person_id, target.names))
        for other in people:
            if other is target:
                continue
            keys = profile_keys(other.names, other.date_of_birth, other.description_words, other.areas)
            if not keys & match_keys(target):
                continue  # not a candidate at all (test_every_pair_scoring_would_propose_shares_a_key)
            bound = could_be_proposed(target, bool(keys & names), keys & evidence_keys(target))
            if compare(target, other).proposed:
                proposed += 1
                assert bound, (target, other)
            skipped += not bound
    # Measured: of 22,980 candidates 652 are proposed and 17,940 cannot be (a name's key and too
    # little else).
    assert proposed > 200 and skipped > 10 * proposed, (proposed, skipped)
    # Born in the same month (half the weight of the same date) is enough with the same name.
    target, other = (Profile(UUID(int=n), frozenset({"Kel Smith"}), date(1980, 2, n)) for n in (1, 2))
    assert compare(target, other).proposed
    assert could_be_proposed(target, True, evidence_keys(target) & profile_keys(other.names, other.date_of_birth))
