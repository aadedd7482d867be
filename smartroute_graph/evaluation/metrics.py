"""Small, dependency-light metrics for the classifier and the strong/weak routing tables.

Classification: :func:`accuracy`, :func:`per_class_f1`, :func:`macro_f1`,
:func:`confusion_matrix`, :func:`expected_calibration_error`.

Per-class and calibration detail: :func:`per_class_report`, :func:`reliability_table`.

Routing (as the RouteLLM paper scores a router, see ``../shared/eval/README.md``): a router
gives each prompt a "needs the strong model" score; sweeping a threshold over every cut point
routes the top-scored share ``x`` of prompts to the strong model. :func:`routing_curve` returns
the quality at every cut point, :func:`apgr` the area under the *performance gap recovered*
curve (0.5 for random routing), :func:`cpt` the smallest share of strong calls that recovers
a given fraction of the strong–weak gap (linearly interpolated between cut points).

Cost curves (several models with prices): :func:`upper_hull` (the best quality reachable by
randomly mixing fixed choices, e.g. single models), :func:`quality_at_cost` and
:func:`cost_at_quality` (linear interpolation along a curve), :func:`percentile`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# What the functions added for cost curves accept: any sequence of numbers or a 1-D array.
Numbers = Sequence[float] | np.ndarray

__all__ = [
    "RoutingCurve",
    "accuracy",
    "apgr",
    "confusion_matrix",
    "cost_at_quality",
    "cpt",
    "expected_calibration_error",
    "macro_f1",
    "oracle_scores",
    "per_class_f1",
    "per_class_report",
    "percentile",
    "quality_at_cost",
    "reliability_table",
    "routing_curve",
    "upper_hull",
]


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Share of positions where ``pred`` equals ``gold`` (0.0 for empty input)."""
    _check_same_length(gold, pred)
    if not gold:
        return 0.0
    return sum(g == p for g, p in zip(gold, pred, strict=False)) / len(gold)


def per_class_f1(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, float]:
    """F1 of each label. ``labels`` defaults to the labels present in ``gold``.

    A label with no gold and no predicted rows gets F1 0.0 when it is listed explicitly.
    """
    _check_same_length(gold, pred)
    labels = list(labels) if labels is not None else sorted(set(gold))
    out: dict[str, float] = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=False))
        fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=False))
        fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=False))
        denom = 2 * tp + fp + fn
        out[label] = 2 * tp / denom if denom else 0.0
    return out


def macro_f1(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None
) -> float:
    """Unweighted mean of :func:`per_class_f1` over ``labels`` (default: labels in gold).

    Predictions of labels absent from gold still count as false positives for the present
    labels, so predicting an unseen class is penalised.
    """
    scores = per_class_f1(gold, pred, labels)
    return float(np.mean(list(scores.values()))) if scores else 0.0


def confusion_matrix(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> list[list[int]]:
    """Counts ``m[i][j]`` of rows with gold ``labels[i]`` predicted as ``labels[j]``.

    Rows whose gold or prediction is not in ``labels`` are ignored.
    """
    _check_same_length(gold, pred)
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred, strict=False):
        if g in index and p in index:
            matrix[index[g]][index[p]] += 1
    return matrix


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10
) -> float:
    """ECE: the bin-size-weighted mean |accuracy − mean confidence| over equal-width bins.

    A calibrated model (a 0.8 confidence is right 80% of the time) scores near 0.
    """
    conf = np.asarray(confidences, dtype=float)
    hit = np.asarray(correct, dtype=float)
    if conf.shape != hit.shape:
        raise ValueError("confidences and correct must have the same length")
    if conf.size == 0:
        return 0.0
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(hit[mask].mean() - conf[mask].mean())
    return float(ece)


