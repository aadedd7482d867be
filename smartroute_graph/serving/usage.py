"""Usage analytics that outlive the process: one row per routed answer, one per feedback score.

:class:`UsageLog` keeps two tables in SQLite (one file; WAL journal so several workers of one
machine write it at once) or PostgreSQL (several nodes): ``smartroute_usage`` (when, which
endpoint and status, the decision's domain, complexity and selected model, the model that
answered, cost, request and decision latency, fallbacks, escalation, cache hit) and
``smartroute_feedback`` (when, model, score). Writes go through a queue to one background
thread, in batches, so a request never waits on the database; :meth:`UsageLog.flush` waits
for what is queued. :meth:`UsageLog.summary` is what ``GET /stats/data`` serves. No query
text, key or token is ever stored.

:func:`open_usage_log` picks the back end by URL: ``sqlite:///path.db`` or a file path,
``postgresql://...`` (needs ``psycopg``, the ``postgres`` extra), ``:memory:`` (this process
only, gone at exit).
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.routing.outcomes import redact_url

__all__ = ["FeedbackRow", "UsageLog", "UsageRow", "open_usage_log"]

logger = logging.getLogger(__name__)

_DAY_S = 86_400
_LATENCY_SAMPLE = 20_000  # most recent rows the latency percentiles are computed from


@dataclass(frozen=True)
class UsageRow:
    """One routed answer (or dry-run decision) as the usage log keeps it."""

    ts: float
    endpoint: str
    status: int
    domain: str
    complexity: str
    selected_model: str
    model: str
    cost_usd: float
    latency_ms: float
    decision_ms: float | None = None
    fallbacks: int = 0
    escalated: bool = False
    dry_run: bool = False
    cache_hit: bool = False


@dataclass(frozen=True)
class FeedbackRow:
    """One feedback score."""

    ts: float
    model: str
    score: float


_USAGE_COLUMNS = tuple(f.name for f in fields(UsageRow))
_FEEDBACK_COLUMNS = tuple(f.name for f in fields(FeedbackRow))


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


class UsageLog:
    """The usage tables in SQLite or PostgreSQL (see the module docstring).

    Args:
        url: ``sqlite:///path``, a path, ``:memory:`` or ``postgresql://...``.
        connect_timeout_s: PostgreSQL's connect timeout; SQLite's busy timeout.

    Raises:
        ConfigError: the URL is not one of those, psycopg is missing for PostgreSQL, or the
            database cannot be opened.
    """

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self.postgres = url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))
        self.timeout_s = connect_timeout_s
        self._queue: queue.SimpleQueue[UsageRow | FeedbackRow | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self.dropped = 0
        """Rows not written because the database failed (logged, never raised to a request)."""
        try:
            self._conn = self._connect()
            with self._cursor() as cur:
                for statement in self._schema():
                    cur.execute(statement)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                f"cannot open the usage log {redact_url(url)}: {str(exc).splitlines()[0][:200]}"
            ) from None
        self._thread: threading.Thread | None = None  # started by the first write

    # -- connection ---------------------------------------------------------------------------
    def _connect(self) -> Any:
        if self.postgres:
            try:
                import psycopg
            except ImportError:
                raise ConfigError(
                    "a postgresql:// usage log needs psycopg: pip install "
                    "'smartroute-graph[postgres]'"
                ) from None
            url = self.url.replace("postgresql+psycopg://", "postgresql://")
            url = url.replace("postgres://", "postgresql://", 1)
            return psycopg.connect(url, connect_timeout=max(1, int(self.timeout_s)))
        import sqlite3

        path = self.url.removeprefix("sqlite:///")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=self.timeout_s, check_same_thread=False)
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        return conn

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self._lock:
            cur = self._conn.cursor()
            try:
                yield cur
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise
            finally:
                cur.close()

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def _schema(self) -> list[str]:
        real = "DOUBLE PRECISION" if self.postgres else "REAL"
        key = "BIGSERIAL PRIMARY KEY" if self.postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        return [
            f"CREATE TABLE IF NOT EXISTS smartroute_usage (id {key}, ts {real} NOT NULL, "
            "day TEXT NOT NULL, endpoint TEXT NOT NULL, status INTEGER NOT NULL, domain TEXT, "
            f"complexity TEXT, selected_model TEXT, model TEXT, cost_usd {real}, latency_ms "
            f"{real}, decision_ms {real}, fallbacks INTEGER, escalated INTEGER, dry_run "
            "INTEGER, cache_hit INTEGER)",
            "CREATE INDEX IF NOT EXISTS smartroute_usage_ts ON smartroute_usage (ts)",
            f"CREATE TABLE IF NOT EXISTS smartroute_feedback (id {key}, ts {real} NOT NULL, "
            f"day TEXT NOT NULL, model TEXT NOT NULL, score {real} NOT NULL)",
            "CREATE INDEX IF NOT EXISTS smartroute_feedback_ts ON smartroute_feedback (ts)",
        ]

    # -- writing ------------------------------------------------------------------------------
    def _writer(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._write_loop, name="smartroute-usage", daemon=True
                    )
                    self._thread.start()

    def record(self, row: UsageRow | FeedbackRow) -> None:
        """Queue ``row`` for writing (returns at once)."""
        self._writer()
        self._queue.put(row)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every row queued before this call is written; whether it was in time."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[UsageRow | FeedbackRow] = []
            waiters: list[threading.Event] = []
            while True:
                if item is None:
                    self._write(batch)
                    for waiter in waiters:
                        waiter.set()
                    return
                if isinstance(item, threading.Event):
                    waiters.append(item)
                else:
                    batch.append(item)
                if len(batch) >= 500:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._write(batch)
            for waiter in waiters:
                waiter.set()

    def _write(self, batch: Sequence[UsageRow | FeedbackRow]) -> None:
        usage = [
            (*(int(v) if isinstance(v, bool) else v for v in astuple(r)), _day(r.ts))
            for r in batch
            if isinstance(r, UsageRow)
        ]
        feedback = [(*astuple(r), _day(r.ts)) for r in batch if isinstance(r, FeedbackRow)]
        if not (usage or feedback):
            return
        try:
            with self._cursor() as cur:
                for table, columns, rows in (
                    ("smartroute_usage", _USAGE_COLUMNS, usage),
                    ("smartroute_feedback", _FEEDBACK_COLUMNS, feedback),
                ):
                    if rows:
                        names = ", ".join((*columns, "day"))
                        marks = ", ".join("?" * (len(columns) + 1))
                        sql = self._sql(f"INSERT INTO {table} ({names}) VALUES ({marks})")
                        cur.executemany(sql, rows)
        except Exception as exc:
            self.dropped += len(batch)
            logger.warning(
                "usage log %s: %d rows not written: %s",
                redact_url(self.url),
                len(batch),
                str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
            )

    # -- reading ------------------------------------------------------------------------------
    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall())

    def summary(self, days: int = 30, *, now: float | None = None) -> dict[str, Any]:
        """What ``/stats`` plots, over the last ``days`` days (UTC).

        The traffic mix, cost per model and per day, latency percentiles per day, feedback
        scores per day.
        """
        self.flush()
        now = time.time() if now is None else now
        since = now - days * _DAY_S
        totals = self._rows(
            "SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM smartroute_usage WHERE ts >= ?",
            (since,),
        )[0]
        mix = {
            column: {
                str(k): int(n)
                for k, n in self._rows(
                    f"SELECT {column}, COUNT(*) FROM smartroute_usage WHERE ts >= ? "
                    f"GROUP BY {column} ORDER BY COUNT(*) DESC",
                    (since,),
                )
                if k is not None
            }
            for column in ("domain", "complexity", "model")
        }
        cost_model = {
            str(m): float(c)
            for m, c in self._rows(
                "SELECT model, SUM(cost_usd) FROM smartroute_usage WHERE ts >= ? GROUP BY model "
                "ORDER BY SUM(cost_usd) DESC",
                (since,),
            )
            if m is not None
        }
        per_day: dict[str, dict[str, Any]] = defaultdict(dict)
        for day, model, cost, n in self._rows(
            "SELECT day, model, SUM(cost_usd), COUNT(*) FROM smartroute_usage WHERE ts >= ? "
            "GROUP BY day, model ORDER BY day",
            (since,),
        ):
            entry = per_day[str(day)]
            entry.setdefault("cost_by_model", {})[str(model)] = float(cost or 0.0)
            entry["requests"] = entry.get("requests", 0) + int(n)
        latencies: dict[str, list[float]] = defaultdict(list)
        decisions: dict[str, list[float]] = defaultdict(list)
        for day, latency, decision in self._rows(
            "SELECT day, latency_ms, decision_ms FROM smartroute_usage WHERE ts >= ? "
            f"ORDER BY ts DESC LIMIT {_LATENCY_SAMPLE}",
            (since,),
        ):
            if latency is not None:
                latencies[str(day)].append(float(latency))
            if decision is not None:
                decisions[str(day)].append(float(decision))
        latency = [
            {
                "day": day,
                "p50_ms": _percentile(values, 0.5),
                "p95_ms": _percentile(values, 0.95),
                "p99_ms": _percentile(values, 0.99),
                "decision_p50_ms": _percentile(decisions[day], 0.5) if decisions[day] else None,
                "n": len(values),
            }
            for day, values in sorted(latencies.items())
        ]
        feedback = [
            {"day": str(day), "mean_score": float(mean), "n": int(n)}
            for day, mean, n in self._rows(
                "SELECT day, AVG(score), COUNT(*) FROM smartroute_feedback WHERE ts >= ? "
                "GROUP BY day ORDER BY day",
                (since,),
            )
        ]
        return {
            "days": days,
            "since": _day(since),
            "store": "postgresql" if self.postgres else "sqlite",
            "totals": {"answers": int(totals[0]), "cost_usd": float(totals[1] or 0.0)},
            "mix": mix,
            "cost_per_model": cost_model,
            "per_day": [{"day": d, **v} for d, v in sorted(per_day.items())],
            "latency": latency,
            "feedback": feedback,
        }

    def clear(self) -> int:
        """Delete every row (usage and feedback); how many there were."""
        self.flush()
        with self._cursor() as cur:
            deleted = 0
            for table in ("smartroute_usage", "smartroute_feedback"):
                cur.execute(f"DELETE FROM {table}")
                deleted += max(0, cur.rowcount)
        return deleted

    def __enter__(self) -> UsageLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Write what is queued and close the connection."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self._conn.close()


def open_usage_log(url: str | Path) -> UsageLog:
    """The usage log at ``url`` (see the module docstring).

    Raises:
        ConfigError: an unknown URL scheme, or the database cannot be opened.
    """
    text = str(url)
    if "://" in text and not text.startswith(
        ("sqlite:///", "postgresql://", "postgres://", "postgresql+psycopg://")
    ):
        raise ConfigError(
            f"unknown usage log URL {redact_url(text)!r}: use a file path, sqlite:///PATH, "
            "postgresql://... or :memory:"
        )
    if "://" not in text:
        text = f"sqlite:///{text}"
    return UsageLog(text)
