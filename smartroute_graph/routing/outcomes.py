"""Observations of how well a model answered a query, and the store that keeps them.

An :class:`Observation` is one outcome: the query's sentence embedding (the packaged encoder's,
:meth:`~smartroute_graph.classifiers.encoder.EncoderClassifier.embed`), the model, a score in
[0, 1], what the answer cost and how long it took, where the observation came from
(``source``: an outcome table, LangSmith feedback, the answer review, ...), when, and optionally
a hash of the query text and a run id. The text itself is never stored.

:func:`.stores.open_outcome_store` opens a store by URL: a file path or ``sqlite:///path.db`` (the
default, one machine) or ``postgresql://...`` (several replicas; needs ``psycopg``, the
``postgres`` extra). Both keep two tables: ``smartroute_queries`` (one row per distinct query:
its key, embedding as float16 and the prior's domain/complexity) and ``smartroute_outcomes``
(one row per observation, pointing at its query). Writers take a short write lock per batch
(SQLite ``BEGIN IMMEDIATE`` in WAL mode with a busy timeout; a PostgreSQL advisory lock), so
several threads and processes can write at once and nothing is lost, and row ids grow in
commit order: a reader that remembers the highest id it has seen
(:class:`StoreCursor`) fetches only what is new (:meth:`OutcomeStore.read_since`).

A third table, ``smartroute_pending``, remembers answers that may still receive feedback (one
row per outcome id: the query's embedding, the model that answered, its cost and latency), so
feedback given by id in another process finds its query (:meth:`OutcomeStore.add_pending`,
:meth:`OutcomeStore.pending`; rows older than a time-to-live are pruned as new ones come).

Any failure to open, read or write (a corrupt file, an unreachable server, a store made with
another embedding) raises :class:`~smartroute_graph.core.errors.OutcomeStoreError`; callers catch it
and route by the prior.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from smartroute_graph.core.errors import OutcomeStoreError
from smartroute_graph.routing.observations import Observation, PendingOutcome, hash_text

__all__ = [
    "SCHEMA_VERSION",
    "Observation",
    "OutcomeStore",
    "PendingOutcome",
    "StoreCursor",
    "StoreDelta",
    "hash_text",
    "redact_url",
]

SCHEMA_VERSION = "1"
_CHUNK = 500  # keys per IN (...) look-up


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


@dataclass(frozen=True)
class StoreCursor:
    """How far a reader has read: the store's generation and the highest ids seen."""

    generation: int = -1
    query_id: int = 0
    outcome_id: int = 0


@dataclass(frozen=True)
class StoreDelta:
    """What :meth:`OutcomeStore.read_since` found since a cursor.

    ``reset`` means the store was cleared or partly deleted since the cursor: the reader drops
    what it holds and takes this delta as everything. Outcome arrays are aligned; a missing
    cost or latency is NaN.
    """

    cursor: StoreCursor
    reset: bool
    query_ids: np.ndarray
    embeddings: np.ndarray
    domains: list[str | None]
    complexities: list[str | None]
    outcome_query_ids: np.ndarray
    models: list[str]
    scores: np.ndarray
    costs: np.ndarray
    latencies: np.ndarray
    sources: list[str]


