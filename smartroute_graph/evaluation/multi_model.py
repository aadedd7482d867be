"""Quality against cost on a table of several priced models (:func:`score_multi_model`).

It covers every single model, the extremes, the best single model, the oracle, random mixing, and
the policies driven by the router's classification, a per-cell table fitted on part of the rows
among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from smartroute_graph.core.pricing import estimate_tokens
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS
from smartroute_graph.evaluation.datasets import EvalDataError, EvalDataset
from smartroute_graph.evaluation.metrics import (
    cost_at_quality,
    quality_at_cost,
    upper_hull,
)
from smartroute_graph.evaluation.runner import RunResult
from smartroute_graph.routing.policy import RoutingDecision

__all__ = ["DEFAULT_OUTPUT_TOKENS", "row_costs", "score_multi_model"]

DEFAULT_OUTPUT_TOKENS = 300


def row_costs(dataset: EvalDataset, output_tokens: int = DEFAULT_OUTPUT_TOKENS) -> np.ndarray:
    """Dollar cost of each (row, model).

    The row's own ``costs`` when given, else the prompt's estimated input tokens and
    ``output_tokens`` at the table's prices.
    """
    models = dataset.models
    costs = np.zeros((len(dataset.rows), len(models)))
    for i, row in enumerate(dataset.rows):
        tokens_in = estimate_tokens(row.text) + 7  # one user message's framing, as pricing does
        for j, model in enumerate(models):
            if row.costs and model in row.costs:
                costs[i, j] = row.costs[model]
            else:
                price = dataset.prices[model]
                costs[i, j] = (
                    tokens_in * price.input_per_m + output_tokens * price.output_per_m
                ) / 1e6
    return costs


def _pick(scores: np.ndarray, costs: np.ndarray, choice: np.ndarray) -> tuple[float, float]:
    idx = np.arange(choice.size)
    return float(scores[idx, choice].mean()), float(costs[idx, choice].mean())


def _shares(choice: np.ndarray, models: Sequence[str]) -> dict[str, float]:
    counts = np.bincount(choice, minlength=len(models))
    return {m: float(counts[j] / choice.size) for j, m in enumerate(models)}


def _rank_quantile(values: np.ndarray) -> np.ndarray:
    """For each value, the share of values strictly below it (ties share a quantile)."""
    order = np.sort(values)
    result: np.ndarray = np.searchsorted(order, values, side="left") / values.size
    return result


def _ladder_choice(rank: np.ndarray, ladder: Sequence[int], alpha: float) -> np.ndarray:
    position = np.clip(rank + 2 * alpha - 1, 0.0, 1.0 - 1e-9)
    steps: np.ndarray = np.asarray(ladder)[(position * len(ladder)).astype(int)]
    return steps


def _frontier(cost: np.ndarray, quality: np.ndarray) -> list[int]:
    """Models no cheaper-or-equal model matches in quality, by increasing cost."""
    order = sorted(range(cost.size), key=lambda j: (cost[j], -quality[j]))
    kept: list[int] = []
    for j in order:
        if not kept or quality[j] > quality[kept[-1]]:
            kept.append(j)
    return kept


def _versus_best(
    curve_cost: Sequence[float], curve_quality: Sequence[float], best: dict[str, Any]
) -> dict[str, float]:
    q_at = quality_at_cost(curve_cost, curve_quality, best["cost"])
    c_at = cost_at_quality(curve_cost, curve_quality, best["quality"])
    return {
        "quality_at_best_single_cost": q_at,
        "quality_gain_at_equal_cost": q_at - best["quality"],
        "cost_to_match_best_single": c_at,
        "cost_ratio_to_match_best_single": c_at / best["cost"] if best["cost"] else float("nan"),
    }


def score_multi_model(
    run: RunResult,
    *,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS,
    ladder: str = "frontier",
    fit_fraction: float = 0.5,
    seed: int = 0,
) -> dict[str, Any]:
    """Quality against cost on a multi-model table.

    Policies driven by the router's classification:

    - ``ladder``: models ordered by cost (``ladder="frontier"``: only the models no cheaper
      model matches in mean quality; ``"all"``; or a comma-separated list). Prompts ranked by
      ``complexity_score`` are cut into equal bands, one per ladder step (the operating point,
      alpha = 0.5); sweeping alpha from 0 to 1 slides the bands from all-cheapest to
      all-dearest, tracing the curve.
    - ``policy table``: a (domain, complexity) → model table, fitted on a random
      ``fit_fraction`` of the rows (for each cell, the cheapest model whose mean score in the
      cell is within a tolerance of the cell's best; cells with under 5 rows use the
      domain's, then the global pick) and measured on the other rows; the tolerance is swept.
      Its baselines are re-measured on the same held-out rows.
    """
    dataset = run.dataset
    models = list(dataset.models)
    scores = np.array([[(r.scores or {})[m] for m in models] for r in dataset.rows], dtype=float)
    costs = row_costs(dataset, output_tokens)
    mean_cost, mean_quality = costs.mean(axis=0), scores.mean(axis=0)
    singles = [
        {"model": m, "cost": float(mean_cost[j]), "quality": float(mean_quality[j])}
        for j, m in enumerate(models)
    ]
    cheapest = min(range(len(models)), key=lambda j: (mean_cost[j], -mean_quality[j]))
    dearest = max(range(len(models)), key=lambda j: (mean_cost[j], mean_quality[j]))
    best = max(range(len(models)), key=lambda j: (mean_quality[j], -mean_cost[j]))
    oracle = _oracle_choice(scores, costs)
    q_oracle, c_oracle = _pick(scores, costs, oracle)
    hull_x, hull_y = upper_hull(mean_cost, mean_quality)
    best_row = {"cost": float(mean_cost[best]), "quality": float(mean_quality[best])}

    steps = _ladder_steps(ladder, models, mean_cost, mean_quality)
    decisions = run.decisions
    rank = _rank_quantile(np.array([d.complexity_score for d in decisions], dtype=float))
    alphas = np.linspace(0.0, 1.0, 101)
    ladder_points = []
    for alpha in alphas:
        choice = _ladder_choice(rank, steps, float(alpha))
        q, c = _pick(scores, costs, choice)
        ladder_points.append((c, q))
    operating = _ladder_choice(rank, steps, 0.5)
    q_op, c_op = _pick(scores, costs, operating)
    lx = [p[0] for p in ladder_points]
    ly = [p[1] for p in ladder_points]

    baselines = [
        {"name": f"always cheapest ({models[cheapest]})", **_point(singles[cheapest])},
        {"name": f"always most expensive ({models[dearest]})", **_point(singles[dearest])},
        {"name": f"best single model ({models[best]})", **_point(singles[best])},
        {"name": "oracle (cheapest best model per prompt)", "cost": c_oracle, "quality": q_oracle},
    ]
    result: dict[str, Any] = {
        "models": models,
        "output_tokens": output_tokens,
        "singles": singles,
        "baselines": baselines,
        "random_mix_hull": {"x": [float(v) for v in hull_x], "y": [float(v) for v in hull_y]},
        "random_mix_quality_at_best_single_cost": quality_at_cost(hull_x, hull_y, best_row["cost"]),
        "oracle_shares": _shares(oracle, models),
        "ladder": {
            "models": [models[j] for j in steps],
            "selection": ladder,
            "curve": {"x": lx, "y": ly, "alpha": [float(a) for a in alphas]},
            "operating_point": {
                "alpha": 0.5,
                "cost": c_op,
                "quality": q_op,
                "shares": _shares(operating, models),
                "total_cost": float(costs[np.arange(operating.size), operating].sum()),
            },
            **_versus_best(lx, ly, best_row),
        },
    }
    table = _policy_table_curve(
        decisions, scores, costs, models, fit_fraction=fit_fraction, seed=seed
    )
    if table is not None:
        result["policy_table"] = table
    return result


def _point(single: dict[str, Any]) -> dict[str, float]:
    return {"cost": single["cost"], "quality": single["quality"]}


def _oracle_choice(scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
    best = scores.max(axis=1, keepdims=True)
    masked = np.where(scores >= best - 1e-12, costs, np.inf)
    choice: np.ndarray = masked.argmin(axis=1)
    return choice


def _ladder_steps(
    ladder: str, models: list[str], mean_cost: np.ndarray, mean_quality: np.ndarray
) -> list[int]:
    if ladder == "frontier":
        return _frontier(mean_cost, mean_quality)
    if ladder == "all":
        return sorted(range(len(models)), key=lambda j: (mean_cost[j], models[j]))
    names = [n.strip() for n in ladder.split(",") if n.strip()]
    unknown = [n for n in names if n not in models]
    if unknown or not names:
        raise EvalDataError(
            f"--ladder: unknown model(s) {unknown or ladder!r}; use 'frontier', 'all' or a "
            f"comma-separated list of: {', '.join(models)}"
        )
    return sorted((models.index(n) for n in names), key=lambda j: mean_cost[j])


_TOLERANCES = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
_MIN_CELL_ROWS = 5


def _policy_table_curve(
    decisions: Sequence[RoutingDecision],
    scores: np.ndarray,
    costs: np.ndarray,
    models: list[str],
    *,
    fit_fraction: float,
    seed: int,
) -> dict[str, Any] | None:
    n = len(decisions)
    if not 0.0 < fit_fraction < 1.0:
        raise EvalDataError(f"fit fraction must be between 0 and 1, got {fit_fraction}")
    n_fit = round(n * fit_fraction)
    if n_fit < _MIN_CELL_ROWS or n - n_fit < 1:
        return None
    perm = np.random.default_rng(seed).permutation(n)
    fit, test = np.sort(perm[:n_fit]), np.sort(perm[n_fit:])
    cells = [(d.domain, d.complexity) for d in decisions]
    test_best = max(
        range(len(models)),
        key=lambda j: (scores[fit, j].mean(), -costs[fit, j].mean()),
    )
    best_row = {
        "cost": float(costs[test, test_best].mean()),
        "quality": float(scores[test, test_best].mean()),
    }
    points: list[dict[str, Any]] = []
    for tol in _TOLERANCES:
        table = _fit_table(cells, scores, costs, fit, tol)
        choice = np.array([table[cells[i]] for i in test])
        q = float(scores[test, choice].mean())
        c = float(costs[test, choice].mean())
        points.append(
            {"tolerance": tol, "cost": c, "quality": q, "shares": _shares(choice, models)}
        )
    tx = [float(p["cost"]) for p in points]
    ty = [float(p["quality"]) for p in points]
    oracle = _oracle_choice(scores[test], costs[test])
    q_or, c_or = _pick(scores[test], costs[test], oracle)
    return {
        "fit_rows": int(n_fit),
        "test_rows": int(n - n_fit),
        "seed": seed,
        "points": points,
        "best_single_on_test": {"model": models[test_best], **best_row},
        "oracle_on_test": {"cost": c_or, "quality": q_or},
        **_versus_best(tx, ty, best_row),
    }


def _fit_table(
    cells: Sequence[tuple[str, str]],
    scores: np.ndarray,
    costs: np.ndarray,
    fit: np.ndarray,
    tol: float,
) -> dict[tuple[str, str], int]:
    def pick(rows: np.ndarray) -> int:
        quality = scores[rows].mean(axis=0)
        cost = costs[rows].mean(axis=0)
        good = np.flatnonzero(quality >= quality.max() - tol - 1e-12)
        return int(good[np.argmin(cost[good])])

    overall = pick(fit)
    by_domain: dict[str, int] = {}
    for domain in DOMAINS:
        rows = np.array([i for i in fit if cells[i][0] == domain], dtype=int)
        by_domain[domain] = pick(rows) if rows.size >= _MIN_CELL_ROWS else overall
    table: dict[tuple[str, str], int] = {}
    for domain in DOMAINS:
        for level in COMPLEXITIES:
            rows = np.array([i for i in fit if cells[i] == (domain, level)], dtype=int)
            enough = rows.size >= _MIN_CELL_ROWS
            table[(domain, level)] = pick(rows) if enough else by_domain[domain]
    return table
