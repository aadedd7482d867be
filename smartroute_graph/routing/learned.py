"""The learned policy: each model's quality for a query, predicted from stored outcomes near it.

For a query (its embedding and the prior's classification) and each model, the prediction
shrinks through four levels, each level's estimate pulling the next one toward it when its own
evidence is thin:

1. the model's mean score over the whole store (or ``prior_quality`` for a model with none);
2. its mean in the query's domain (the prior's first level), shrunk toward 1 with
   ``cell_strength`` pseudo-outcomes;
3. its mean in the query's (domain, complexity) cell (the per-cell table a fitted policy
   uses), shrunk toward 2 the same way;
4. the similarity-weighted mean of its outcomes on the ``k`` nearest stored queries (kernel
   weight ``exp(-(1 - cosine) / bandwidth)``, so distant neighbours count for little), shrunk
   toward 3 with ``local_strength`` pseudo-outcomes.

So a query with many close neighbours is decided by what happened to them, one in a familiar
cell by the cell's record, and one with neither by the prior. :meth:`LearnedPolicy.fit` picks
``k``, the bandwidth and both strengths by leave-one-out error on the store itself (no
hand-tuning; nothing outside the store is looked at). Costs and latencies are predicted the
same way (level 4 shrunk toward the model's mean).

An :class:`OperatingPoint` turns predictions into a choice: the cheapest model predicted within
``tolerance`` of the best (default), or, with ``cost_weight``, the model that maximises
``quality - cost_weight * cost_usd - latency_weight * latency_s``. :meth:`LearnedPolicy.decide`
returns a :class:`LearnedDecision` whose ``model`` is None when fewer than ``min_evidence``
similar outcomes exist (the prior decides) and whose ``reason`` reads e.g. ``learned: 37
similar outcomes; gpt-4.1-nano 0.42 vs gpt-4.1 0.81 → gpt-4.1``. :meth:`LearnedPolicy.calibrate`
chooses the knob that meets a target (strong share, cost per query) on the stored queries.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS
from smartroute_graph.routing.memory import OutcomeMemory
from smartroute_graph.routing.operating import (
    Calibration,
    OperatingPoint,
    choose,
    parse_target,
    prices,
    reason,
    sweep,
)

if TYPE_CHECKING:
    from smartroute_graph.classifiers.base import Classification
    from smartroute_graph.routing.outcomes import OutcomeStore

__all__ = [
    "TUNING_GRID",
    "LearnedDecision",
    "LearnedPolicy",
    "LearnedSettings",
    "ModelEstimate",
    "Prediction",
]

TUNING_GRID: dict[str, tuple[float, ...]] = {
    "k": (8, 16, 32, 64, 128),
    "bandwidth": (0.02, 0.05, 0.1, 0.2, 0.5, math.inf),
    "local_strength": (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0),
    "cell_strength": (0.5, 2.0, 8.0, 32.0, 128.0),
}
"""The values :meth:`LearnedPolicy.fit` tries (every combination)."""
_TUNE_SAMPLE = 2000
_MIN_TUNE_QUERIES = 20
_GLOBAL_STRENGTH = 1.0


@dataclass(frozen=True)
class LearnedSettings:
    """The estimator's knobs (see the module doc); :meth:`LearnedPolicy.fit` sets the first four."""

    k: int = 32
    bandwidth: float = 0.1
    local_strength: float = 2.0
    cell_strength: float = 8.0
    min_evidence: float = 3.0
    """Similar outcomes (kernel-weighted) a decision needs; fewer leave the prior in charge."""
    tune: bool = True
    """Refit the first four by leave-one-out when the store has grown by half since."""

    def __post_init__(self) -> None:
        if self.k < 1 or not self.bandwidth > 0 or self.local_strength < 0:
            raise ConfigError("learned settings need k >= 1, bandwidth > 0, strengths >= 0")
        if self.cell_strength < 0 or self.min_evidence < 0:
            raise ConfigError("learned settings need cell_strength >= 0, min_evidence >= 0")


