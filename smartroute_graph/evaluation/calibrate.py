"""Pick the routing thresholds that meet a target on your own data, and check them held out.

Knobs moved: the complexity cut-offs (``RouterContext.complexity_cutoffs``: below ``low`` a
prompt is ``simple``, at or above ``high`` it is ``complex``; or none, the classifier's most
likely level) and the confidence threshold (``Policy``/``RouterContext``
``confidence_threshold``: a decision less confident than this steps up one tier).

Targets (``metric<=x`` or ``metric>=x``):

- ``strong-share``: share of prompts sent to a model other than the catalog's cheapest;
- ``quality``: on a strong/weak outcome table, the routed answers' mean score as a share of
  always-strong's; on labelled data, the share of prompts *not* under-routed (routed to a
  model at least as strong as the one the policy table gives their gold labels);
- ``pgr``: on a strong/weak table, the share of the strong–weak gap recovered;
- ``under-routed``: on labelled data, the share routed to a weaker model than their gold pick.

A ``<=`` target on a cost-like metric maximises quality within it; a ``>=`` target on a
quality-like metric minimises the strong share within it. The rows are split at random
(``fit_fraction`` for fitting, the rest held out): thresholds are chosen on the fit part by a
grid search over a fast model of the policy, then the held-out part is routed through the real
policy with them, and with the router's current settings for comparison.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from smartroute_graph.classifiers import Classification
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.core.taxonomy import (
    COMPLEXITIES,
    DOMAINS,
    validate_complexity,
    validate_domain,
)
from smartroute_graph.evaluation.datasets import EvalDataError, EvalDataset
from smartroute_graph.evaluation.runner import RouteSettings, decide
from smartroute_graph.runnable import SmartRouter

__all__ = [
    "CalibrationResult",
    "Target",
    "calibrate",
    "parse_target",
    "write_config",
]

Metric = Literal["strong-share", "quality", "pgr", "under-routed"]
_METRICS: tuple[str, ...] = ("strong-share", "quality", "pgr", "under-routed")
# Metrics where lower is better; the others are quality-like.
_COST_LIKE = ("strong-share", "under-routed")
_CONFIDENCE_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7)
_CUTOFF_QUANTILES = np.linspace(0.0, 1.0, 41)


class CalibrationError(EvalDataError):
    """A target cannot be parsed or cannot be measured on the given data."""


@dataclass(frozen=True)
class Target:
    """``metric op value``, e.g. ``strong-share <= 0.3``."""

    metric: Metric
    op: Literal["<=", ">="]
    value: float

    def met(self, measured: float) -> bool:
        """Whether a measured value meets the target."""
        if self.op == "<=":
            return measured <= self.value + 1e-12
        return measured >= self.value - 1e-12

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_target(text: str) -> Target:
    """Parse ``"strong-share<=0.3"``, ``"quality >= 0.95"`` (a ``%`` suffix is accepted)."""
    match = re.fullmatch(r"\s*([a-z_-]+)\s*(<=|>=)\s*([0-9.]+)\s*(%?)\s*", text)
    if not match:
        raise CalibrationError(
            f"cannot read target {text!r}: write METRIC<=VALUE or METRIC>=VALUE, e.g. "
            f"'strong-share<=0.3' or 'quality>=0.95'; metrics: {', '.join(_METRICS)}"
        )
    metric, op, raw, percent = match.groups()
    metric = metric.replace("_", "-")
    if metric not in _METRICS:
        raise CalibrationError(f"unknown target metric {metric!r}; choose one of {_METRICS}")
    value = float(raw) / (100.0 if percent else 1.0)
    if not 0.0 <= value <= 1.0:
        raise CalibrationError(f"target value must be in [0, 1] (or 0-100%), got {raw}{percent}")
    return Target(metric=metric, op=op, value=value)  # type: ignore[arg-type]


@dataclass
class CalibrationResult:
    """The chosen thresholds and what they do on the fit and held-out rows."""

    target: Target
    complexity_cutoffs: tuple[float, float] | None
    confidence_threshold: float
    fit: dict[str, float]
    held_out: dict[str, float]
    held_out_default: dict[str, float]
    fit_rows: int
    held_out_rows: int
    feasible_on_fit: bool
    notes: list[str] = field(default_factory=list)

    @property
    def met_on_held_out(self) -> bool:
        """Whether the held-out rows meet the target with the chosen thresholds."""
        return self.target.met(self.held_out[self.target.metric])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "target": str(self.target),
            "complexity_cutoffs": list(self.complexity_cutoffs)
            if self.complexity_cutoffs
            else None,
            "confidence_threshold": self.confidence_threshold,
            "fit_rows": self.fit_rows,
            "held_out_rows": self.held_out_rows,
            "fit": self.fit,
            "held_out": self.held_out,
            "held_out_with_current_settings": self.held_out_default,
            "feasible_on_fit": self.feasible_on_fit,
            "met_on_held_out": self.met_on_held_out,
            "notes": self.notes,
        }


class _Problem:
    """Per-prompt arrays that let a grid point be scored without re-running the policy."""

    def __init__(
        self, router: SmartRouter, dataset: EvalDataset, classifications: list[Classification]
    ) -> None:
        ladder = list(router.catalog.ladder)
        self.kind = dataset.kind
        self.score = np.array([c.complexity_score for c in classifications])
        self.domain_p = np.array([c.domain_probs[c.domain] for c in classifications])
        self.cprobs = np.array(
            [[c.complexity_probs[level] for level in COMPLEXITIES] for c in classifications]
        )
        self.argmax_level = np.array([COMPLEXITIES.index(c.complexity) for c in classifications])
        self.base_confidence = np.array([c.confidence for c in classifications])
        # A router built with default cut-offs applies them when none are given.
        self.default_cutoffs: tuple[float, float] | None = router.defaults.complexity_cutoffs
        domain_index = np.array([DOMAINS.index(c.domain) for c in classifications])
        table = router.policy.table
        # model rank (on the ladder) per (domain, level); and the step-up of each rank
        rank = np.array(
            [[ladder.index(table[d][level]) for level in COMPLEXITIES] for d in DOMAINS]
        )
        self.table_rank = rank[domain_index]  # (n, 3)
        catalog = router.catalog
        self.step_up = np.array(
            [
                ladder.index(catalog.stronger_than(m)[0]) if catalog.stronger_than(m) else i
                for i, m in enumerate(ladder)
            ]
        )
        self.weak: np.ndarray | None = None
        self.strong: np.ndarray | None = None
        self.gold_rank: np.ndarray | None = None
        if dataset.kind == "strong-weak":
            self.weak = np.array([(r.scores or {})[dataset.weak] for r in dataset.rows])
            self.strong = np.array([(r.scores or {})[dataset.strong] for r in dataset.rows])
        elif all(r.domain and r.complexity for r in dataset.rows):
            self.gold_rank = np.array(
                [
                    ladder.index(
                        table[validate_domain(str(r.domain))][
                            validate_complexity(str(r.complexity))
                        ]
                    )
                    for r in dataset.rows
                ]
            )

    def supports(self, metric: str) -> bool:
        if metric == "strong-share":
            return True
        if metric == "pgr":
            return self.weak is not None
        if metric == "quality":
            return self.weak is not None or self.gold_rank is not None
        return self.gold_rank is not None  # under-routed

    def ranks(
        self, idx: np.ndarray, cutoffs: tuple[float, float] | None, threshold: float
    ) -> np.ndarray:
        """The ladder rank of each prompt's model under these settings."""
        cutoffs = cutoffs or self.default_cutoffs
        if cutoffs is None:
            level = self.argmax_level[idx]
            confidence = self.base_confidence[idx]
        else:
            low, high = cutoffs
            s = self.score[idx]
            level = np.where(s < low, 0, np.where(s >= high, 2, 1))
            confidence = self.domain_p[idx] * self.cprobs[idx, level]
        picked = self.table_rank[idx, level]
        stepped: np.ndarray = np.where(confidence < threshold, self.step_up[picked], picked)
        return stepped

    def metrics(self, idx: np.ndarray, ranks: np.ndarray) -> dict[str, float]:
        strong_call = ranks > 0
        out = {"strong-share": float(strong_call.mean()) if idx.size else 0.0}
        if self.weak is not None and self.strong is not None:
            weak, strong = self.weak[idx], self.strong[idx]
            routed = float(np.where(strong_call, strong, weak).mean())
            out["score"] = routed
            out["quality"] = routed / float(strong.mean()) if strong.mean() else 0.0
            gap = float(strong.mean() - weak.mean())
            out["pgr"] = (routed - float(weak.mean())) / gap if gap else 0.0
        if self.gold_rank is not None:
            under = float((ranks < self.gold_rank[idx]).mean())
            out["under-routed"] = under
            out["quality"] = 1.0 - under
        return out