class OutcomeStore(ABC):
    """The store's interface (SQLite and PostgreSQL share it and its SQL).

    Args:
        embedder: the name of the embedding the store holds (e.g. ``encoder:accurate``); a
            store made with another one refuses to mix them.
    """

    url: str
    _placeholder = "?"

    def __init__(self, embedder: str | None = None) -> None:
        self.embedder = embedder
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- dialect hooks ----------------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> Any:
        """A new DB-API connection with the store's settings."""

    @abstractmethod
    def _begin_write(self, cur: Any) -> None:
        """Start a write transaction that holds the store's write lock until commit."""

    @abstractmethod
    def _begin_read(self, cur: Any) -> None:
        """Start a read transaction that sees one consistent snapshot."""

    @abstractmethod
    def _schema(self) -> list[str]:
        """``CREATE ... IF NOT EXISTS`` statements of the tables and indexes."""

    @abstractmethod
    def _describe_error(self, exc: BaseException) -> str:
        """What went wrong and what to do, for an :class:`OutcomeStoreError`."""

    @abstractmethod
    def _is_db_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the driver's error (and should become an OutcomeStoreError)."""

    # -- connections and transactions -------------------------------------------------------
    def _conn(self) -> Any:
        if self._closed:
            raise OutcomeStoreError(f"outcome store {redact_url(self.url)} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._guard(self._connect)
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._connections.append(conn)
        return conn

    def _guard(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except OutcomeStoreError:
            raise
        except Exception as exc:
            if self._is_db_error(exc):
                raise OutcomeStoreError(self._describe_error(exc)) from exc
            raise

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[Any]:
        conn = self._conn()
        try:
            cur = conn.cursor()
            (self._begin_write if write else self._begin_read)(cur)
            yield cur
            conn.commit()
        except Exception as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            if isinstance(exc, OutcomeStoreError) or not self._is_db_error(exc):
                raise
            raise OutcomeStoreError(self._describe_error(exc)) from exc

    def _sql(self, text: str) -> str:
        return text.replace("?", self._placeholder) if self._placeholder != "?" else text

    def _init_schema(self) -> None:
        with self._transaction(write=True) as cur:
            for statement in self._schema():
                cur.execute(statement)
            cur.execute(
                self._sql(
                    "INSERT INTO smartroute_meta (key, value) VALUES ('schema', ?), "
                    "('generation', '0') ON CONFLICT (key) DO NOTHING"
                ),
                (SCHEMA_VERSION,),
            )
            meta = self._meta(cur)
        if meta.get("schema") != SCHEMA_VERSION:
            raise OutcomeStoreError(
                f"outcome store {redact_url(self.url)} has schema {meta.get('schema')!r}, this "
                f"version reads {SCHEMA_VERSION!r}; use a new store or delete this one"
            )
        self._check_embedder(meta)

    def _meta(self, cur: Any) -> dict[str, str]:
        cur.execute("SELECT key, value FROM smartroute_meta")
        return {str(k): str(v) for k, v in cur.fetchall()}

    def _check_embedder(self, meta: dict[str, str]) -> None:
        stored = meta.get("embedder")
        if self.embedder and stored and stored != self.embedder:
            raise OutcomeStoreError(
                f"outcome store {redact_url(self.url)} holds embeddings of {stored!r}, not "
                f"{self.embedder!r}: use a store per embedding model (or reset this one)"
            )

    # -- writing ----------------------------------------------------------------------------
    def add(self, observations: Iterable[Observation]) -> int:
        """Store observations in one transaction; returns how many were written.

        Raises:
            OutcomeStoreError: the store cannot be written, or the embeddings' length differs
                from the store's.
        """
        batch = list(observations)
        if not batch:
            return 0
        dims = {o.embedding.size for o in batch}
        if len(dims) != 1:
            raise OutcomeStoreError(f"observations of one batch differ in embedding length {dims}")
        dim = dims.pop()
        with self._transaction(write=True) as cur:
            meta = self._meta(cur)
            self._check_embedder(meta)
            if "dim" not in meta:
                pairs = [("dim", str(dim))] + (
                    [("embedder", self.embedder)] if self.embedder else []
                )
                cur.executemany(
                    self._sql("INSERT INTO smartroute_meta (key, value) VALUES (?, ?)"), pairs
                )
            elif int(meta["dim"]) != dim:
                raise OutcomeStoreError(
                    f"outcome store {redact_url(self.url)} holds {meta['dim']}-long embeddings, "
                    f"these are {dim} long: use a store per embedding model"
                )
            elif self.embedder and "embedder" not in meta:
                cur.execute(
                    self._sql("INSERT INTO smartroute_meta (key, value) VALUES ('embedder', ?)"),
                    (self.embedder,),
                )
            ids = self._query_ids(cur, batch)
            cur.executemany(
                self._sql(
                    "INSERT INTO smartroute_outcomes (query_id, model, score, cost_usd, "
                    "latency_ms, source, created, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                [
                    (
                        ids[o.key],
                        o.model,
                        o.score,
                        o.cost_usd,
                        o.latency_ms,
                        o.source,
                        float(o.time),
                        o.run_id,
                    )
                    for o in batch
                ],
            )
        return len(batch)

    def _query_ids(self, cur: Any, batch: Sequence[Observation]) -> dict[str, int]:
        first: dict[str, Observation] = {}
        for o in batch:
            first.setdefault(o.key, o)
        keys = list(first)
        ids: dict[str, int] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            ids.update(self._lookup(cur, chunk))
            missing = [k for k in chunk if k not in ids]
            if missing:
                cur.executemany(
                    self._sql(
                        "INSERT INTO smartroute_queries (key, embedding, domain, complexity, "
                        "created) VALUES (?, ?, ?, ?, ?)"
                    ),
                    [
                        (
                            k,
                            first[k].embedding.astype(np.float16).tobytes(),
                            first[k].domain,
                            first[k].complexity,
                            float(first[k].time),
                        )
                        for k in missing
                    ],
                )
                ids.update(self._lookup(cur, missing))
        return ids

    def _lookup(self, cur: Any, keys: Sequence[str]) -> dict[str, int]:
        marks = ", ".join("?" * len(keys))
        cur.execute(
            self._sql(f"SELECT key, id FROM smartroute_queries WHERE key IN ({marks})"), keys
        )
        return {str(k): int(i) for k, i in cur.fetchall()}

    def add_pending(self, outcome_id: str, pending: PendingOutcome, *, ttl_s: float) -> None:
        """Remember an answer under ``outcome_id`` for later feedback.

        It replaces an earlier one of the same id; rows older than ``ttl_s`` seconds are pruned in
        the same transaction.

        Raises:
            OutcomeStoreError: the store cannot be written.
        """
        row = (
            outcome_id,
            np.asarray(pending.embedding, dtype=np.float16).tobytes(),
            pending.model,
            pending.cost_usd,
            pending.latency_ms,
            pending.domain,
            pending.complexity,
            float(pending.time),
        )
        with self._transaction(write=True) as cur:
            cur.execute(
                self._sql("DELETE FROM smartroute_pending WHERE created < ? OR outcome_id = ?"),
                (time.time() - ttl_s, outcome_id),
            )
            cur.execute(
                self._sql(
                    "INSERT INTO smartroute_pending (outcome_id, embedding, model, cost_usd, "
                    "latency_ms, domain, complexity, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                row,
            )

    def pending(self, outcome_id: str) -> PendingOutcome | None:
        """The answer remembered under ``outcome_id`` (:meth:`add_pending`), or None.

        Raises:
            OutcomeStoreError: the store cannot be read.
        """
        with self._transaction(write=False) as cur:
            cur.execute(
                self._sql(
                    "SELECT embedding, model, cost_usd, latency_ms, domain, complexity, created "
                    "FROM smartroute_pending WHERE outcome_id = ?"
                ),
                (outcome_id,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return PendingOutcome(
            embedding=np.frombuffer(bytes(row[0]), dtype=np.float16).astype(np.float32),
            model=str(row[1]),
            cost_usd=None if row[2] is None else float(row[2]),
            latency_ms=None if row[3] is None else float(row[3]),
            domain=None if row[4] is None else str(row[4]),
            complexity=None if row[5] is None else str(row[5]),
            time=float(row[6]),
        )

    def delete(self, source: str | None = None) -> int:
        """Delete the observations of ``source``; returns how many observations.

        ``None`` deletes every observation, and every answer waiting for feedback. Queries left
        without observations go too. Readers reload on their next refresh.
        """
        with self._transaction(write=True) as cur:
            if source is None:
                cur.execute("DELETE FROM smartroute_pending")
                cur.execute("DELETE FROM smartroute_outcomes")
            else:
                cur.execute(
                    self._sql("DELETE FROM smartroute_outcomes WHERE source = ?"), (source,)
                )
            removed = int(cur.rowcount or 0)
            cur.execute(
                "DELETE FROM smartroute_queries WHERE id NOT IN "
                "(SELECT DISTINCT query_id FROM smartroute_outcomes)"
            )
            cur.execute(
                "UPDATE smartroute_meta SET value = "
                f"{self._generation_bump()} WHERE key = 'generation'"
            )
        return removed

    def clear(self) -> int:
        """Delete every observation (:meth:`delete` with no source)."""
        return self.delete(None)

    def _generation_bump(self) -> str:
        return "CAST(CAST(value AS INTEGER) + 1 AS TEXT)"

    # -- reading ----------------------------------------------------------------------------
    def count(self, *, source: str | None = None, model: str | None = None) -> int:
        """How many observations (of ``source`` and/or ``model`` when given)."""
        where, params = _filters(source=source, model=model)
        with self._transaction(write=False) as cur:
            cur.execute(self._sql(f"SELECT COUNT(*) FROM smartroute_outcomes{where}"), params)
            return int(cur.fetchone()[0])

    def summary(self) -> list[dict[str, Any]]:
        """One row per (model, source) with counts, means and first/last times.

        Columns: ``n``, ``mean_score``, ``mean_cost_usd``, ``mean_latency_ms`` (None when never
        recorded), ``first`` and ``last`` times.
        """
        with self._transaction(write=False) as cur:
            cur.execute(
                "SELECT model, source, COUNT(*), AVG(score), AVG(cost_usd), AVG(latency_ms), "
                "MIN(created), MAX(created) FROM smartroute_outcomes "
                "GROUP BY model, source ORDER BY model, source"
            )
            rows = cur.fetchall()
        return [
            {
                "model": str(r[0]),
                "source": str(r[1]),
                "n": int(r[2]),
                "mean_score": float(r[3]),
                "mean_cost_usd": None if r[4] is None else float(r[4]),
                "mean_latency_ms": None if r[5] is None else float(r[5]),
                "first": float(r[6]),
                "last": float(r[7]),
            }
            for r in rows
        ]

    def info(self) -> dict[str, Any]:
        """The store's URL (password redacted), embedding length and name, and counts."""
        with self._transaction(write=False) as cur:
            meta = self._meta(cur)
            cur.execute("SELECT COUNT(*) FROM smartroute_queries")
            queries = int(cur.fetchone()[0])
            cur.execute("SELECT COUNT(*) FROM smartroute_outcomes")
            outcomes = int(cur.fetchone()[0])
        return {
            "url": redact_url(self.url),
            "embedder": meta.get("embedder"),
            "dim": int(meta["dim"]) if "dim" in meta else None,
            "generation": int(meta.get("generation", "0")),
            "queries": queries,
            "observations": outcomes,
        }

    def read_since(self, cursor: StoreCursor | None = None) -> StoreDelta:
        """Queries and outcomes added since ``cursor``, read from one consistent snapshot.

        Everything for ``None`` or after a delete.
        """
        cursor = cursor or StoreCursor()
        with self._transaction(write=False) as cur:
            meta = self._meta(cur)
            generation = int(meta.get("generation", "0"))
            reset = generation != cursor.generation
            since_q, since_o = (0, 0) if reset else (cursor.query_id, cursor.outcome_id)
            cur.execute(
                self._sql(
                    "SELECT id, embedding, domain, complexity FROM smartroute_queries "
                    "WHERE id > ? ORDER BY id"
                ),
                (since_q,),
            )
            queries = cur.fetchall()
            cur.execute(
                self._sql(
                    "SELECT id, query_id, model, score, cost_usd, latency_ms, source "
                    "FROM smartroute_outcomes WHERE id > ? ORDER BY id"
                ),
                (since_o,),
            )
            outcomes = cur.fetchall()
        dim = int(meta.get("dim", "0"))
        if queries:
            blob = b"".join(bytes(q[1]) for q in queries)
            embeddings = np.frombuffer(blob, dtype=np.float16).reshape(len(queries), -1)
        else:
            embeddings = np.zeros((0, dim), dtype=np.float16)
        new_cursor = StoreCursor(
            generation=generation,
            query_id=int(queries[-1][0]) if queries else since_q,
            outcome_id=int(outcomes[-1][0]) if outcomes else since_o,
        )
        return StoreDelta(
            cursor=new_cursor,
            reset=reset,
            query_ids=np.array([int(q[0]) for q in queries], dtype=np.int64),
            embeddings=embeddings.astype(np.float32),
            domains=[None if q[2] is None else str(q[2]) for q in queries],
            complexities=[None if q[3] is None else str(q[3]) for q in queries],
            outcome_query_ids=np.array([int(o[1]) for o in outcomes], dtype=np.int64),
            models=[str(o[2]) for o in outcomes],
            scores=np.array([float(o[3]) for o in outcomes], dtype=np.float64),
            costs=np.array([math.nan if o[4] is None else float(o[4]) for o in outcomes]),
            latencies=np.array([math.nan if o[5] is None else float(o[5]) for o in outcomes]),
            sources=[str(o[6]) for o in outcomes],
        )

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close every connection this object opened (in any thread)."""
        self._closed = True
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(Exception):
                conn.close()

    def __enter__(self) -> OutcomeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_url(self.url)!r})"


def _filters(**values: str | None) -> tuple[str, list[str]]:
    clauses = [(f"{name} = ?", value) for name, value in values.items() if value is not None]
    if not clauses:
        return "", []
    return " WHERE " + " AND ".join(c for c, _ in clauses), [v for _, v in clauses]
