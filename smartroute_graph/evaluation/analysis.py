"""The figures of an evaluation run, as plain dicts (JSON-ready; :mod:`report` renders them).

- :func:`score_labels`: classification against gold labels (accuracy, macro-F1, per-class
  precision/recall, confusion, per-source accuracy, reliability table and ECE), and, when a
  row has both labels, how the router's pick compares with the pick its gold labels get.
- :func:`score_strong_weak`: RouteLLM's scoring of a router on a strong/weak outcome table.
  The router's "needs the strong model" score is ``complexity_score`` (``score="complexity"``)
  or, ``score="domain-aware"``, ``complexity_score + P(coding or math or reasoning)``: the
  probability that the prompt is in a domain where strong models gain most moves it up the
  order, and complexity orders prompts within. Beside it: all-weak, all-strong, random (mean
  of seeded draws), the oracle, the domain rule (coding/math/reasoning → strong) and the
  router's own policy as one point (a pick other than the catalog's cheapest model counts as
  a strong call).
- :func:`score_multi_model`: quality against cost on a table of several priced models: every
  single model, always-cheapest, always-most-expensive, the best single model, the oracle
  (per prompt, the cheapest of the best-scoring models), random mixing (the upper hull of the
  single models), and two multi-model policies driven by the router's classification (see
  the function).
- :func:`traffic`: every report's traffic block: each model's share, the total and per-prompt
  estimated cost, and decision latency (median, p99).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS
from smartroute_graph.evaluation.datasets import EvalDataError, EvalRow
from smartroute_graph.evaluation.metrics import (
    RoutingCurve,
    accuracy,
    apgr,
    confusion_matrix,
    cpt,
    expected_calibration_error,
    macro_f1,
    oracle_scores,
    per_class_report,
    percentile,
    reliability_table,
    routing_curve,
)
from smartroute_graph.evaluation.multi_model import (
    DEFAULT_OUTPUT_TOKENS,
    row_costs,
    score_multi_model,
)
from smartroute_graph.evaluation.runner import RunResult
from smartroute_graph.routing.policy import RoutingDecision

__all__ = [
    "HARD_DOMAINS",
    "STRONG_SCORES",
    "analyse",
    "row_costs",
    "score_labels",
    "score_multi_model",
    "score_strong_weak",
    "strong_scores",
    "traffic",
]

# Domains where a strong model gains most over a weak one (RouteLLM's MT-bench categories).
HARD_DOMAINS = ("coding", "math", "reasoning")
STRONG_SCORES = ("complexity", "domain-aware")
_MAX_CURVE_POINTS = 400
_Axis = Literal["domain", "complexity"]


def traffic(run: RunResult) -> dict[str, Any]:
    """Model shares, estimated cost (the catalog's prices) and decision latency of a run."""
    decisions = run.decisions
    n = len(decisions)
    counts = Counter(d.model for d in decisions)
    cost = float(sum(d.estimated_cost_usd for d in decisions))
    latencies = [r.latency_ms for r in run.routed]
    return {
        "n": n,
        "models": {
            m: {"count": counts.get(m, 0), "share": counts.get(m, 0) / n if n else 0.0}
            for m in run.catalog.ladder
        },
        "strong_share": sum(c for m, c in counts.items() if m != run.cheapest) / n if n else 0.0,
        "estimated_cost_usd": cost,
        "estimated_cost_per_prompt_usd": cost / n if n else 0.0,
        "latency_ms": {
            "median": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "mean": float(np.mean(latencies)) if latencies else float("nan"),
            "mode": run.mode,
        },
        "wall_s": run.wall_s,
    }


# -- labels ---------------------------------------------------------------------------------


def score_labels(run: RunResult, n_bins: int = 10) -> dict[str, Any]:
    """Classification figures against the gold labels present in the set."""
    rows = run.dataset.rows
    out: dict[str, Any] = {}
    axes: tuple[tuple[_Axis, Sequence[str]], ...] = (
        ("domain", DOMAINS),
        ("complexity", COMPLEXITIES),
    )
    for axis, labels in axes:
        with_gold = [(i, r) for i, r in enumerate(rows) if _gold(r, axis) is not None]
        if not with_gold:
            continue
        readings = [_reading(run.routed[i].decision, axis) for i, _ in with_gold]
        block = _label_block(
            [_gold(r, axis) or "" for _, r in with_gold],
            [label for label, _ in readings],
            [confidence for _, confidence in readings],
            [r.source for _, r in with_gold],
            labels,
            n_bins,
        )
        if axis == "complexity":
            given = _complexity_given_gold_domain(run, with_gold)
            if given is not None:
                block["accuracy_given_gold_domain"] = given
        out[axis] = block
    both = [(i, r) for i, r in enumerate(rows) if r.domain and r.complexity]
    if both:
        out["routing_vs_gold"] = _routing_vs_gold(run, both)
    return out


def _gold(row: EvalRow, axis: _Axis) -> str | None:
    return row.domain if axis == "domain" else row.complexity


def _reading(decision: RoutingDecision, axis: _Axis) -> tuple[str, float]:
    """The decision's label on ``axis`` and the probability it gave that label."""
    if axis == "domain":
        return decision.domain, decision.domain_probs.get(decision.domain, 0.0)
    return decision.complexity, decision.complexity_probs.get(decision.complexity, 0.0)


def _label_block(
    gold: list[str],
    pred: list[str],
    confidence: list[float],
    sources: list[str],
    labels: Sequence[str],
    n_bins: int,
) -> dict[str, Any]:
    present = [label for label in labels if label in set(gold)]
    shown = [label for label in labels if label in set(gold) | set(pred)]
    correct = [g == p for g, p in zip(gold, pred, strict=True)]
    by_source: dict[str, list[bool]] = defaultdict(list)
    for source, hit in zip(sources, correct, strict=True):
        by_source[source or "(none)"].append(hit)
    matrix = confusion_matrix(gold, pred, list(labels))
    return {
        "n": len(gold),
        "accuracy": accuracy(gold, pred),
        "macro_f1": macro_f1(gold, pred, present),
        "labels_present": present,
        "per_class": per_class_report(gold, pred, shown),
        "confusion": {
            "rows": present,
            "cols": list(labels),
            "matrix": [matrix[list(labels).index(g)] for g in present],
        },
        "per_source": {
            s: {"n": len(v), "accuracy": float(np.mean(v))} for s, v in sorted(by_source.items())
        },
        "ece": expected_calibration_error(confidence, correct, n_bins),
        "reliability": reliability_table(confidence, correct, n_bins),
    }


def _complexity_given_gold_domain(
    run: RunResult, with_complexity: list[tuple[int, EvalRow]]
) -> float | None:
    hits: list[bool] = []
    for i, row in with_complexity:
        c = run.routed[i].classification
        if row.domain is None or c is None or row.domain not in c.complexity_by_domain:
            return None
        probs = c.complexity_by_domain[row.domain]
        hits.append(max(COMPLEXITIES, key=lambda k: probs.get(k, 0.0)) == row.complexity)
    return float(np.mean(hits)) if hits else None


def _routing_vs_gold(run: RunResult, both: list[tuple[int, EvalRow]]) -> dict[str, Any]:
    """How the router's pick compares with the table's pick for the gold labels."""
    catalog = run.catalog
    ladder = list(catalog.ladder)
    table = run.policy_table
    under = over = same = 0
    for i, row in both:
        gold_model = table[str(row.domain)][str(row.complexity)]
        picked = run.routed[i].decision.model
        if picked == gold_model:
            same += 1
        elif catalog[picked].tier < catalog[gold_model].tier or (
            catalog[picked].tier == catalog[gold_model].tier
            and ladder.index(picked) < ladder.index(gold_model)
        ):
            under += 1
        else:
            over += 1
    n = len(both)
    return {
        "n": n,
        "same_model": same / n,
        "under_routed": under / n,
        "over_routed": over / n,
        "note": "gold pick = the policy table's model for the row's gold (domain, complexity); "
        "under-routed = the router picked a weaker model",
    }


# -- strong / weak ---------------------------------------------------------------------------


def strong_scores(decisions: Sequence[RoutingDecision], score: str = "complexity") -> np.ndarray:
    """Each prompt's "needs the strong model" score (higher → strong); see the module doc."""
    if score not in STRONG_SCORES:
        raise EvalDataError(f"unknown score {score!r}; choose one of {', '.join(STRONG_SCORES)}")
    base = np.array([d.complexity_score for d in decisions], dtype=float)
    if score == "complexity":
        return base
    hard = np.array([sum(d.domain_probs.get(x, 0.0) for x in HARD_DOMAINS) for d in decisions])
    result: np.ndarray = base + hard
    return result


def _curve_row(name: str, curve: RoutingCurve, kind: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "apgr": apgr(curve),
        "cpt50": cpt(curve, 0.5),
        "cpt80": cpt(curve, 0.8),
        "curve": _thin(curve.share, curve.quality),
    }


def _thin(x: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    if x.size > _MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, x.size - 1, _MAX_CURVE_POINTS).round().astype(int))
        x, y = x[keep], y[keep]
    return {"x": [float(v) for v in x], "y": [float(v) for v in y]}


