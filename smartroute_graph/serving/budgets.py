"""Callers and their daily budgets: several server tokens, each with a name and a budget.

The callers file (``smartroute serve --callers FILE``, YAML or JSON)::

    callers:
      - name: team-search
        token_env: TEAM_SEARCH_TOKEN    # the token is read from this variable...
        daily_budget_usd: 5.0
      - name: batch-jobs
        token: "a-long-random-value"   # ...or written here (keep the file private)
        daily_budget_usd: 20
      - name: ops                      # no budget: unlimited

Each caller sends its own token as ``Authorization: Bearer``; what its requests cost (the
``cost_usd`` of every answer) is added to its spend of the day (UTC) in a
:class:`SpendLedger` (SQLite for one machine, PostgreSQL for several), shared by every
worker. A caller whose spend today has reached its budget is answered 429 with a
``Retry-After`` until midnight UTC. Requests already running when the budget is reached
finish (and are charged), so the spend can pass the budget by what those cost.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import yaml

from smartroute_graph.core.errors import ConfigError, SmartRouteError
from smartroute_graph.core.urls import sqlite_path
from smartroute_graph.routing.outcomes import redact_url

__all__ = [
    "BudgetExceededError",
    "Caller",
    "PostgresSpendLedger",
    "SQLiteSpendLedger",
    "SpendLedger",
    "describe_callers",
    "load_callers",
    "open_spend_ledger",
    "seconds_to_midnight_utc",
    "today_utc",
]


class BudgetExceededError(SmartRouteError):
    """The caller has spent its daily budget (HTTP 429 with ``Retry-After``)."""

    http_status: ClassVar[int] = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Caller:
    """One server token: who uses it and what it may spend a day (None: no limit)."""

    name: str
    token: str
    daily_budget_usd: float | None = None

    def __repr__(self) -> str:  # never the token
        return f"Caller(name={self.name!r}, daily_budget_usd={self.daily_budget_usd!r})"


def today_utc() -> str:
    """The UTC date spend is counted under, ``YYYY-MM-DD``."""
    return dt.datetime.now(dt.UTC).date().isoformat()


def seconds_to_midnight_utc() -> float:
    """Seconds until the day's spend starts again from zero."""
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    return (midnight - now).total_seconds()


def load_callers(path: str | Path) -> list[Caller]:
    """The callers of a callers file (see the module).

    Raises:
        ConfigError: the file is missing or malformed, a name or token is repeated, a token
            variable is unset, or a budget is negative.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the callers file {path}: {exc}") from None
    entries = data.get("callers") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(
            f"the callers file {path} needs a non-empty 'callers' list of "
            "{name, token or token_env, daily_budget_usd?}"
        )
    callers: list[Caller] = []
    for i, entry in enumerate(entries, 1):
        callers.append(_caller(entry, f"{path}: caller {i}"))
    for attr in ("name", "token"):
        values = [getattr(c, attr) for c in callers]
        if len(set(values)) != len(values):
            raise ConfigError(f"{path}: two callers share a {attr}; give each its own")
    return callers


def _caller(entry: Any, where: str) -> Caller:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not a mapping")
    unknown = set(entry) - {"name", "token", "token_env", "daily_budget_usd"}
    if unknown:
        raise ConfigError(
            f"{where} has unknown field(s) {sorted(unknown)}: use name, token or token_env, "
            "daily_budget_usd"
        )
    name = str(entry.get("name") or "").strip()
    if not name:
        raise ConfigError(f"{where} has no name")
    token = str(entry.get("token") or "").strip()
    if entry.get("token_env"):
        token = os.environ.get(str(entry["token_env"]), "").strip()
        if not token:
            raise ConfigError(f"{where} ({name}): the variable {entry['token_env']} is not set")
    if len(token) < 16:
        raise ConfigError(
            f"{where} ({name}) needs a token of at least 16 characters (token or token_env)"
        )
    budget = entry.get("daily_budget_usd")
    if budget is not None:
        try:
            budget = float(budget)
        except (TypeError, ValueError):
            budget = -1.0
        if budget < 0:
            raise ConfigError(f"{where} ({name}): daily_budget_usd must be a number >= 0")
    return Caller(name, token, budget)


class SpendLedger(Protocol):
    """What each caller spent per day, shared by every worker."""

    def spent(self, caller: str, day: str) -> float:
        """US dollars ``caller`` spent on ``day`` (0 when nothing)."""

    def add(self, caller: str, day: str, usd: float) -> None:
        """Add ``usd`` to ``caller``'s spend of ``day``."""


class _SQLLedger:
    _placeholder: ClassVar[str] = "?"
    _create = (
        "CREATE TABLE IF NOT EXISTS smartroute_spend (caller TEXT NOT NULL, day TEXT NOT NULL, "
        "usd DOUBLE PRECISION NOT NULL, PRIMARY KEY (caller, day))"
    )

    def __init__(self) -> None:
        self._local = threading.local()
        self._execute(self._create)

    def _connect(self) -> Any:
        raise NotImplementedError

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        cur = conn.execute(sql.replace("?", self._placeholder), tuple(params))
        rows = cur.fetchall() if cur.description else []
        return list(rows)

    def spent(self, caller: str, day: str) -> float:
        """US dollars ``caller`` spent on ``day``."""
        rows = self._execute(
            "SELECT usd FROM smartroute_spend WHERE caller = ? AND day = ?", (caller, day)
        )
        return float(rows[0][0]) if rows else 0.0

    def add(self, caller: str, day: str, usd: float) -> None:
        """Add ``usd`` to the day's spend (one atomic upsert)."""
        if usd <= 0:
            return
        self._execute(
            "INSERT INTO smartroute_spend (caller, day, usd) VALUES (?, ?, ?) ON CONFLICT "
            "(caller, day) DO UPDATE SET usd = smartroute_spend.usd + excluded.usd",
            (caller, day, usd),
        )


class SQLiteSpendLedger(_SQLLedger):
    """Spend in a SQLite file (the workers of one machine)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__()

    def _connect(self) -> Any:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn


class PostgresSpendLedger(_SQLLedger):
    """Spend in PostgreSQL (every worker of every node)."""

    _placeholder: ClassVar[str] = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__()

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise ConfigError(
                f"cannot reach the spend store {redact_url(self.url)}: {redact_url(str(exc))}"
            ) from None


def open_spend_ledger(url: str) -> SpendLedger:
    """The ledger at ``url``: a file path, ``sqlite:///PATH`` or ``postgresql://...``.

    Raises:
        ConfigError: an unknown scheme, psycopg missing, or the database unreachable.
    """
    text = url.strip()
    if text.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "a postgresql:// spend store needs psycopg: pip install "
                "'smartroute-graph[postgres]'"
            ) from None
        return PostgresSpendLedger(text.replace("postgres://", "postgresql://", 1))
    path = sqlite_path(text)
    if path is None:
        raise ConfigError(
            f"unknown spend store URL {redact_url(text)!r}: use sqlite:///PATH or postgresql://..."
        )
    if not path:
        raise ConfigError("the spend store needs a file path, e.g. sqlite:///spend.db")
    return SQLiteSpendLedger(path)


def describe_callers(callers: Sequence[Caller]) -> str:
    """One line for the startup banner (names and budgets, never tokens)."""
    return ", ".join(
        f"{c.name} (${c.daily_budget_usd:g}/day)" if c.daily_budget_usd is not None else c.name
        for c in callers
    )
