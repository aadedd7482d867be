"""The learned policy: neighbour search, prediction behaviour, decisions, calibration, and the
cross-fitted evaluation on small synthetic tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smartroute_graph.classifiers.base import Classification
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.evaluation.learned import (
    cross_fit,
    multi_model_points,
    strong_weak_figures,
)
from smartroute_graph.routing.index import EXACT_MAX, VectorIndex
from smartroute_graph.routing.learned import LearnedPolicy, LearnedSettings
from smartroute_graph.routing.memory import OutcomeMemory
from smartroute_graph.routing.operating import OperatingPoint, choose, parse_target
from smartroute_graph.routing.outcomes import Observation
from smartroute_graph.routing.stores import open_outcome_store

DIM = 32
RNG = np.random.default_rng(7)
CENTRES = RNG.standard_normal((6, DIM))


def cluster(c: int, n: int, noise: float = 0.15, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 100 * c)
    x = CENTRES[c] + noise * np.linalg.norm(CENTRES[c]) / np.sqrt(DIM) * rng.standard_normal(
        (n, DIM)
    )
    out: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def prior(domain: str = "coding", complexity: str = "simple") -> Classification:
    from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS

    return Classification.from_probs(
        {d: 1.0 if d == domain else 0.0 for d in DOMAINS},
        {d: {c: 1.0 if c == complexity else 0.0 for c in COMPLEXITIES} for d in DOMAINS},
        backend="test",
    )


def world() -> OutcomeMemory:
    """Cluster 0: the small model fails; cluster 1: it does as well as the big one."""
    memory = OutcomeMemory()
    for c, (domain, small_score) in enumerate([("coding", 0.0), ("chat", 1.0)]):
        memory.add_queries(
            cluster(c, 40),
            [{"small": small_score, "big": 1.0}] * 40,
            costs=[{"small": 0.001, "big": 0.01}] * 40,
            domains=[domain] * 40,
            complexities=["simple"] * 40,
        )
    return memory


# -- index ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [300, EXACT_MAX * 3])
def test_index_finds_the_true_neighbours(n: int) -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, DIM))
    x = centres[rng.integers(0, 40, n)] + 0.5 * rng.standard_normal((n, DIM))
    index = VectorIndex()
    index.add(x[: n // 2])
    index.add(x[n // 2 :])
    q = x[:20] / np.linalg.norm(x[:20], axis=1, keepdims=True)
    rows, sims = index.search(q, 10)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    exact = np.argsort(-(q @ unit.T), axis=1)[:, :10]
    recall = np.mean([len(set(r) & set(e)) / 10 for r, e in zip(rows, exact, strict=True)])
    assert recall >= 0.9
    assert np.all(np.diff(sims, axis=1) <= 1e-6)  # most similar first
    assert np.allclose(sims[:, 0], 1.0, atol=0.02)  # each query finds itself
    left_out, _ = index.search(q, 5, exclude=np.arange(20))
    assert not any(i in row for i, row in enumerate(left_out.tolist()))


def test_index_pads_when_fewer_rows_than_k() -> None:
    index = VectorIndex()
    index.add(np.eye(3, DIM))
    rows, sims = index.search(np.eye(1, DIM), 5)
    assert rows[0].tolist()[:3] == [0, 1, 2] or rows[0][0] == 0
    assert rows[0][3] == -1 and np.isneginf(sims[0][3])


# -- prediction -------------------------------------------------------------------------------


def test_strong_local_evidence_flips_the_choice() -> None:
    policy = LearnedPolicy(world(), settings=LearnedSettings(tune=False))
    fails = policy.decide(cluster(0, 1, seed=99)[0], prior=prior("coding"))
    assert fails.model == "big"
    assert fails.reason.startswith("learned: ")
    assert "small 0.0" in fails.reason and "→ big" in fails.reason
    fine = policy.decide(cluster(1, 1, seed=99)[0], prior=prior("chat"))
    assert fine.model == "small"
    assert "→ small" in fine.reason


def test_far_or_thin_evidence_leaves_the_prior_in_charge() -> None:
    policy = LearnedPolicy(world(), settings=LearnedSettings(tune=False, bandwidth=0.05))
    far = policy.decide(cluster(4, 1, seed=5)[0], prior=prior("math"))
    assert far.model is None
    assert "the prior decides" in far.reason
    # the estimate there is the store's level, not either cluster's
    est = far.prediction.estimates
    assert 0.3 < est["small"].quality < 0.7
    thin = OutcomeMemory()
    thin.add_queries(cluster(0, 1), [{"small": 0.0, "big": 1.0}])
    decision = LearnedPolicy(thin, settings=LearnedSettings(tune=False)).decide(
        cluster(0, 1, seed=3)[0]
    )
    assert decision.model is None and "under 3" in decision.reason
    empty = LearnedPolicy(OutcomeMemory(), settings=LearnedSettings(tune=False))
    assert empty.decide(np.ones(DIM)).model is None


def test_prediction_shrinks_to_the_cell_then_the_store() -> None:
    policy = LearnedPolicy(world(), settings=LearnedSettings(tune=False, bandwidth=0.02))
    far = cluster(5, 1, seed=11)[0]
    coding = policy.predict(far, prior=prior("coding")).estimates["small"]
    chat = policy.predict(far, prior=prior("chat")).estimates["small"]
    assert coding.evidence < 0.5
    assert coding.quality < 0.2 and chat.quality > 0.8  # the cell's record decides


def test_candidates_costs_and_prior_quality() -> None:
    policy = LearnedPolicy(world(), settings=LearnedSettings(tune=False))
    q = cluster(0, 1, seed=42)[0]
    only_small = policy.decide(q, candidates=["small"])
    assert only_small.model == "small"
    unseen = policy.decide(q, candidates=["small", "huge"], prior_quality={"huge": 0.9})
    assert unseen.model == "huge"
    cheap = policy.decide(
        cluster(1, 1, seed=4)[0], costs={"small": 0.5, "big": 0.001}
    )  # the caller's prices win
    assert cheap.model == "big"


def test_operating_points() -> None:
    quality = {"a": 0.70, "b": 0.78, "c": 0.80}
    costs = {"a": 0.001, "b": 0.01, "c": 0.1}
    assert choose(quality, costs, OperatingPoint(tolerance=0.0)) == "c"
    assert choose(quality, costs, OperatingPoint(tolerance=0.05)) == "b"
    assert choose(quality, costs, OperatingPoint(tolerance=0.2)) == "a"
    assert choose(quality, costs, OperatingPoint(cost_weight=0.0)) == "c"
    assert choose(quality, costs, OperatingPoint(cost_weight=1.0)) == "b"
    assert choose(quality, costs, OperatingPoint(cost_weight=100.0)) == "a"
    slow = {"a": 100.0, "b": 100.0, "c": 30_000.0}
    assert choose(quality, costs, OperatingPoint(cost_weight=0.0, latency_weight=0.01), slow) == "b"
    with pytest.raises(ConfigError):
        OperatingPoint(tolerance=2.0)
    with pytest.raises(ConfigError):
        parse_target("strong-share>=0.3")
    assert parse_target(" cost <= 0.002 ") == ("cost", "<=", 0.002)


def test_fit_is_deterministic_and_reports_its_choice() -> None:
    memory = world()
    a = LearnedPolicy(memory).fit()
    b = LearnedPolicy(memory)
    assert b.fit() == a
    assert b.tuning["mse"] <= b.tuning["mse_store_mean"]
    assert b.tuning["queries"] == 80


def test_calibrate_hits_a_strong_share_target() -> None:
    memory = OutcomeMemory()
    rng = np.random.default_rng(1)
    for c, p_small in enumerate((0.1, 0.5, 0.7, 0.95)):
        scores = [
            {"small": float(rng.random() < p_small), "big": float(rng.random() < 0.95)}
            for _ in range(60)
        ]
        memory.add_queries(
            cluster(c, 60, seed=c), scores, costs=[{"small": 0.001, "big": 0.01}] * 60
        )
    policy = LearnedPolicy(memory)
    policy.fit()
    for target in (0.3, 0.6):
        result = policy.calibrate(f"strong-share<={target}")
        assert result.met and result.strong_share <= target + 1e-9
        assert result.strong_share >= target - 0.3  # uses the room it is given
    cost = policy.calibrate("cost<=0.004", knob="cost_weight")
    assert cost.met and cost.cost_per_query is not None and cost.cost_per_query <= 0.004
    assert cost.operating_point.cost_weight == cost.value
    impossible = policy.calibrate("strong-share<=-1")
    assert not impossible.met


def test_policy_reads_new_outcomes_from_its_store(tmp_path: Path) -> None:
    store = open_outcome_store(tmp_path / "s.db")
    policy = LearnedPolicy.from_store(store, settings=LearnedSettings(tune=False), refresh_s=0)
    q = cluster(2, 1, seed=8)[0]
    assert policy.decide(q).model is None
    store.add(
        Observation(embedding=v, model=m, score=s, source="feedback")
        for v in cluster(2, 10)
        for m, s in (("small", 0.0), ("big", 1.0))
    )
    assert policy.decide(q).model == "big"


# -- cross-fitted evaluation ------------------------------------------------------------------


def table(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 4, n)
    x = np.concatenate([cluster(int(g), 1, seed=i) for i, g in enumerate(groups)])
    weak_p = np.array([0.1, 0.9, 0.5, 0.95])[groups]
    scores = np.stack([rng.random(n) < weak_p, rng.random(n) < 0.95], axis=1).astype(float)
    return x, scores


def test_cross_fit_learns_which_prompts_need_the_strong_model() -> None:
    x, scores = table()
    fit = cross_fit(x, scores, ["weak", "strong"], folds=2)
    assert not np.isnan(fit["quality"]).any()
    assert sorted(set(fit["fold"].tolist())) == [0, 1]
    assert fit["feedback_rows"] == [120, 120]
    figures = strong_weak_figures(fit["quality"], scores[:, 0], scores[:, 1])
    assert figures["apgr"] > 0.75 and figures["cpt50"] < 0.45
    small = cross_fit(x, scores, ["weak", "strong"], folds=2, feedback_fraction=0.1)
    assert small["feedback_rows"] == [24, 24]
    with pytest.raises(ValueError, match="feedback-fraction"):
        cross_fit(x, scores, ["weak", "strong"], folds=2, feedback_fraction=0.8)
    with pytest.raises(ValueError, match="folds"):
        cross_fit(x, scores, ["weak", "strong"], folds=1)


def test_multi_model_points_beat_the_best_single_model() -> None:
    x, two = table()
    scores = np.concatenate([two, (np.random.default_rng(5).random((len(x), 1)) < 0.96)], axis=1)
    costs = np.tile([0.001, 0.01, 0.05], (len(x), 1))
    fit = cross_fit(x, scores, ["weak", "mid", "top"], costs=costs)
    out = multi_model_points(fit["quality"], scores, costs, ["weak", "mid", "top"])
    best = out["best_single_on_test"]
    assert best["model"] in ("mid", "top")
    assert out["cost_ratio_to_match_best_single"] < 1.0
    assert out["points"][0]["cost_weight"] == 0.0
    assert len(out["tolerance_points"]) > 5
