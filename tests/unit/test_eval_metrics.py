"""The metrics added for the evaluation harness, on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from smartroute_graph.evaluation.metrics import (
    cost_at_quality,
    per_class_report,
    percentile,
    quality_at_cost,
    reliability_table,
    upper_hull,
)


def test_per_class_report_by_hand() -> None:
    gold = ["a", "a", "b", "b", "b"]
    pred = ["a", "b", "b", "b", "c"]
    report = per_class_report(gold, pred, ["a", "b", "c"])
    # a: predicted once, right once; 2 gold -> P 1, R 0.5
    assert report["a"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    # b: predicted 3 times, 2 right; 3 gold -> P 2/3, R 2/3
    assert report["b"]["precision"] == pytest.approx(2 / 3)
    assert report["b"]["recall"] == pytest.approx(2 / 3)
    # c: never in gold -> recall 0, support 0; predicted once wrongly -> precision 0
    assert report["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0.0}


def test_reliability_table_matches_ece_bins() -> None:
    rows = reliability_table([0.15, 0.15, 0.95, 0.95], [True, False, True, True], n_bins=10)
    assert len(rows) == 10
    low_bin, high_bin = rows[1], rows[9]
    assert low_bin["count"] == 2 and low_bin["accuracy"] == 0.5
    assert low_bin["confidence"] == pytest.approx(0.15)
    assert low_bin["gap"] == pytest.approx(0.35)
    assert high_bin["count"] == 2 and high_bin["accuracy"] == 1.0
    assert rows[5]["count"] == 0 and rows[5]["gap"] == 0.0
    with pytest.raises(ValueError):
        reliability_table([0.5], [])


def test_upper_hull_drops_dominated_and_concave_points() -> None:
    # (1, .5) cheapest; (2, .55) under the chord from (1,.5) to (3,.9); (3,.9) best;
    # (4, .8) dearer and worse; (1, .2) same cost as the cheapest but worse
    x, y = upper_hull([1, 2, 3, 4, 1], [0.5, 0.55, 0.9, 0.8, 0.2])
    assert x.tolist() == [1.0, 3.0]
    assert y.tolist() == [0.5, 0.9]
    x, y = upper_hull([1, 2, 3], [0.5, 0.8, 0.9])  # concave: every point stays
    assert x.tolist() == [1.0, 2.0, 3.0]


def test_quality_at_cost_interpolates_and_refuses_too_little() -> None:
    costs, quality = [1.0, 3.0], [0.5, 0.9]
    assert quality_at_cost(costs, quality, 2.0) == pytest.approx(0.7)
    assert quality_at_cost(costs, quality, 5.0) == pytest.approx(0.9)
    assert math.isnan(quality_at_cost(costs, quality, 0.5))
    # unsorted input, and a dip: the best reachable at cost <= 2.5 counts the earlier peak
    assert quality_at_cost([3.0, 1.0, 2.0], [0.6, 0.5, 0.8], 2.5) == pytest.approx(0.8)


def test_cost_at_quality_interpolates_first_crossing() -> None:
    costs, quality = [1.0, 2.0, 4.0], [0.5, 0.6, 1.0]
    assert cost_at_quality(costs, quality, 0.8) == pytest.approx(3.0)
    assert cost_at_quality(costs, quality, 0.4) == pytest.approx(1.0)
    assert math.isnan(cost_at_quality(costs, quality, 1.1))


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
