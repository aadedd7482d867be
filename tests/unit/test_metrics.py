"""Metric functions on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from smartroute_graph.evaluation import metrics


def test_accuracy_and_f1_by_hand() -> None:
    gold = ["a", "a", "b", "b"]
    pred = ["a", "b", "b", "b"]
    assert metrics.accuracy(gold, pred) == 0.75
    # a: tp1 fp0 fn1 -> 2/3 ; b: tp2 fp1 fn0 -> 4/5
    f1 = metrics.per_class_f1(gold, pred)
    assert f1 == pytest.approx({"a": 2 / 3, "b": 4 / 5})
    assert metrics.macro_f1(gold, pred) == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_macro_f1_over_given_labels_counts_unseen_as_zero() -> None:
    assert metrics.macro_f1(["a"], ["a"], ["a", "b"]) == pytest.approx(0.5)


def test_confusion_matrix() -> None:
    m = metrics.confusion_matrix(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert m == [[1, 1], [0, 1]]


def test_length_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="length mismatch"):
        metrics.accuracy(["a"], [])


def test_ece_of_calibrated_and_overconfident() -> None:
    # bin 0.8: 4 of 5 right -> calibrated
    assert metrics.expected_calibration_error([0.8] * 5, [True] * 4 + [False]) == pytest.approx(0.0)
    # always 0.9 confident, right half the time -> 0.4
    assert metrics.expected_calibration_error([0.9] * 4, [True, False] * 2) == pytest.approx(0.4)


def test_routing_curve_apgr_cpt_oracle_by_hand() -> None:
    weak = [0.0, 0.0, 1.0, 1.0]
    strong = [1.0, 1.0, 1.0, 0.0]
    curve = metrics.routing_curve(metrics.oracle_scores(weak, strong), weak, strong)
    # scores [1, 1, 0, -1]: the tie moves together -> cut points at 0, 2, 3, 4 prompts
    assert curve.share.tolist() == [0.0, 0.5, 0.75, 1.0]
    assert curve.quality.tolist() == [0.5, 1.0, 1.0, 0.75]
    assert curve.pgr.tolist() == [0.0, 2.0, 2.0, 1.0]
    assert metrics.apgr(curve) == pytest.approx(0.5 + 0.5 + 0.375)
    # PGR 0.5 lies between (0, 0) and (0.5, 2): interpolated at 0.125
    assert metrics.cpt(curve, 0.5) == pytest.approx(0.125)


def test_constant_score_is_the_straight_line() -> None:
    curve = metrics.routing_curve([0.3] * 5, [0, 1, 0, 1, 0], [1, 1, 1, 0, 1])
    assert curve.share.tolist() == [0.0, 1.0]
    assert metrics.apgr(curve) == pytest.approx(0.5)
    assert metrics.cpt(curve, 0.5) == pytest.approx(0.5)


def test_random_routing_apgr_is_about_half() -> None:
    rng = np.random.default_rng(0)
    weak = rng.integers(0, 2, 5000).astype(float)
    strong = np.maximum(weak, rng.integers(0, 2, 5000))
    values = [metrics.apgr(metrics.routing_curve(rng.random(5000), weak, strong)) for _ in range(5)]
    assert np.mean(values) == pytest.approx(0.5, abs=0.03)


def test_cpt_never_reached() -> None:
    curve = metrics.routing_curve([1.0, 0.0], [0.0, 0.0], [0.0, 0.0])
    assert metrics.cpt(curve, 0.5) == 1.0


def test_routing_curve_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        metrics.routing_curve([1.0], [0.0, 1.0], [1.0, 1.0])