@dataclass(frozen=True)
class RoutingCurve:
    """Quality against the share of strong-model calls, one point per cut point.

    ``share[0] == 0`` (all weak) and ``share[-1] == 1`` (all strong); ``quality`` is the mean
    score of the routed answers; ``weak``/``strong`` are the single-model means.
    """

    share: np.ndarray
    quality: np.ndarray
    weak: float
    strong: float

    @property
    def pgr(self) -> np.ndarray:
        """Performance gap recovered at each point: (quality − weak) / (strong − weak)."""
        gap = self.strong - self.weak
        if gap == 0:
            return np.zeros_like(self.quality)
        return (self.quality - self.weak) / gap


def routing_curve(
    scores: Sequence[float], weak: Sequence[float], strong: Sequence[float]
) -> RoutingCurve:
    """Sweep a threshold over every cut point of ``scores`` (higher = send to strong).

    Prompts with equal scores move together (a threshold cannot split a tie), so the curve
    has one point per distinct score plus the all-weak point.
    """
    s = np.asarray(scores, dtype=float)
    w = np.asarray(weak, dtype=float)
    st = np.asarray(strong, dtype=float)
    if not (s.shape == w.shape == st.shape) or s.ndim != 1 or s.size == 0:
        raise ValueError("scores, weak and strong must be non-empty 1-D and of equal length")
    n = s.size
    order = np.argsort(-s, kind="stable")
    gain = (st - w)[order]
    cum = np.concatenate([[0.0], np.cumsum(gain)])
    sorted_s = s[order]
    # cut after the last element of each tie group
    ends = np.flatnonzero(np.append(sorted_s[1:] != sorted_s[:-1], True)) + 1
    ks = np.concatenate([[0], ends])
    share = ks / n
    quality = (w.sum() + cum[ks]) / n
    return RoutingCurve(share=share, quality=quality, weak=float(w.mean()), strong=float(st.mean()))


def apgr(curve: RoutingCurve) -> float:
    """Average performance gap recovered: trapezoid area under PGR over the strong share.

    Random routing scores about 0.5; the oracle can exceed 1 (where the weak model wins).
    """
    pgr = curve.pgr
    x = curve.share
    return float(np.sum((x[1:] - x[:-1]) * (pgr[1:] + pgr[:-1]) / 2.0))


def cpt(curve: RoutingCurve, target: float) -> float:
    """Smallest strong-call share whose PGR reaches ``target`` (e.g. 0.5 for CPT(50%)).

    Linearly interpolated between the two cut points that bracket the target; 1.0 if the
    curve never reaches it.
    """
    pgr = curve.pgr
    x = curve.share
    hits = np.flatnonzero(pgr >= target - 1e-12)
    if hits.size == 0:
        return 1.0
    i = int(hits[0])
    if i == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[i - 1], x[i], pgr[i - 1], pgr[i]
    if y1 == y0:
        return float(x1)
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0))


def oracle_scores(weak: Sequence[float], strong: Sequence[float]) -> np.ndarray:
    """The oracle router's scores: the strong model's gain over the weak one per prompt."""
    gain: np.ndarray = np.asarray(strong, dtype=float) - np.asarray(weak, dtype=float)
    return gain