def _objective(target: Target, m: dict[str, float]) -> tuple[float, float]:
    """Sort key (larger is better) among settings that meet the target."""
    quality = m.get("quality", m.get("pgr", 0.0))
    if target.metric in _COST_LIKE:
        # within the budget: the best quality, then the fewest strong calls; with no quality
        # measure (domain-only labels), spend the budget
        if "quality" not in m:
            return (m["strong-share"], 0.0)
        return (quality, -m["strong-share"])
    return (-m["strong-share"], quality)


def _grid(scores: np.ndarray) -> list[tuple[float, float] | None]:
    # Cut-offs sit halfway between neighbouring quantiles of the scores, so that no prompt
    # lies on a cut-off and the rounded value written to the config cuts the same way; 0.0 and
    # 1.0 (everything simple / nothing complex) close the range.
    quantiles = np.unique(np.quantile(scores, _CUTOFF_QUANTILES))
    middles = (quantiles[:-1] + quantiles[1:]) / 2
    values = sorted({0.0, 1.0, *(round(float(v), 4) for v in middles)})
    grid: list[tuple[float, float] | None] = [None]
    for i, low in enumerate(values):
        for high in values[i:]:
            grid.append((low, high))
    return grid


def calibrate(
    router: SmartRouter,
    dataset: EvalDataset,
    target: Target,
    *,
    fit_fraction: float = 0.5,
    seed: int = 0,
    margin: float = 0.0,
    classifications: list[Classification] | None = None,
) -> CalibrationResult:
    """Choose complexity cut-offs and a confidence threshold meeting ``target``.

    See the module doc. ``classifications`` skips classifying when already done (in row order).

    The fit rows must meet the target tightened by ``margin`` (e.g. ``quality>=0.95`` with a
    margin of 0.02 is fitted as ``quality>=0.97``): thresholds fitted right at the target's
    edge miss it on new data about half the time.

    Raises:
        CalibrationError: the data cannot measure the target (e.g. ``quality`` on labels
            without complexity), the set is a multi-model table, or too small to split.
    """
    if dataset.kind == "multi-model":
        raise CalibrationError(
            "calibrate needs labelled prompts or a strong/weak outcome table; for a multi-model "
            "table, compare the policies with `smartroute eval`"
        )
    n = len(dataset.rows)
    if not 0.0 < fit_fraction < 1.0:
        raise CalibrationError(f"fit fraction must be between 0 and 1, got {fit_fraction}")
    n_fit = round(n * fit_fraction)
    if n_fit < 2 or n - n_fit < 2:
        raise CalibrationError(
            f"{dataset.name} has {n} rows: too few to fit on {fit_fraction:.0%} and check on "
            "the rest (need at least 2 in each part)"
        )
    if classifications is None:
        classifications = []
        for start in range(0, n, 64):
            texts = [r.text for r in dataset.rows[start : start + 64]]
            classifications.extend(router.classifier.classify(texts))
    problem = _Problem(router, dataset, classifications)
    if not problem.supports(target.metric):
        need = (
            "a strong/weak outcome table"
            if target.metric == "pgr"
            else "labels with both domain and complexity, or a strong/weak outcome table"
        )
        raise CalibrationError(
            f"target {target} cannot be measured on {dataset.name}: it needs {need}"
        )
    perm = np.random.default_rng(seed).permutation(n)
    fit, test = np.sort(perm[:n_fit]), np.sort(perm[n_fit:])
    tightened = Target(
        metric=target.metric,
        op=target.op,
        value=target.value - margin if target.op == "<=" else target.value + margin,
    )

    best: tuple[tuple[float, float], tuple[float, float] | None, float, dict[str, float]] | None
    best = None
    fallback = None  # the setting closest to the target when none meets it
    grid = _grid(problem.score[fit])
    if problem.default_cutoffs is not None:
        grid = grid[1:]  # "no cut-offs" cannot be expressed over the router's own default
    for cutoffs in grid:
        for threshold in _CONFIDENCE_GRID:
            m = problem.metrics(fit, problem.ranks(fit, cutoffs, threshold))
            if tightened.met(m[target.metric]):
                key = _objective(target, m)
                if best is None or key > best[0]:
                    best = (key, cutoffs, threshold, m)
            else:
                miss = abs(m[target.metric] - tightened.value)
                if fallback is None or miss < fallback[0]:
                    fallback = (miss, cutoffs, threshold, m)
    notes: list[str] = []
    if best is not None:
        _, cutoffs, threshold, fit_metrics = best
        feasible = True
    else:
        assert fallback is not None
        _, cutoffs, threshold, fit_metrics = fallback
        feasible = False
        notes.append(
            f"no setting meets {tightened} on the fit rows; chose the closest "
            f"({target.metric} {fit_metrics[target.metric]:.3f})"
        )

    settings = RouteSettings(complexity_cutoffs=cutoffs, confidence_threshold=threshold)
    held_out = _measure(router, dataset, classifications, test, settings, problem)
    default = _measure(router, dataset, classifications, test, RouteSettings(), problem)
    fast = problem.metrics(test, problem.ranks(test, cutoffs, threshold))
    if abs(fast["strong-share"] - held_out["strong-share"]) > 1e-9:
        # The grid's fast model ignores the context-window and attachment rules; say so
        # when they changed a pick.
        notes.append(
            "the real policy moved some held-out picks (context window or attachments): "
            f"strong share {held_out['strong-share']:.3f} vs {fast['strong-share']:.3f} predicted"
        )
    return CalibrationResult(
        target=target,
        complexity_cutoffs=cutoffs,
        confidence_threshold=threshold,
        fit=fit_metrics,
        held_out=held_out,
        held_out_default=default,
        fit_rows=int(fit.size),
        held_out_rows=int(test.size),
        feasible_on_fit=feasible,
        notes=notes,
    )


