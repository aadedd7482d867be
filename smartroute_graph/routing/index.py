"""A nearest-neighbour index over unit vectors, in numpy, growing row by row.

Vectors are kept as int8 with one scale per row (a quarter of float32's memory; cosine
similarities off by about 0.003). Up to :data:`EXACT_MAX` rows, search is one exact matrix
product. Beyond that the index is an inverted file: the vectors are projected onto their top
:data:`COARSE_DIM` principal directions (uncentred, so dot products are kept), k-means cuts
that space into about sqrt(n) cells, and a query scans only the rows of its
:data:`PROBE_SHARE` nearest cells in the projected space, then re-ranks the best candidates with
the full vectors. Rows added later go to their nearest cell; the projection and the cells are
rebuilt when the index has doubled since they were built. With 100,000 rows a query takes well
under a millisecond on two cores.
"""

from __future__ import annotations

import numpy as np

__all__ = ["COARSE_DIM", "EXACT_MAX", "PROBE_SHARE", "VectorIndex"]

EXACT_MAX = 1024
COARSE_DIM = 64
PROBE_SHARE = 1 / 16
"""Share of the cells a query scans (at least 8)."""
_SAMPLE = 20_000
_KMEANS_ITERATIONS = 8


class VectorIndex:
    """Unit vectors (normalised on the way in) with exact or inverted-file search."""

    def __init__(self) -> None:
        self.dim: int | None = None
        self._n = 0
        self._q8 = np.zeros((0, 0), dtype=np.int8)
        self._scale = np.zeros(0, dtype=np.float32)
        self._exact: np.ndarray | None = None  # float32 rows while exact search is used
        self._basis: np.ndarray | None = None  # [dim, COARSE_DIM]
        self._coarse = np.zeros((0, 0), dtype=np.float32)  # projections of every row
        self._centroids: np.ndarray | None = None
        self._lists: list[np.ndarray] = []  # row numbers of each cell
        self._list_coarse: list[np.ndarray] = []  # their projections, contiguous per cell
        self._pending: list[list[int]] = []  # rows added to each cell since it was merged
        self._built_n = 0

    def __len__(self) -> int:
        return self._n

    # -- writing ----------------------------------------------------------------------------
    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Add rows (normalised here); returns their row numbers."""
        x: np.ndarray = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError("vectors must be a 2-D array")
        if self.dim is None:
            self.dim = int(x.shape[1])
            self._q8 = np.zeros((0, self.dim), dtype=np.int8)
        if x.shape[1] != self.dim:
            raise ValueError(f"vectors are {x.shape[1]} long, the index's {self.dim}")
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
        start, count = self._n, x.shape[0]
        if start + count > self._q8.shape[0]:
            cap = max(1024, 2 * self._q8.shape[0], start + count)
            self._q8 = _grown(self._q8, cap)
            self._scale = _grown(self._scale, cap)
            if self._coarse.size:
                self._coarse = _grown(self._coarse, cap)
        peak = np.abs(x).max(axis=1)
        scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
        self._q8[start : start + count] = np.rint(x / scale[:, None]).astype(np.int8)
        self._scale[start : start + count] = scale
        self._n += count
        self._exact = None
        if self._basis is not None and self._centroids is not None:
            projected = x @ self._basis
            self._coarse[start : start + count] = projected
            cells = np.argmax(projected @ self._centroids.T, axis=1)
            for row, cell in zip(range(start, start + count), cells.tolist(), strict=True):
                self._pending[cell].append(row)
        return np.arange(start, start + count, dtype=np.int64)

    # -- reading ----------------------------------------------------------------------------
    def vectors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The stored unit vectors (float32, dequantised) of ``rows`` (all when None)."""
        if rows is None:
            rows = np.arange(self._n)
        out: np.ndarray = self._q8[rows].astype(np.float32) * self._scale[rows, None]
        return out

    def search(
        self, queries: np.ndarray, k: int, *, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` rows most similar to each query (unit vectors [b, dim]).

        Args:
            queries: [b, dim].
            k: neighbours per query.
            exclude: one row per query to leave out (leave-one-out), or -1.

        Returns:
            Row numbers [b, k] (-1 where fewer exist) and cosine similarities [b, k]
            (-inf there), most similar first.
        """
        raw = np.asarray(queries, dtype=np.float32)
        q: np.ndarray = raw.reshape(-1, raw.shape[-1] if raw.ndim else 1)
        b = q.shape[0]
        rows_out = np.full((b, k), -1, dtype=np.int64)
        sims_out = np.full((b, k), -np.inf, dtype=np.float32)
        if self._n == 0 or k <= 0 or b == 0:
            return rows_out, sims_out
        take = min(self._n, k + (0 if exclude is None else 1))
        if self._n <= EXACT_MAX:
            if self._exact is None:
                self._exact = self.vectors()
            for start in range(0, b, 512):
                block = slice(start, min(b, start + 512))
                sims = q[block] @ self._exact.T
                rows = _top(sims, take)
                self._finish(
                    rows,
                    np.take_along_axis(sims, rows, axis=1),
                    block,
                    exclude,
                    k,
                    rows_out,
                    sims_out,
                )
            return rows_out, sims_out
        self._ensure_built()
        for i in range(b):
            rows = self._candidates(q[i], take)
            sims = self.vectors(rows) @ q[i]
            best = _top(sims[None, :], take)[0]
            self._finish(
                rows[best][None, :],
                sims[best][None, :],
                slice(i, i + 1),
                exclude,
                k,
                rows_out,
                sims_out,
            )
        return rows_out, sims_out

    def _finish(
        self,
        rows: np.ndarray,
        sims: np.ndarray,
        block: slice,
        exclude: np.ndarray | None,
        k: int,
        rows_out: np.ndarray,
        sims_out: np.ndarray,
    ) -> None:
        if exclude is not None:
            sims = np.where(rows == np.asarray(exclude)[block, None], -np.inf, sims)
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        rows = np.take_along_axis(rows, order, axis=1)
        sims = np.take_along_axis(sims, order, axis=1)
        width = rows.shape[1]
        rows_out[block, :width] = np.where(np.isfinite(sims), rows, -1)
        sims_out[block, :width] = sims

    def _candidates(self, query: np.ndarray, take: int) -> np.ndarray:
        assert self._basis is not None and self._centroids is not None
        projected = query @ self._basis
        n_cells = self._centroids.shape[0]
        probe = min(n_cells, max(8, int(np.ceil(n_cells * PROBE_SHARE))))
        cells = _top((self._centroids @ projected)[None, :], probe)[0].tolist()
        for cell in cells:
            if self._pending[cell]:
                added = np.asarray(self._pending[cell], dtype=np.int64)
                self._lists[cell] = np.concatenate([self._lists[cell], added])
                self._list_coarse[cell] = np.concatenate(
                    [self._list_coarse[cell], self._coarse[added]]
                )
                self._pending[cell] = []
        rows = np.concatenate([self._lists[c] for c in cells])
        width = max(8 * take, 256)
        if rows.size <= width:
            return rows
        scores = np.concatenate([self._list_coarse[c] @ projected for c in cells])
        picked: np.ndarray = rows[_top(scores[None, :], width)[0]]
        return picked

    def _ensure_built(self) -> None:
        if self._centroids is not None and self._n < 2 * self._built_n:
            return
        n = self._n
        rng = np.random.default_rng(0)
        sample = self.vectors(np.sort(rng.choice(n, size=min(n, _SAMPLE), replace=False)))
        _, eigenvectors = np.linalg.eigh(sample.T @ sample)
        dims = min(COARSE_DIM, eigenvectors.shape[1])
        self._basis = np.ascontiguousarray(eigenvectors[:, ::-1][:, :dims], dtype=np.float32)
        self._coarse = np.zeros((self._q8.shape[0], dims), dtype=np.float32)
        for start in range(0, n, 8192):
            stop = min(n, start + 8192)
            self._coarse[start:stop] = self.vectors(np.arange(start, stop)) @ self._basis
        n_cells = int(min(1024, max(16, np.sqrt(n))))
        self._centroids = _kmeans(sample @ self._basis, n_cells, rng)
        cells = np.concatenate(
            [
                np.argmax(self._coarse[s : min(n, s + 8192)] @ self._centroids.T, axis=1)
                for s in range(0, n, 8192)
            ]
        )
        order = np.argsort(cells, kind="stable")
        bounds = np.searchsorted(cells[order], np.arange(n_cells + 1))
        self._lists = [order[bounds[c] : bounds[c + 1]].astype(np.int64) for c in range(n_cells)]
        self._list_coarse = [np.ascontiguousarray(self._coarse[rows]) for rows in self._lists]
        self._pending = [[] for _ in range(n_cells)]
        self._built_n = n


def _kmeans(points: np.ndarray, n_cells: int, rng: np.random.Generator) -> np.ndarray:
    """Spherical k-means (dot-product assignment, unit centroids) of ``points``."""
    n_cells = min(n_cells, points.shape[0])
    centroids = points[rng.choice(points.shape[0], size=n_cells, replace=False)].copy()
    for _ in range(_KMEANS_ITERATIONS):
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        assign = np.argmax(points @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, points)
        empty = np.bincount(assign, minlength=n_cells) == 0
        sums[empty] = points[rng.choice(points.shape[0], size=int(empty.sum()))]
        centroids = sums
    out: np.ndarray = centroids / np.maximum(
        np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12
    )
    return out.astype(np.float32)


def _top(values: np.ndarray, take: int) -> np.ndarray:
    """Column indices of the ``take`` largest values of each row (in no order)."""
    if take >= values.shape[1]:
        return np.broadcast_to(np.arange(values.shape[1]), values.shape).copy()
    part: np.ndarray = np.argpartition(-values, take - 1, axis=1)[:, :take]
    return part


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    new = np.zeros((rows, *array.shape[1:]), dtype=array.dtype)
    new[: array.shape[0]] = array
    return new