def per_class_report(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support (gold count) of each label.

    ``labels`` defaults to the labels present in ``gold``. A label never predicted has
    precision 0.0; one with no gold rows has recall 0.0 (and support 0).
    """
    _check_same_length(gold, pred)
    labels = list(labels) if labels is not None else sorted(set(gold))
    out: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=False))
        predicted = sum(p == label for p in pred)
        support = sum(g == label for g in gold)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": float(support),
        }
    return out


def reliability_table(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10
) -> list[dict[str, float]]:
    """The reliability diagram behind :func:`expected_calibration_error`, one row per bin.

    Each row: ``low``/``high`` bin edges, ``count``, mean ``confidence`` and ``accuracy`` of
    the rows in the bin (both 0.0 for an empty bin), and ``gap`` = accuracy − confidence.
    """
    conf = np.asarray(confidences, dtype=float)
    hit = np.asarray(correct, dtype=float)
    if conf.shape != hit.shape:
        raise ValueError("confidences and correct must have the same length")
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1) if conf.size else conf
    rows: list[dict[str, float]] = []
    for b in range(n_bins):
        mask = bins == b
        count = int(mask.sum())
        mean_conf = float(conf[mask].mean()) if count else 0.0
        acc = float(hit[mask].mean()) if count else 0.0
        rows.append(
            {
                "low": b / n_bins,
                "high": (b + 1) / n_bins,
                "count": float(count),
                "confidence": mean_conf,
                "accuracy": acc,
                "gap": acc - mean_conf if count else 0.0,
            }
        )
    return rows


def upper_hull(costs: Numbers, qualities: Numbers) -> tuple[np.ndarray, np.ndarray]:
    """The cost–quality frontier reachable by mixing the given points at random.

    Returns the points of the upper-left concave hull, by increasing cost, starting at the
    cheapest point (the best of the cheapest on ties) and ending at the best quality (the
    cheapest of the best on ties). A router that does not beat this line is no better than
    sending a random share of the traffic to each model.
    """
    x = np.asarray(costs, dtype=float)
    y = np.asarray(qualities, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError("costs and qualities must be non-empty 1-D and of equal length")
    order = np.lexsort((-y, x))  # by cost, best quality first among equal costs
    hull: list[tuple[float, float]] = []
    for i in order:
        point = (float(x[i]), float(y[i]))
        if hull and point[1] <= hull[-1][1]:
            continue  # dearer and no better: never on the frontier
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the middle point when it lies on or under the chord
            if (y2 - y1) * (point[0] - x1) <= (point[1] - y1) * (x2 - x1):
                hull.pop()
            else:
                break
        hull.append(point)
    hx, hy = zip(*hull, strict=True)
    return np.asarray(hx), np.asarray(hy)


def quality_at_cost(costs: Numbers, qualities: Numbers, cost: float) -> float:
    """The best quality a curve reaches at ``cost`` or less, interpolating linearly.

    Points need not be sorted. Below the cheapest point the answer is NaN (the curve cannot
    spend that little); above the dearest it is the curve's best quality.
    """
    x = np.asarray(costs, dtype=float)
    y = np.asarray(qualities, dtype=float)
    if x.size == 0 or x.shape != y.shape:
        raise ValueError("costs and qualities must be non-empty and of equal length")
    if cost < x.min() - 1e-15:
        return float("nan")
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    best = float(ys[xs <= cost + 1e-15].max())
    # interpolation along each segment that straddles the cost
    for (x0, y0), (x1, y1) in zip(
        zip(xs[:-1], ys[:-1], strict=True), zip(xs[1:], ys[1:], strict=True), strict=True
    ):
        if x0 <= cost <= x1 and x1 > x0:
            best = max(best, float(y0 + (cost - x0) * (y1 - y0) / (x1 - x0)))
    return best


def cost_at_quality(costs: Numbers, qualities: Numbers, quality: float) -> float:
    """The least cost at which a curve reaches ``quality``; NaN if the curve never reaches it.

    Cost is interpolated linearly between the curve's points in order of cost.
    """
    x = np.asarray(costs, dtype=float)
    y = np.asarray(qualities, dtype=float)
    if x.size == 0 or x.shape != y.shape:
        raise ValueError("costs and qualities must be non-empty and of equal length")
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    hits = np.flatnonzero(ys >= quality - 1e-12)
    if hits.size == 0:
        return float("nan")
    i = int(hits[0])
    if i == 0 or ys[i] == ys[i - 1]:
        return float(xs[i])
    # the first point that reaches the quality, and the one before it (which does not)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return float(x0 + (quality - y0) * (x1 - x0) / (y1 - y0))


def percentile(values: Numbers, q: float) -> float:
    """The ``q``-th percentile (0–100) by nearest rank, as latency reports use it.

    NaN when empty.
    """
    data = np.sort(np.asarray(values, dtype=float))
    if data.size == 0:
        return float("nan")
    rank = max(1, int(np.ceil(q / 100.0 * data.size)))
    return float(data[min(rank, data.size) - 1])


def _check_same_length(a: Sequence[object], b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise ValueError(f"length mismatch: {len(a)} gold labels, {len(b)} predictions")