def _measure(
    router: SmartRouter,
    dataset: EvalDataset,
    classifications: list[Classification],
    idx: np.ndarray,
    settings: RouteSettings,
    problem: _Problem,
) -> dict[str, float]:
    """The metrics of the real policy (the graph's own decision code) on rows ``idx``."""
    ladder = list(router.catalog.ladder)
    ranks = np.array(
        [
            ladder.index(decide(router, dataset.rows[i], classifications[i], settings)[0].model)
            for i in idx
        ],
        dtype=int,
    )
    return problem.metrics(idx, ranks)


def write_config(
    result: CalibrationResult,
    path: str | Path,
    *,
    base: str | Path | None = None,
    preset: str | None = None,
    classifier: str | None = None,
) -> Path:
    """Write the thresholds into a router config (YAML, the ``RouterConfig`` shape).

    ``base`` is an existing config to start from (YAML, JSON or TOML); otherwise ``preset`` and
    ``classifier`` start a new one. Returns the path written.
    """
    data: dict[str, Any] = {}
    if base is not None:
        source = Path(base)
        if not source.is_file():
            raise ConfigError(f"config file {str(source)!r} does not exist")
        text = source.read_text(encoding="utf-8")
        # YAML reads JSON too; TOML needs its own parser.
        loaded = tomllib.loads(text) if source.suffix == ".toml" else yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level")
        data = loaded
    else:
        if preset is not None:
            data["preset"] = preset
        if classifier is not None:
            data["classifier"] = classifier
    policy = dict(data.get("policy") or {})
    policy["confidence_threshold"] = round(result.confidence_threshold, 4)
    policy["complexity_cutoffs"] = (
        list(result.complexity_cutoffs) if result.complexity_cutoffs else None
    )
    data["policy"] = policy
    header = (
        f"# written by `smartroute calibrate` for target {result.target}: held out "
        f"({result.held_out_rows} rows) {result.target.metric} = "
        f"{result.held_out[result.target.metric]:.3f}"
        f" ({'met' if result.met_on_held_out else 'NOT met'})\n"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out