def score_strong_weak(
    run: RunResult, *, score: str = "complexity", seeds: int = 20
) -> dict[str, Any]:
    """RouteLLM's figures for the router on a strong/weak table (see the module doc)."""
    dataset = run.dataset
    weak = np.array([(r.scores or {})[dataset.weak] for r in dataset.rows], dtype=float)
    strong = np.array([(r.scores or {})[dataset.strong] for r in dataset.rows], dtype=float)
    decisions = run.decisions
    rng = np.random.default_rng(0)
    w, st = weak.tolist(), strong.tolist()
    randoms = [routing_curve(rng.random(weak.size).tolist(), w, st) for _ in range(seeds)]
    rule = np.array([1.0 if d.domain in HARD_DOMAINS else 0.0 for d in decisions])
    rows: list[dict[str, Any]] = [
        {"name": "all weak", "kind": "baseline", "share": 0.0, "quality": float(weak.mean())},
        {"name": "all strong", "kind": "baseline", "share": 1.0, "quality": float(strong.mean())},
        {
            "name": f"random (mean of {seeds})",
            "kind": "baseline",
            "apgr": float(np.mean([apgr(c) for c in randoms])),
            "cpt50": float(np.mean([cpt(c, 0.5) for c in randoms])),
            "cpt80": float(np.mean([cpt(c, 0.8) for c in randoms])),
            "curve": {"x": [0.0, 1.0], "y": [float(weak.mean()), float(strong.mean())]},
        },
        _curve_row("oracle", routing_curve(oracle_scores(w, st).tolist(), w, st), "oracle"),
    ]
    for variant in STRONG_SCORES:
        label = "complexity_score" if variant == "complexity" else "domain-aware score"
        curve = routing_curve(strong_scores(decisions, variant).tolist(), w, st)
        row = _curve_row(f"router: {label}", curve, "router")
        row["primary"] = variant == score
        rows.append(row)
    rows.append(
        _curve_row(
            "router: domain rule (coding/math/reasoning → strong)",
            routing_curve(rule.tolist(), w, st),
            "router",
        )
    )
    picked_strong = np.array([d.model != run.cheapest for d in decisions])
    quality = float(np.where(picked_strong, strong, weak).mean())
    gap = float(strong.mean() - weak.mean())
    rows.append(
        {
            "name": f"router policy ({run.preset}: not {run.cheapest} → strong)",
            "kind": "policy",
            "share": float(picked_strong.mean()),
            "quality": quality,
            "pgr": (quality - float(weak.mean())) / gap if gap else 0.0,
        }
    )
    return {
        "weak_model": dataset.weak,
        "strong_model": dataset.strong,
        "weak": float(weak.mean()),
        "strong": float(strong.mean()),
        "score": score,
        "rows": rows,
    }