@dataclass(frozen=True)
class ModelEstimate:
    """One model's prediction for one query."""

    model: str
    quality: float
    evidence: float
    """Kernel-weighted count of this model's outcomes on similar queries."""
    local_quality: float | None
    """The neighbours' weighted mean alone (None without any)."""
    baseline: float
    """The cell → domain → store level the local mean is shrunk toward."""
    cost_usd: float | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class Prediction:
    """Every model's estimate for one query, and how much evidence was near it."""

    estimates: dict[str, ModelEstimate]
    evidence: float
    """Kernel-weighted count of all outcomes on similar queries."""
    neighbours: int
    """Stored queries whose kernel weight is at least 0.05."""
    nearest: float
    """Cosine similarity of the nearest stored query (NaN with none)."""


@dataclass(frozen=True)
class LearnedDecision:
    """What the learned policy decides for one query.

    ``model`` is None when the prior stays in charge (thin or distant evidence, or no
    outcomes of the candidates); ``reason`` says why either way.
    """

    model: str | None
    reason: str
    prediction: Prediction
    operating_point: OperatingPoint


class LearnedPolicy:
    """Predict each model's quality from stored outcomes and decide at an operating point.

    Args:
        memory: the outcomes (an :class:`OutcomeMemory`, e.g. ``OutcomeMemory.from_store``).
        settings: estimator knobs (tuned from the store when ``settings.tune``).
        operating_point: the default knob of :meth:`decide`.
        refresh_s: :meth:`decide` reads new outcomes from the memory's store at most this
            often (0: every call).
    """

    def __init__(
        self,
        memory: OutcomeMemory,
        *,
        settings: LearnedSettings | None = None,
        operating_point: OperatingPoint | None = None,
        refresh_s: float = 1.0,
    ) -> None:
        self.memory = memory
        self.settings = settings or LearnedSettings()
        self.operating_point = operating_point or OperatingPoint()
        self.refresh_s = refresh_s
        self.tuned_at = 0
        """Queries in the memory when the settings were last fitted (0: never)."""
        self.tuning: dict[str, Any] = {}
        """The leave-one-out result of the last fit (errors of the chosen and default knobs)."""
        self._last_refresh = time.monotonic()
        self._levels_cache: tuple[int, tuple[np.ndarray, ...]] | None = None

    @classmethod
    def from_store(cls, store: OutcomeStore, **options: Any) -> LearnedPolicy:
        """A policy over everything in ``store``, refreshed from it as :meth:`decide` runs.

        Raises:
            OutcomeStoreError: the store cannot be read.
        """
        return cls(OutcomeMemory.from_store(store), **options)

    # -- fitting ----------------------------------------------------------------------------
    def maybe_refresh(self) -> None:
        """Read new outcomes from the store when ``refresh_s`` has passed.

        The settings are refit when the memory has grown by half since the last fit.

        Raises:
            OutcomeStoreError: the store cannot be read.
        """
        now = time.monotonic()
        if self.memory.store is not None and now - self._last_refresh >= self.refresh_s:
            self._last_refresh = now
            self.memory.refresh()
        n = self.memory.n_queries
        if self.settings.tune and n >= _MIN_TUNE_QUERIES and n >= 1.5 * self.tuned_at:
            self.fit()

    def fit(self, *, sample: int = _TUNE_SAMPLE, seed: int = 0) -> LearnedSettings:
        """Choose ``k``, the bandwidth and both strengths by leave-one-out squared error.

        Each of up to ``sample`` stored queries is predicted from the others (its own outcomes
        removed from every level) with every combination of :data:`TUNING_GRID`. Of the
        combinations whose mean squared error over the observed (query, model) scores exceeds
        the lowest by at most one standard error of the paired difference, the most cautious
        wins (the one-standard-error rule: most pseudo-outcomes toward the prior levels, then
        the widest kernel): with little feedback the estimate cannot tell the combinations
        apart and should stay close to the prior. Stores with under 20 queries keep the
        current settings.
        """
        memory = self.memory
        n = memory.n_queries
        self.tuned_at = max(n, 1)
        if n < _MIN_TUNE_QUERIES or not memory.models:
            return self.settings
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(n, size=min(n, sample), replace=False))
        k_max = int(max(TUNING_GRID["k"]))
        neighbours, sims = memory.search(memory.embeddings(rows), k_max, exclude=rows)
        counts, sums = memory.counts()[rows], memory.score_sums()[rows]
        target = np.where(counts > 0, sums / np.maximum(counts, 1e-12), 0.0)
        weight = counts.sum(axis=1)
        domains, levels = memory.cells()
        configs: list[tuple[float, float, float, float]] = []
        losses: list[np.ndarray] = []
        for cell_strength in TUNING_GRID["cell_strength"]:
            base = self._baseline(domains[rows], levels[rows], cell_strength, rows=rows)
            for k, bandwidth in itertools.product(TUNING_GRID["k"], TUNING_GRID["bandwidth"]):
                w_n, w_s = self._local(neighbours[:, : int(k)], sims[:, : int(k)], bandwidth)
                for strength in TUNING_GRID["local_strength"]:
                    pred = (w_s + strength * base) / (w_n + strength)
                    per_query = (counts * (target - pred) ** 2).sum(axis=1)
                    configs.append((strength, cell_strength, bandwidth, k))
                    losses.append(per_query)
        loss = np.array(losses) / max(weight.mean(), 1e-12)  # [configs, queries]
        mean = loss.mean(axis=1)
        best = int(np.argmin(mean))
        diff = loss - loss[best]  # paired: the outcome noise every combination shares cancels
        se = diff.std(axis=1, ddof=1) / np.sqrt(max(loss.shape[1] - 1, 1))
        eligible = [i for i in range(len(configs)) if mean[i] - mean[best] <= se[i] + 1e-12]
        pick = max(eligible, key=lambda i: configs[i])
        strength, cell_strength, bandwidth, k = configs[pick]
        self.settings = replace(
            self.settings,
            k=int(k),
            bandwidth=float(bandwidth),
            local_strength=float(strength),
            cell_strength=float(cell_strength),
        )
        store_mean = self._baseline(domains[rows], levels[rows], 1e12, rows=rows)
        self.tuning = {
            "queries": int(rows.size),
            "mse": float(mean[pick]),
            "mse_lowest": float(mean[best]),
            "mse_store_mean": float((counts * (target - store_mean) ** 2).sum() / weight.sum()),
            "k": int(k),
            "bandwidth": float(bandwidth),
            "local_strength": float(strength),
            "cell_strength": float(cell_strength),
        }
        return self.settings

    # -- predicting -------------------------------------------------------------------------
    def predict_rows(
        self,
        embeddings: np.ndarray,
        domains: Sequence[str | None] | None = None,
        complexities: Sequence[str | None] | None = None,
        *,
        exclude: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Vectorised predictions for many queries (one row each).

        Returns a dict of arrays over (query, model) in ``memory.models`` order: ``quality``,
        ``evidence``, ``local`` (NaN without neighbours), ``baseline``, ``cost``, ``latency``
        (NaN where unknown), and per query ``nearest`` and ``neighbours``.
        """
        s = self.settings
        x = np.asarray(embeddings, dtype=np.float32)
        n = x.shape[0]
        dom = np.array([DOMAINS.index(d) if d in DOMAINS else -1 for d in domains or [None] * n])
        cx = np.array(
            [COMPLEXITIES.index(c) if c in COMPLEXITIES else -1 for c in complexities or [None] * n]
        )
        rows, sims = self.memory.search(x, s.k, exclude=exclude)
        base = self._baseline(dom, cx, s.cell_strength)
        w_n, w_s = self._local(rows, sims, s.bandwidth)
        strength = max(s.local_strength, 1e-9)
        quality = (w_s + strength * base) / (w_n + strength)
        weights = _kernel(sims, s.bandwidth)
        cost_mean, latency_mean = self._levels()[4:]
        cost = self._side(
            rows, weights, self.memory.cost_counts(), self.memory.cost_sums(), cost_mean
        )
        latency = self._side(
            rows, weights, self.memory.latency_counts(), self.memory.latency_sums(), latency_mean
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            local = np.where(w_n > 0, w_s / w_n, np.nan)
        return {
            "quality": quality,
            "evidence": w_n,
            "local": local,
            "baseline": base,
            "cost": cost,
            "latency": latency,
            "nearest": np.where(rows[:, 0] >= 0, sims[:, 0], np.nan),
            "neighbours": (weights >= 0.05).sum(axis=1),
        }

    def predict(
        self,
        embedding: np.ndarray,
        *,
        prior: Classification | None = None,
        prior_quality: Mapping[str, float] | None = None,
    ) -> Prediction:
        """Every known model's estimate for one query (``prior`` gives its cell).

        ``prior_quality`` adds models the store has no outcome of, at that quality with no
        evidence (e.g. the catalog's expectation of a model never tried).
        """
        out = self.predict_rows(
            np.asarray(embedding, dtype=np.float32).reshape(1, -1),
            [prior.domain] if prior else None,
            [prior.complexity] if prior else None,
        )
        estimates: dict[str, ModelEstimate] = {}
        for j, model in enumerate(self.memory.models):
            local = float(out["local"][0, j])
            estimates[model] = ModelEstimate(
                model=model,
                quality=float(out["quality"][0, j]),
                evidence=float(out["evidence"][0, j]),
                local_quality=None if math.isnan(local) else local,
                baseline=float(out["baseline"][0, j]),
                cost_usd=_finite(out["cost"][0, j]),
                latency_ms=_finite(out["latency"][0, j]),
            )
        for model, quality in (prior_quality or {}).items():
            if model not in estimates:
                estimates[model] = ModelEstimate(model, float(quality), 0.0, None, float(quality))
        return Prediction(
            estimates=estimates,
            evidence=float(out["evidence"][0].sum()),
            neighbours=int(out["neighbours"][0]),
            nearest=float(out["nearest"][0]),
        )

    # -- deciding ---------------------------------------------------------------------------
    def decide(
        self,
        embedding: np.ndarray,
        *,
        prior: Classification | None = None,
        candidates: Sequence[str] | None = None,
        costs: Mapping[str, float] | None = None,
        prior_quality: Mapping[str, float] | None = None,
        operating_point: OperatingPoint | None = None,
    ) -> LearnedDecision:
        """The learned choice for one query, or None (the prior decides) with the reason.

        Args:
            embedding: the query's sentence embedding (the store's kind).
            prior: the prior's classification of the query (its cell).
            candidates: models allowed, cheapest first when no cost is known (default: every
                model with outcomes).
            costs: each candidate's estimated cost for this query in US dollars (default:
                predicted from stored costs, else candidate order).
            prior_quality: expected quality of candidates without any outcome.
            operating_point: the knob (default: the policy's).

        Raises:
            OutcomeStoreError: the store cannot be read on refresh.
        """
        self.maybe_refresh()
        point = operating_point or self.operating_point
        prediction = self.predict(embedding, prior=prior, prior_quality=prior_quality)
        pool = list(candidates) if candidates is not None else list(prediction.estimates)
        known = [m for m in pool if m in prediction.estimates]
        evidence = sum(prediction.estimates[m].evidence for m in known)
        shown = round(evidence)
        if not known:
            return LearnedDecision(
                None,
                "learned: no outcomes of these models yet; the prior decides",
                prediction,
                point,
            )
        familiar = self._cell_outcomes(prior, known)
        if evidence < self.settings.min_evidence and familiar < self.settings.cell_strength:
            return LearnedDecision(
                None,
                f"learned: {shown} similar outcomes (under {self.settings.min_evidence:g}); "
                "the prior decides",
                prediction,
                point,
            )
        price = prices(known, pool, {m: prediction.estimates[m].cost_usd for m in known}, costs)
        quality = {m: prediction.estimates[m].quality for m in known}
        choice = choose(
            quality,
            price,
            point,
            {m: prediction.estimates[m].latency_ms for m in known},
        )
        return LearnedDecision(
            choice,
            reason(
                shown,
                quality,
                price,
                choice,
                point,
                cell=f"{prior.domain}/{prior.complexity}" if familiar and prior else None,
                cell_outcomes=round(familiar),
            ),
            prediction,
            point,
        )

    def calibrate(
        self,
        target: str,
        *,
        knob: str = "tolerance",
        costs: Mapping[str, float] | None = None,
        sample: int = _TUNE_SAMPLE,
        seed: int = 0,
    ) -> Calibration:
        """Choose the tolerance (or cost weight) that meets ``target`` on the stored queries.

        Each sampled stored query is predicted leave-one-out; for each knob value the choices
        give a strong share (not the cheapest model), a mean cost per query and a quality (the
        observed score where the chosen model was observed on that query, else predicted).
        Among the values that meet the target, the one with the best quality is chosen; if
        none does, the closest.

        Args:
            target: ``strong-share<=X``, ``cost<=USD`` (per query) or ``quality>=X``.
            knob: ``tolerance`` or ``cost_weight``.
            costs: each model's cost per query in USD (default: its stored mean cost).
            sample: how many stored queries to predict (a seeded sample of a larger store).
            seed: the sample's seed.

        Raises:
            ConfigError: bad target or knob, no stored outcomes, or costs needed and unknown.
        """
        metric, _, _ = parse_target(target)
        if knob not in ("tolerance", "cost_weight"):
            raise ConfigError(f"knob must be tolerance or cost_weight, got {knob!r}")
        memory = self.memory
        if memory.n_queries == 0:
            raise ConfigError("the store holds no outcomes to calibrate on")
        models = list(memory.models)
        counts = memory.counts()
        mean_cost = memory.cost_sums().sum(0) / np.maximum(memory.cost_counts().sum(0), 1e-12)
        known_cost = memory.cost_counts().sum(0) > 0
        if costs is not None:
            unit = np.array([float(costs.get(m, np.nan)) for m in models])
        else:
            unit = np.where(known_cost, mean_cost, np.nan)
        if np.isnan(unit).any() and (metric == "cost" or knob == "cost_weight"):
            raise ConfigError("calibrating on cost needs each model's cost (pass costs=...)")
        rng = np.random.default_rng(seed)
        rows = np.sort(
            rng.choice(memory.n_queries, size=min(memory.n_queries, sample), replace=False)
        )
        domains, levels = memory.cells()
        pred = self.predict_rows(
            memory.embeddings(rows),
            [DOMAINS[d] if d >= 0 else None for d in domains[rows]],
            [COMPLEXITIES[c] if c >= 0 else None for c in levels[rows]],
            exclude=rows,
        )["quality"]
        seen = counts[rows] > 0
        actual = np.where(seen, memory.score_sums()[rows] / np.maximum(counts[rows], 1e-12), pred)
        return sweep(pred, actual, unit, target, knob)

    # -- internals --------------------------------------------------------------------------
    def _cell_outcomes(self, prior: Classification | None, models: Sequence[str]) -> float:
        """Outcomes of ``models`` in the prior's (domain, complexity) cell.

        A familiar cell (at least ``cell_strength`` of them, its record outweighing its shrinkage)
        decides where similar queries are thin.
        """
        if prior is None or prior.domain not in DOMAINS or prior.complexity not in COMPLEXITIES:
            return 0.0
        cell_n = self._levels()[2][
            DOMAINS.index(prior.domain), COMPLEXITIES.index(prior.complexity)
        ]
        cols = [j for j, m in enumerate(self.memory.models) if m in models]
        return float(cell_n[cols].sum())

    def _levels(self) -> tuple[np.ndarray, ...]:
        memory = self.memory
        if self._levels_cache is not None and self._levels_cache[0] == memory.version:
            return self._levels_cache[1]
        counts, sums = memory.counts(), memory.score_sums()
        domains, levels = memory.cells()
        m = len(memory.models)
        cell_n = np.zeros((len(DOMAINS), len(COMPLEXITIES) + 1, m))
        cell_s = np.zeros_like(cell_n)
        known = domains >= 0
        slot = np.where(levels >= 0, levels, len(COMPLEXITIES))
        np.add.at(cell_n, (domains[known], slot[known]), counts[known])
        np.add.at(cell_s, (domains[known], slot[known]), sums[known])
        with np.errstate(invalid="ignore", divide="ignore"):
            side_means = tuple(
                np.where(n.sum(0) > 0, t.sum(0) / n.sum(0), np.nan)
                for n, t in (
                    (memory.cost_counts(), memory.cost_sums()),
                    (memory.latency_counts(), memory.latency_sums()),
                )
            )
        result = (counts.sum(0), sums.sum(0), cell_n, cell_s, *side_means)
        self._levels_cache = (memory.version, result)
        return result

    def _baseline(
        self,
        dom: np.ndarray,
        cx: np.ndarray,
        cell_strength: float,
        *,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Levels 1-3 for each query [b, models]; stored ``rows`` leave out their own outcomes."""
        g_n, g_s, cell_n, cell_s = self._levels()[:4]
        cell_strength = max(cell_strength, 1e-9)
        b, m = dom.size, g_n.size
        own_n = np.zeros((b, m)) if rows is None else self.memory.counts()[rows]
        own_s = np.zeros((b, m)) if rows is None else self.memory.score_sums()[rows]
        pooled = g_s.sum() / max(g_n.sum(), 1e-12) if g_n.sum() else 0.5
        glob = (g_s[None, :] - own_s + _GLOBAL_STRENGTH * pooled) / (
            g_n[None, :] - own_n + _GLOBAL_STRENGTH
        )
        d = np.clip(dom, 0, None)
        dn = cell_n[d].sum(axis=1) - own_n * (dom >= 0)[:, None]
        ds = cell_s[d].sum(axis=1) - own_s * (dom >= 0)[:, None]
        dn, ds = np.where(dom[:, None] >= 0, dn, 0.0), np.where(dom[:, None] >= 0, ds, 0.0)
        domain_mean = (ds + cell_strength * glob) / (dn + cell_strength)
        c = np.clip(cx, 0, None)
        has_cell = (dom >= 0) & (cx >= 0)
        cn = np.where(has_cell[:, None], cell_n[d, c] - own_n, 0.0)
        cs = np.where(has_cell[:, None], cell_s[d, c] - own_s, 0.0)
        out: np.ndarray = (cs + cell_strength * domain_mean) / (cn + cell_strength)
        return out

    def _local(
        self, rows: np.ndarray, sims: np.ndarray, bandwidth: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Kernel-weighted outcome counts and score sums of the neighbours [b, models]."""
        weights = _kernel(sims, bandwidth)
        return _weighted(rows, weights, self.memory.counts(), self.memory.score_sums())

    def _side(
        self,
        rows: np.ndarray,
        weights: np.ndarray,
        counts: np.ndarray,
        sums: np.ndarray,
        mean: np.ndarray,
    ) -> np.ndarray:
        """Kernel regression of a side quantity (cost, latency) shrunk to the model's mean."""
        w_n, w_s = _weighted(rows, weights, counts, sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            strength = max(self.settings.local_strength, 1e-9)
            out: np.ndarray = (w_s + strength * mean) / (w_n + strength)
        return out


def _weighted(
    rows: np.ndarray, weights: np.ndarray, counts: np.ndarray, sums: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if counts.shape[0] == 0:
        empty = np.zeros((rows.shape[0], counts.shape[1]))
        return empty, empty.copy()
    safe = np.clip(rows, 0, None)
    w_n = np.einsum("bk,bkm->bm", weights, counts[safe])
    w_s = np.einsum("bk,bkm->bm", weights, sums[safe])
    return w_n, w_s


def _kernel(sims: np.ndarray, bandwidth: float) -> np.ndarray:
    valid = np.isfinite(sims)
    if math.isinf(bandwidth):
        uniform: np.ndarray = valid.astype(float)
        return uniform
    weights: np.ndarray = np.where(
        valid, np.exp(-(1.0 - np.where(valid, sims, 0.0)) / bandwidth), 0.0
    )
    return weights


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
