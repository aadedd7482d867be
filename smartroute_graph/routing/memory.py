"""The outcome store in memory: per-query outcome totals and a nearest-neighbour index.

:class:`OutcomeMemory` holds one row per distinct query (its unit-length embedding, the prior's
domain and complexity) and, per (query, model), the number of observations and the sums of
their scores, costs and latencies. It is filled from an :class:`~.outcomes.OutcomeStore`
(:meth:`OutcomeMemory.refresh` reads only what is new, by id high-water mark, and reloads after
a delete) or straight from arrays (:meth:`OutcomeMemory.add_queries`, the offline evaluation).

Neighbour search is :class:`~.index.VectorIndex`'s (exact up to 4,096 queries, an inverted
file beyond).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS
from smartroute_graph.routing.index import VectorIndex

if TYPE_CHECKING:
    from smartroute_graph.routing.outcomes import OutcomeStore, StoreCursor, StoreDelta

__all__ = ["OutcomeMemory"]


def _index(labels: Sequence[str], value: str | None) -> int:
    return labels.index(value) if value in labels else -1


class OutcomeMemory:
    """Outcomes aggregated per (query, model), with a neighbour index over the queries.

    Args:
        dim: embedding length (taken from the first rows when None).
    """

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim
        self.version = 0
        """Bumped by every change (the policy's caches key on it)."""
        self._reset_data()
        self._store: OutcomeStore | None = None
        self._cursor: StoreCursor | None = None
        self._lock = threading.RLock()

    def _reset_data(self) -> None:
        self.models: list[str] = []
        self._n = 0
        self._cap = 0
        self._mcap = 0
        self._index = VectorIndex()
        self._domain = np.zeros(0, dtype=np.int8)
        self._complexity = np.zeros(0, dtype=np.int8)
        self._stats = np.zeros((0, 0, 5), dtype=np.float64)  # n, score, cost n, cost, latency
        self._latency_n = np.zeros((0, 0), dtype=np.float64)
        self._row_of: dict[int, int] = {}

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_store(cls, store: OutcomeStore) -> OutcomeMemory:
        """A memory attached to ``store`` and filled from it.

        Raises:
            OutcomeStoreError: the store cannot be read.
        """
        memory = cls()
        memory._store = store
        memory.refresh()
        return memory

    @property
    def store(self) -> OutcomeStore | None:
        """The attached store, if any."""
        return self._store

    def refresh(self) -> int:
        """Read what the attached store gained since the last refresh.

        Returns how many observations came in (all of them after a delete, which empties the memory
        first).

        Raises:
            OutcomeStoreError: the store cannot be read (the memory keeps what it had).
        """
        if self._store is None:
            return 0
        delta = self._store.read_since(self._cursor)
        with self._lock:
            if delta.reset:
                self._clear()
            self.apply(delta)
            self._cursor = delta.cursor
        return len(delta.models)

    def apply(self, delta: StoreDelta) -> None:
        """Add a :class:`~.outcomes.StoreDelta`'s queries and outcomes."""
        with self._lock:
            if len(delta.query_ids):
                rows = self._append(delta.embeddings, delta.domains, delta.complexities)
                for qid, row in zip(delta.query_ids.tolist(), rows.tolist(), strict=True):
                    self._row_of[int(qid)] = int(row)
            if delta.models:
                known = [
                    i for i, q in enumerate(delta.outcome_query_ids.tolist()) if q in self._row_of
                ]
                rows = np.array([self._row_of[int(delta.outcome_query_ids[i])] for i in known])
                self._record(
                    rows,
                    [delta.models[i] for i in known],
                    delta.scores[known],
                    delta.costs[known],
                    delta.latencies[known],
                )

    def add_queries(
        self,
        embeddings: np.ndarray,
        scores: Sequence[dict[str, float]],
        *,
        costs: Sequence[dict[str, float]] | None = None,
        latencies: Sequence[dict[str, float]] | None = None,
        domains: Sequence[str | None] | None = None,
        complexities: Sequence[str | None] | None = None,
    ) -> np.ndarray:
        """Add queries with their outcomes directly (no store); returns their row numbers.

        Args:
            embeddings: [n, dim] (normalised here).
            scores: per query, ``{model: score}``.
            costs: per query, ``{model: usd}`` (optional).
            latencies: per query, ``{model: ms}`` (optional).
            domains: the prior's domain per query (optional).
            complexities: the prior's complexity per query (optional).
        """
        n = len(scores)
        with self._lock:
            rows = self._append(
                np.asarray(embeddings, dtype=np.float32).reshape(n, -1),
                list(domains) if domains is not None else [None] * n,
                list(complexities) if complexities is not None else [None] * n,
            )
            out_rows, models, values, cost_v, lat_v = [], [], [], [], []
            for i, row in enumerate(rows.tolist()):
                for model, score in scores[i].items():
                    out_rows.append(row)
                    models.append(model)
                    values.append(float(score))
                    cost_v.append(float((costs[i] if costs else {}).get(model, np.nan)))
                    lat_v.append(float((latencies[i] if latencies else {}).get(model, np.nan)))
            self._record(
                np.array(out_rows, dtype=np.int64),
                models,
                np.array(values),
                np.array(cost_v),
                np.array(lat_v),
            )
        return rows

    # -- views ------------------------------------------------------------------------------
    @property
    def n_queries(self) -> int:
        """Distinct queries held."""
        return self._n

    @property
    def n_observations(self) -> int:
        """Observations held."""
        return int(self._stats[: self._n, :, 0].sum())

    def counts(self) -> np.ndarray:
        """Observations per (query, model): [n_queries, n_models]."""
        return self._stats[: self._n, : len(self.models), 0]

    def score_sums(self) -> np.ndarray:
        """Score sums per (query, model): [n_queries, n_models]."""
        return self._stats[: self._n, : len(self.models), 1]

    def cost_counts(self) -> np.ndarray:
        """Observations with a cost per (query, model)."""
        return self._stats[: self._n, : len(self.models), 2]

    def cost_sums(self) -> np.ndarray:
        """Cost sums (USD) per (query, model)."""
        return self._stats[: self._n, : len(self.models), 3]

    def latency_counts(self) -> np.ndarray:
        """Observations with a latency per (query, model)."""
        return self._latency_n[: self._n, : len(self.models)]

    def latency_sums(self) -> np.ndarray:
        """Latency sums (ms) per (query, model)."""
        return self._stats[: self._n, : len(self.models), 4]

    def cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Each query's domain index in ``DOMAINS`` and complexity index in ``COMPLEXITIES``.

        An index is -1 when unknown.
        """
        return self._domain[: self._n], self._complexity[: self._n]

    def embeddings(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Unit embeddings (float32) of ``rows`` (all when None)."""
        return self._index.vectors(rows)

    # -- search -----------------------------------------------------------------------------
    def search(
        self, queries: np.ndarray, k: int, *, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` stored queries most similar to each of ``queries``, most similar first.

        ``queries`` are unit vectors [b, dim]; the result is row numbers [b, k] (-1 pads) and cosine
        similarities. ``exclude`` (a row per query, or -1) leaves that row out (leave-one-out).
        """
        with self._lock:
            return self._index.search(queries, k, exclude=exclude)

    # -- internals --------------------------------------------------------------------------
    def _clear(self) -> None:
        self._reset_data()
        self.version += 1

    def _grow(self, rows_needed: int, models_needed: int) -> None:
        if rows_needed > self._cap:
            cap = max(1024, self._cap * 2, rows_needed)
            for name in ("_domain", "_complexity"):
                old = getattr(self, name)
                new = np.full(cap, -1, dtype=np.int8)
                new[: self._n] = old[: self._n]
                setattr(self, name, new)
            self._stats = _resized(self._stats, cap, self._mcap)
            self._latency_n = _resized(self._latency_n, cap, self._mcap)
            self._cap = cap
        if models_needed > self._mcap:
            self._mcap = max(8, self._mcap * 2, models_needed)
            self._stats = _resized(self._stats, self._cap, self._mcap)
            self._latency_n = _resized(self._latency_n, self._cap, self._mcap)

    def _append(
        self,
        embeddings: np.ndarray,
        domains: Sequence[str | None],
        complexities: Sequence[str | None],
    ) -> np.ndarray:
        vectors: np.ndarray = np.asarray(embeddings, dtype=np.float32)
        if self.dim is None:
            self.dim = int(vectors.shape[1])
        if vectors.shape[1] != self.dim:
            raise ValueError(f"embeddings are {vectors.shape[1]} long, the memory's {self.dim}")
        start, count = self._n, vectors.shape[0]
        self._grow(start + count, len(self.models))
        self._index.add(vectors)
        self._domain[start : start + count] = [_index(DOMAINS, d) for d in domains]
        self._complexity[start : start + count] = [_index(COMPLEXITIES, c) for c in complexities]
        self._n += count
        self.version += 1
        return np.arange(start, start + count, dtype=np.int64)

    def _record(
        self,
        rows: np.ndarray,
        models: Sequence[str],
        scores: np.ndarray,
        costs: np.ndarray,
        latencies: np.ndarray,
    ) -> None:
        if not len(models):
            return
        for model in dict.fromkeys(models):
            if model not in self.models:
                self.models.append(model)
        self._grow(self._n, len(self.models))
        col = {m: j for j, m in enumerate(self.models)}
        cols = np.array([col[m] for m in models], dtype=np.int64)
        has_cost = np.isfinite(costs)
        has_latency = np.isfinite(latencies)
        stats = self._stats
        np.add.at(stats[:, :, 0], (rows, cols), 1.0)
        np.add.at(stats[:, :, 1], (rows, cols), scores)
        np.add.at(stats[:, :, 2], (rows, cols), has_cost.astype(float))
        np.add.at(stats[:, :, 3], (rows, cols), np.where(has_cost, costs, 0.0))
        np.add.at(stats[:, :, 4], (rows, cols), np.where(has_latency, latencies, 0.0))
        np.add.at(self._latency_n, (rows, cols), has_latency.astype(float))
        self.version += 1


def _resized(array: np.ndarray, rows: int, cols: int) -> np.ndarray:
    new = np.zeros((rows, cols, *array.shape[2:]), dtype=array.dtype)
    r, c = min(rows, array.shape[0]), min(cols, array.shape[1])
    new[:r, :c] = array[:r, :c]
    return new
