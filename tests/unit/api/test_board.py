"""The board's weekly chart: bars scaled to the largest count, a suppressed count never drawn
with a guessed height."""

from __future__ import annotations

from api.board import chart_bars


def test_bars_scale_to_the_largest_count_and_a_suppressed_count_is_a_labelled_stub() -> None:
    weeks = [{"week": "2 Nov", "inflow": 10, "outflow": "<5"}, {"week": "9 Nov", "inflow": 0, "outflow": 5}]
    chart = chart_bars(weeks, width=400, height=140)
    inflow, stub, nothing, half = chart["bars"]
    plot = 140 - 40
    assert inflow["h"] == plot and inflow["y"] == chart["base"] - plot
    assert half["h"] == plot / 2
    assert stub["label"] == "<5" and stub["h"] == 2.0  # a stub, not a height that would give the count away
    assert nothing["label"] == "0" and nothing["h"] == 2.0
    assert [bar["key"] for bar in chart["bars"]] == ["inflow", "outflow", "inflow", "outflow"]
    assert [label["text"] for label in chart["labels"]] == ["2 Nov", "9 Nov"]
    assert all(0 <= bar["x"] and bar["x"] + bar["w"] <= 400 for bar in chart["bars"])


def test_an_empty_period_draws_no_bars() -> None:
    assert chart_bars([])["bars"] == []
