"""Identity decisions judged one at a time: concurrent decisions, chains and cycles refused."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from journey.identity import IdentityGraph, judge

A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def _run(*decisions: tuple[str, uuid.UUID, uuid.UUID]) -> tuple[IdentityGraph, list[str | None]]:
    graph, reasons = IdentityGraph(), []
    for what, record, other in decisions:
        graph, reason = judge(graph, uuid.uuid4(), what, record, other)
        reasons.append(reason)
    return graph, reasons


def test_of_two_merges_of_one_record_the_first_wins() -> None:
    graph, reasons = _run(("merged", A, B), ("merged", A, C))
    assert reasons[0] is None and reasons[1] == f"person_id was already merged into {B}"
    assert graph.merged_into == {A: B}


def test_a_merge_back_the_other_way_or_onwards_is_refused() -> None:
    _, reasons = _run(("merged", A, B), ("merged", B, A), ("merged", C, A), ("merged", B, C))
    assert reasons[0] is None
    assert "was itself merged into" in reasons[1]  # a cycle
    assert "was itself merged into" in reasons[2]  # a chain onto a merged record
    assert "has records merged into it" in reasons[3]  # a chain from a record others joined


def test_undo_split_and_link() -> None:
    graph, reasons = _run(("merge_undone", A, B), ("merged", A, B), ("split", A, B), ("merge_undone", A, B),
                          ("merged", A, B), ("linked", B, A))
    assert reasons[0] == "person_id is not merged into other"
    assert reasons[1] is None and reasons[2] is None  # a split undoes the merge
    assert reasons[3] == "person_id is not merged into other"
    assert "split as two different people" in reasons[4] and "split" in reasons[5]
    assert graph.merged_into == {}


def test_a_decision_judged_again_gets_the_same_verdict() -> None:
    graph, _ = _run(("merged", A, B))
    decision = uuid.uuid4()
    graph, first = judge(graph, decision, "merged", A, C)
    again, second = judge(graph, decision, "merged", A, C)
    assert first == second and again == graph


@given(st.lists(st.tuples(st.sampled_from(["merged", "merge_undone", "linked", "split"]),
                          st.integers(0, 4), st.integers(0, 4)).filter(lambda d: d[1] != d[2]), max_size=40))
def test_whatever_is_decided_merges_never_chain_or_cycle(decisions: list[tuple[str, int, int]]) -> None:
    graph, _ = _run(*((what, uuid.UUID(int=a), uuid.UUID(int=b)) for what, a, b in decisions))
    # Every merge is one hop into a record that is itself not merged.
    assert all(into not in graph.merged_into for into in graph.merged_into.values())
    assert all((min(a, b, key=str), max(a, b, key=str)) not in graph.split
               for a, b in graph.merged_into.items())
