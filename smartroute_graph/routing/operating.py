"""Operating points: how predicted qualities and costs become one model, and calibration targets.

:class:`OperatingPoint` is the learned policy's one knob: a quality ``tolerance`` (the cheapest
model predicted within it of the best) or a ``cost_weight`` (maximise quality minus weighted
cost, optionally latency too). :func:`choose` applies it to one query, :func:`choose_rows` to
many. :func:`parse_target` reads a calibration target and :class:`Calibration` is what
calibrating returns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from smartroute_graph.core.errors import ConfigError

__all__ = [
    "Calibration",
    "OperatingPoint",
    "choose",
    "choose_rows",
    "parse_target",
    "prices",
    "reason",
    "sweep",
]


@dataclass(frozen=True)
class OperatingPoint:
    """Where on the quality-cost curve the learned policy decides.

    Attributes:
        tolerance: pick the cheapest model predicted within this much of the best (0: the
            best; used when ``cost_weight`` is None).
        cost_weight: instead, maximise ``quality - cost_weight * cost_usd`` (quality points
            given up per US dollar).
        latency_weight: with ``cost_weight``, also subtract this times the predicted latency in
            seconds.
    """

    tolerance: float = 0.05
    cost_weight: float | None = None
    latency_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.tolerance <= 1.0:
            raise ConfigError(f"tolerance must lie in [0, 1], got {self.tolerance}")
        if self.cost_weight is not None and not self.cost_weight >= 0:
            raise ConfigError(f"cost_weight must be >= 0, got {self.cost_weight}")
        if not self.latency_weight >= 0:
            raise ConfigError(f"latency_weight must be >= 0, got {self.latency_weight}")

    def describe(self) -> str:
        """The knob as text (for reasons and reports)."""
        if self.cost_weight is None:
            return f"within {self.tolerance:g} of the best"
        extra = f", {self.latency_weight:g}/s" if self.latency_weight else ""
        return f"cost weight {self.cost_weight:g}/USD{extra}"


@dataclass(frozen=True)
class Calibration:
    """The knob :meth:`LearnedPolicy.calibrate` chose and what it gives on the stored queries."""

    target: str
    knob: str
    value: float
    met: bool
    strong_share: float
    cost_per_query: float | None
    quality: float
    queries: int
    curve: list[dict[str, float]] = field(default_factory=list)

    @property
    def operating_point(self) -> OperatingPoint:
        """The operating point with the chosen knob."""
        if self.knob == "cost_weight":
            return OperatingPoint(cost_weight=self.value)
        return OperatingPoint(tolerance=self.value)


_TARGET = re.compile(r"^\s*(strong-share|cost|quality)\s*(<=|>=)\s*([0-9.eE+-]+)\s*$")


def parse_target(text: str) -> tuple[str, str, float]:
    """Parse a target: ``"strong-share<=0.3"`` → ``("strong-share", "<=", 0.3)``.

    Also ``cost<=USD`` per query and ``quality>=X``.

    Raises:
        ConfigError: the target is not one of those forms.
    """
    match = _TARGET.match(text)
    if not match or (match.group(1) == "quality") != (match.group(2) == ">="):
        raise ConfigError(
            f"target {text!r}: use strong-share<=X, cost<=USD (per query) or quality>=X"
        )
    return match.group(1), match.group(2), float(match.group(3))


def choose(
    quality: Mapping[str, float],
    costs: Mapping[str, float],
    point: OperatingPoint,
    latency_ms: Mapping[str, float | None] | None = None,
) -> str:
    """The model an operating point picks from predicted qualities and costs."""
    models = list(quality)
    if point.cost_weight is None:
        best = max(quality.values())
        good = [m for m in models if quality[m] >= best - point.tolerance - 1e-12]
        return min(good, key=lambda m: (costs[m], -quality[m]))

    def utility(m: str) -> float:
        lat = (latency_ms or {}).get(m)
        penalty = point.latency_weight * (lat / 1000.0 if lat is not None else 0.0)
        return quality[m] - (point.cost_weight or 0.0) * costs[m] - penalty

    return max(models, key=lambda m: (utility(m), -costs[m]))


def choose_rows(pred: np.ndarray, cost: np.ndarray, knob: str, value: float) -> np.ndarray:
    """:func:`choose` for many queries; returns the chosen column per query.

    ``pred`` [n, models], ``cost`` [models]; ``knob`` is ``tolerance`` or ``cost_weight`` at
    ``value``.
    """
    if knob == "tolerance":
        good = pred >= pred.max(axis=1, keepdims=True) - value - 1e-12
        picks: np.ndarray = np.where(good, cost[None, :], np.inf).argmin(axis=1)
        return picks
    out: np.ndarray = (pred - value * cost[None, :]).argmax(axis=1)
    return out


def reason(
    shown: int,
    quality: Mapping[str, float],
    price: Mapping[str, float],
    choice: str,
    point: OperatingPoint,
    *,
    cell: str | None = None,
    cell_outcomes: int = 0,
) -> str:
    """The learned decision's reason: evidence, the cheapest candidate against the best, the choice.

    For example ``learned: 37 similar outcomes; gpt-4.1-nano 0.42 vs gpt-4.1 0.81 → gpt-4.1`` (with
    ``cell``: ``learned: 2 similar outcomes, 96 in coding/simple; ...``).
    """
    q = quality
    known = list(quality)
    cheapest = min(known, key=lambda m: (price[m], -q[m]))
    best = max(known, key=lambda m: (q[m], -price[m]))
    where = f", {cell_outcomes} in {cell}" if cell else ""
    head = f"learned: {shown} similar outcomes{where}; "
    if cheapest == best:
        return head + f"{best} {q[best]:.2f} is the best and the cheapest → {choice}"
    body = f"{cheapest} {q[cheapest]:.2f} vs {best} {q[best]:.2f}"
    if choice == cheapest:
        return head + body + f" ({point.describe()}) → {choice}"
    if choice == best:
        return head + body + f" → {choice}"
    return head + body + f" → {choice} {q[choice]:.2f} ({point.describe()})"


def prices(
    known: Sequence[str],
    pool: Sequence[str],
    predicted: Mapping[str, float | None],
    costs: Mapping[str, float] | None,
) -> dict[str, float]:
    """Each known model's cost for a decision.

    The caller's ``costs`` when given (a model it leaves out ranks by its place in ``pool``), else
    the ``predicted`` cost, else the place in ``pool`` (cheapest first).
    """
    price: dict[str, float] = {}
    for m in known:
        given = (costs or {}).get(m)
        guess = predicted.get(m)
        if given is not None:
            price[m] = float(given)
        elif guess is not None and costs is None:
            price[m] = float(guess)
        else:
            price[m] = list(pool).index(m) * 1e-9  # order only
    return price


def sweep(
    pred: np.ndarray, actual: np.ndarray, unit_cost: np.ndarray, target: str, knob: str
) -> Calibration:
    """Sweep ``knob`` over its range and return the value that best meets ``target``.

    The queries' qualities are predicted (``pred`` [n, models]) and known or predicted (``actual``,
    used to score the choices). The value returned meets ``target`` with the best quality (or, for
    ``quality>=X``, the fewest strong calls); the closest value if none meets it. ``unit_cost`` is
    each model's cost per query (NaN: unknown; then models rank by column order and cost figures are
    NaN).
    """
    metric, _, bound = parse_target(target)
    known = not np.isnan(unit_cost).any()
    order_cost = np.where(np.isnan(unit_cost), np.arange(unit_cost.size) * 1e-9, unit_cost)
    cheapest = int(np.argmin(order_cost))
    if knob == "tolerance":
        values = np.round(np.linspace(0.0, 1.0, 201), 4)
    else:
        scale = 1.0 / max(float(order_cost.max()), 1e-12)
        values = np.concatenate([[0.0], scale * np.logspace(-3, 3, 120)])
    idx = np.arange(pred.shape[0])
    curve: list[dict[str, float]] = []
    for value in values:
        picks = choose_rows(pred, order_cost, knob, float(value))
        curve.append(
            {
                "value": float(value),
                "strong_share": float((picks != cheapest).mean()),
                "cost_per_query": float(unit_cost[picks].mean()) if known else float("nan"),
                "quality": float(actual[idx, picks].mean()),
            }
        )
    key = {"strong-share": "strong_share", "cost": "cost_per_query", "quality": "quality"}[metric]
    if metric == "quality":
        ok = [p for p in curve if p[key] >= bound - 1e-12]
        best = min(ok, key=lambda p: (p["strong_share"], -p["quality"])) if ok else None
    else:
        ok = [p for p in curve if p[key] <= bound + 1e-12]
        best = max(ok, key=lambda p: (p["quality"], -p["strong_share"])) if ok else None
    if best is None:
        best = min(curve, key=lambda p: abs(p[key] - bound))
    cost = best["cost_per_query"]
    return Calibration(
        target=target,
        knob=knob,
        value=best["value"],
        met=bool(ok),
        strong_share=best["strong_share"],
        cost_per_query=cost if np.isfinite(cost) else None,
        quality=best["quality"],
        queries=int(pred.shape[0]),
        curve=curve,
    )