# -- multi-model ------------------------------------------------------------------------------


def analyse(run: RunResult, **options: Any) -> dict[str, Any]:
    """Every figure for a run, by the dataset's kind.

    ``options`` go to the scorer: ``score`` for strong-weak tables; ``output_tokens``, ``ladder``,
    ``fit_fraction``, ``seed`` for multi-model tables.
    """
    dataset = run.dataset
    report: dict[str, Any] = {
        "dataset": {
            "name": dataset.name,
            "path": str(dataset.path) if dataset.path else None,
            "kind": dataset.kind,
            "rows": len(dataset.rows),
            "rows_in_file": dataset.total_rows or len(dataset.rows),
        },
        "router": {
            "classifier": run.classifier,
            "preset": run.preset,
            "catalog": list(run.catalog.ladder),
            "complexity_cutoffs": run.settings.complexity_cutoffs,
            "confidence_threshold": run.settings.confidence_threshold,
            "mode": run.mode,
        },
        "traffic": traffic(run),
    }
    if dataset.kind == "labels":
        report["labels"] = score_labels(run)
    elif dataset.kind == "strong-weak":
        report["strong_weak"] = score_strong_weak(run, score=options.get("score", "complexity"))
    else:
        report["multi_model"] = score_multi_model(
            run,
            output_tokens=options.get("output_tokens", DEFAULT_OUTPUT_TOKENS),
            ladder=options.get("ladder", "frontier"),
            fit_fraction=options.get("fit_fraction", 0.5),
            seed=options.get("seed", 0),
        )
    return report
