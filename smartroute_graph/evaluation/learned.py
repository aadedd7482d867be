"""Cross-fitted evaluation of the learned policy on outcome tables (``smartroute eval --learn``).

The rows of an outcome table are cut into ``folds`` random folds (default 2). For each fold the
learned policy is given the outcomes of the other folds as feedback (an in-memory store: every
row's embedding, the prior's domain and complexity, and each model's score and cost) and
predicts every model's quality for the held-out rows, which it never saw. Every row is held out
once, so every figure below is measured on rows the policy did not learn from:

- strong/weak tables: the learned "needs the strong model" score is the predicted quality of
  the strong model minus the weak one's; APGR, CPT(50%) and CPT(80%) as RouteLLM scores them
  (:mod:`.metrics`), beside ``complexity_score``, random and the oracle;
- multi-model tables: for each cost weight of a sweep (the operating point: the model that
  maximises predicted quality minus weight x its cost for the row, the cost a router knows
  before answering: the table's prices and the prompt's length) the mean cost and quality of
  the chosen answers (``points``), beside the best single model on the same rows; the
  tolerance knob's points too.

A learning curve repeats the cross-fit with only 10%, 25% and 50% of all rows used as feedback
(drawn from the other folds). Nothing is tuned on the table: the policy fits its own knobs by
leave-one-out on the feedback rows it is given (:meth:`~smartroute_graph.routing.learned.
LearnedPolicy.fit`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smartroute_graph.evaluation.analysis import row_costs
from smartroute_graph.evaluation.datasets import EvalDataError, EvalDataset
from smartroute_graph.evaluation.metrics import (
    apgr,
    cost_at_quality,
    cpt,
    quality_at_cost,
    routing_curve,
)
from smartroute_graph.routing.learned import LearnedPolicy, LearnedSettings
from smartroute_graph.routing.memory import OutcomeMemory

__all__ = [
    "CURVE_FRACTIONS",
    "cross_fit",
    "evaluate_learned",
    "multi_model_points",
    "plot_learned",
    "print_learned",
    "strong_weak_figures",
]

CURVE_FRACTIONS = (0.1, 0.25, 0.5)
_TOLERANCES = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)


def cross_fit(
    embeddings: np.ndarray,
    scores: np.ndarray,
    models: Sequence[str],
    *,
    domains: Sequence[str | None] | None = None,
    complexities: Sequence[str | None] | None = None,
    costs: np.ndarray | None = None,
    folds: int = 2,
    feedback_fraction: float | None = None,
    seed: int = 0,
    settings: LearnedSettings | None = None,
) -> dict[str, Any]:
    """Held-out predictions of every model's quality for every row.

    Args:
        embeddings: [n, dim] query embeddings.
        scores: [n, models] observed scores.
        models: the columns' model names.
        domains: the prior's domain per row (optional).
        complexities: the prior's complexity per row (optional).
        costs: [n, models] costs in USD (stored with the feedback; optional).
        folds: number of folds (2 or more).
        feedback_fraction: learn from only this share of all rows (drawn from the other folds;
            at most ``(folds - 1) / folds``); None: all the other folds' rows.
        seed: fold assignment and feedback draws.
        settings: the policy's settings (default: tuned on each fold's feedback).

    Returns:
        ``quality`` [n, models] held-out predictions, ``fold`` [n], ``feedback_rows`` per fold
        and ``tuning`` per fold (what the policy chose).

    Raises:
        EvalDataError: too few rows or a bad ``folds`` / ``feedback_fraction``.
    """
    n = scores.shape[0]
    if folds < 2 or folds > n:
        raise EvalDataError(f"--folds must be between 2 and the number of rows ({n}), got {folds}")
    limit = (folds - 1) / folds
    if feedback_fraction is not None and not 0.0 < feedback_fraction <= limit + 1e-9:
        raise EvalDataError(
            f"--feedback-fraction must be in (0, {limit:.3g}] with {folds} folds, got "
            f"{feedback_fraction}"
        )
    rng = np.random.default_rng(seed)
    fold = rng.permutation(np.arange(n) % folds)
    quality = np.full(scores.shape, np.nan)
    used: list[int] = []
    tuning: list[dict[str, Any]] = []
    for f in range(folds):
        train = np.flatnonzero(fold != f)
        test = np.flatnonzero(fold == f)
        if feedback_fraction is not None:
            size = max(1, round(feedback_fraction * n))
            train = np.sort(rng.choice(train, size=min(size, train.size), replace=False))
        memory = OutcomeMemory()
        memory.add_queries(
            embeddings[train],
            [{m: float(scores[i, j]) for j, m in enumerate(models)} for i in train],
            costs=None
            if costs is None
            else [{m: float(costs[i, j]) for j, m in enumerate(models)} for i in train],
            domains=None if domains is None else [domains[int(i)] for i in train],
            complexities=None if complexities is None else [complexities[int(i)] for i in train],
        )
        policy = LearnedPolicy(memory, settings=settings)
        if settings is None or settings.tune:
            policy.fit(seed=seed)
        out = policy.predict_rows(
            embeddings[test],
            None if domains is None else [domains[int(i)] for i in test],
            None if complexities is None else [complexities[int(i)] for i in test],
        )
        columns = [memory.models.index(m) for m in models]
        quality[test] = out["quality"][:, columns]
        used.append(int(train.size))
        tuning.append({**policy.tuning, "settings": vars(policy.settings).copy()})
    return {"quality": quality, "fold": fold, "feedback_rows": used, "tuning": tuning}


def strong_weak_figures(
    predicted: np.ndarray, weak: np.ndarray, strong: np.ndarray
) -> dict[str, Any]:
    """APGR, CPT(50%), CPT(80%) and the curve of ``predicted`` [n, (weak, strong)]."""
    curve = routing_curve(
        (predicted[:, 1] - predicted[:, 0]).tolist(), weak.tolist(), strong.tolist()
    )
    step = max(1, curve.share.size // 400)
    return {
        "apgr": apgr(curve),
        "cpt50": cpt(curve, 0.5),
        "cpt80": cpt(curve, 0.8),
        "curve": {
            "x": [float(v) for v in curve.share[::step]],
            "y": [float(v) for v in curve.quality[::step]],
        },
    }


def multi_model_points(
    predicted: np.ndarray, scores: np.ndarray, costs: np.ndarray, models: Sequence[str]
) -> dict[str, Any]:
    """Quality against cost of the learned choices on the rows (see the module doc)."""
    scale = 1.0 / max(float(costs.mean(axis=0).max()), 1e-12)
    idx = np.arange(scores.shape[0])
    points: list[dict[str, float]] = []
    for weight in np.concatenate([[0.0], scale * np.logspace(-3, 1, 41)]):
        utility = predicted - weight * costs
        picks = utility.argmax(axis=1)
        points.append(
            {
                "cost_weight": float(weight),
                "cost": float(costs[idx, picks].mean()),
                "quality": float(scores[idx, picks].mean()),
            }
        )
    tolerance_points = []
    for tol in _TOLERANCES:
        good = predicted >= predicted.max(axis=1, keepdims=True) - tol - 1e-12
        picks = np.where(good, costs, np.inf).argmin(axis=1)
        tolerance_points.append(
            {
                "tolerance": tol,
                "cost": float(costs[idx, picks].mean()),
                "quality": float(scores[idx, picks].mean()),
            }
        )
    mean_q, mean_c = scores.mean(axis=0), costs.mean(axis=0)
    best = max(range(len(models)), key=lambda j: (mean_q[j], -mean_c[j]))
    best_cost, best_quality = float(mean_c[best]), float(mean_q[best])
    single = {"model": models[best], "cost": best_cost, "quality": best_quality}
    xs, ys = [p["cost"] for p in points], [p["quality"] for p in points]
    at_cost = quality_at_cost(xs, ys, best_cost)
    to_match = cost_at_quality(xs, ys, best_quality)
    return {
        "points": points,
        "tolerance_points": tolerance_points,
        "best_single_on_test": single,
        "quality_at_best_single_cost": at_cost,
        "cost_to_match_best_single": to_match,
        "cost_ratio_to_match_best_single": to_match / best_cost if best_cost else None,
    }


def evaluate_learned(
    dataset: EvalDataset,
    embeddings: np.ndarray,
    domains: Sequence[str | None],
    complexities: Sequence[str | None],
    *,
    folds: int = 2,
    feedback_fraction: float | None = None,
    curve_fractions: Sequence[float] = CURVE_FRACTIONS,
    seed: int = 0,
    output_tokens: int = 300,
) -> dict[str, Any]:
    """The ``learned`` block of an evaluation report for an outcome table.

    Args:
        dataset: a strong-weak or multi-model table.
        embeddings: [rows, dim] each row's query embedding.
        domains: the prior's domain per row.
        complexities: the prior's complexity per row.
        folds: cross-fitting folds.
        feedback_fraction: learn from only this share of the rows (see :func:`cross_fit`).
        curve_fractions: the learning curve's feedback shares (those above the folds' limit
            are left out).
        seed: fold assignment.
        output_tokens: answer length of estimated costs (multi-model tables).

    Raises:
        EvalDataError: the dataset is not an outcome table, or bad folds/fraction.
    """
    if dataset.kind not in ("strong-weak", "multi-model"):
        raise EvalDataError("--learn needs an outcome table (rows with scores), not labels")
    models = list(dataset.models)
    scores = np.array([[(r.scores or {})[m] for m in models] for r in dataset.rows], dtype=float)
    costs = row_costs(dataset, output_tokens) if dataset.kind == "multi-model" else None

    def run(fraction: float | None) -> tuple[dict[str, Any], dict[str, Any]]:
        fit = cross_fit(
            embeddings,
            scores,
            models,
            domains=domains,
            complexities=complexities,
            costs=costs,
            folds=folds,
            feedback_fraction=fraction,
            seed=seed,
        )
        if costs is None:
            return fit, strong_weak_figures(fit["quality"], scores[:, 0], scores[:, 1])
        return fit, multi_model_points(fit["quality"], scores, costs, models)

    fit, figures = run(feedback_fraction)
    limit = (folds - 1) / folds
    curve = []
    for fraction in curve_fractions:
        if fraction > limit + 1e-9:
            continue
        _, f = run(fraction)
        entry: dict[str, Any] = {
            "feedback_fraction": fraction,
            "feedback_rows": round(fraction * len(dataset.rows)),
        }
        keys = (
            ("apgr", "cpt50", "cpt80")
            if costs is None
            else ("quality_at_best_single_cost", "cost_ratio_to_match_best_single")
        )
        entry.update({k: f[k] for k in keys})
        curve.append(entry)
    return {
        "folds": folds,
        "feedback_fraction": feedback_fraction,
        "feedback_rows_per_fold": fit["feedback_rows"],
        "seed": seed,
        "tuning": fit["tuning"],
        **figures,
        "learning_curve": curve,
    }


def print_learned(console: Any, block: Mapping[str, Any], table: Any) -> None:
    """Print the ``learned`` block (``table`` is :mod:`.report`'s table builder)."""
    share = block["feedback_fraction"]
    fed = f"{100 * share:.0f}% of the rows" if share else "the other folds"
    console.print(
        f"\n[bold]learned policy[/bold] (cross-fitted: {block['folds']} folds, feedback = {fed},"
        f" {', '.join(map(str, block['feedback_rows_per_fold']))} rows per fold; knobs fitted "
        "by leave-one-out on the feedback only)"
    )
    if "apgr" in block:
        rows = [
            [
                "learned (held-out rows)",
                f"{block['apgr']:.3f}",
                _pct(block["cpt50"]),
                _pct(block["cpt80"]),
            ]
        ]
        rows += [
            [
                f"  feedback {100 * c['feedback_fraction']:.0f}% ({c['feedback_rows']} rows)",
                f"{c['apgr']:.3f}",
                _pct(c["cpt50"]),
                _pct(c["cpt80"]),
            ]
            for c in block["learning_curve"]
        ]
        console.print(table("learned: APGR and CPT", ["", "APGR", "CPT(50%)", "CPT(80%)"], rows))
        return
    best = block["best_single_on_test"]
    console.print(
        f"held-out rows: best single model {best['model']} {best['quality']:.3f} at "
        f"${best['cost']:.6f}; learned at the same cost "
        f"{_num(block['quality_at_best_single_cost'])}; learned reaches its quality at "
        f"{_pct(block['cost_ratio_to_match_best_single'])} of its cost"
    )
    rows = [
        [f"{p['cost_weight']:.4g}", f"${p['cost']:.6f}", f"{p['quality']:.3f}"]
        for p in block["points"][:: max(1, len(block["points"]) // 12)]
    ]
    console.print(
        table("learned: cost weight sweep", ["cost weight", "$ / prompt", "quality"], rows)
    )
    rows = [
        [
            f"  feedback {100 * c['feedback_fraction']:.0f}% ({c['feedback_rows']} rows)",
            _num(c["quality_at_best_single_cost"]),
            _pct(c["cost_ratio_to_match_best_single"]),
        ]
        for c in block["learning_curve"]
    ]
    console.print(
        table("learning curve", ["", "quality at best single's cost", "cost to match it"], rows)
    )


def _pct(value: Any) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{100 * float(value):.1f}%"


def _num(value: Any) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{float(value):.3f}"


def plot_learned(ax: Any, block: Mapping[str, Any]) -> None:
    """Draw the learned curve onto a strong/weak or multi-model plot's axes."""
    if "apgr" in block:
        ax.plot(
            block["curve"]["x"],
            block["curve"]["y"],
            "-",
            linewidth=2.4,
            color="crimson",
            label=f"learned, held out (APGR {block['apgr']:.2f}, CPT50 "
            f"{100 * block['cpt50']:.0f}%)",
        )
    else:
        pts = sorted(block["points"], key=lambda p: p["cost"])
        ax.plot(
            [p["cost"] for p in pts],
            [p["quality"] for p in pts],
            "o-",
            markersize=3,
            linewidth=2.2,
            color="crimson",
            label="learned policy (held-out rows)",
        )
        best = block["best_single_on_test"]
        ax.plot(
            [best["cost"]],
            [best["quality"]],
            "P",
            markersize=9,
            color="black",
            label=f"best single on the same rows ({best['model']})",
        )
    ax.legend(fontsize=7, loc="lower right")
