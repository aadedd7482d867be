"""The outcome store's two back ends and :func:`open_outcome_store`, which picks one by URL.

- :class:`SQLiteOutcomeStore`: one file, the default. WAL journal (readers never block the
  writer), ``synchronous=NORMAL`` (a commit survives the process crashing; the last commits may
  be lost if the machine loses power), a busy timeout so concurrent writers wait instead of
  failing, one connection per thread and process.
- :class:`PostgresOutcomeStore`: a PostgreSQL database shared by several router replicas
  (``psycopg`` 3, the ``postgres`` extra).

Both share their SQL and interface with :class:`~.outcomes.OutcomeStore`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smartroute_graph.core.errors import OutcomeStoreError
from smartroute_graph.core.urls import sqlite_path
from smartroute_graph.routing.outcomes import OutcomeStore, redact_url

__all__ = ["PostgresOutcomeStore", "SQLiteOutcomeStore", "open_outcome_store"]


def _ddl(*, id_column: str, ref: str, blob: str, real: str) -> list[str]:
    """The outcome store's tables and indexes in a database's column types."""
    return [
        "CREATE TABLE IF NOT EXISTS smartroute_meta (key TEXT PRIMARY KEY, value TEXT)",
        f"CREATE TABLE IF NOT EXISTS smartroute_queries (id {id_column}, key TEXT NOT NULL "
        f"UNIQUE, embedding {blob} NOT NULL, domain TEXT, complexity TEXT, created {real} NOT "
        "NULL)",
        f"CREATE TABLE IF NOT EXISTS smartroute_outcomes (id {id_column}, query_id {ref} NOT "
        f"NULL, model TEXT NOT NULL, score {real} NOT NULL, cost_usd {real}, latency_ms {real}, "
        f"source TEXT NOT NULL, created {real} NOT NULL, run_id TEXT)",
        "CREATE INDEX IF NOT EXISTS smartroute_outcomes_query ON smartroute_outcomes (query_id)",
        "CREATE INDEX IF NOT EXISTS smartroute_outcomes_source ON smartroute_outcomes (source)",
        f"CREATE TABLE IF NOT EXISTS smartroute_pending (outcome_id TEXT PRIMARY KEY, embedding "
        f"{blob} NOT NULL, model TEXT NOT NULL, cost_usd {real}, latency_ms {real}, domain TEXT, "
        f"complexity TEXT, created {real} NOT NULL)",
        "CREATE INDEX IF NOT EXISTS smartroute_pending_created ON smartroute_pending (created)",
    ]


class SQLiteOutcomeStore(OutcomeStore):
    """The outcome store in one SQLite file.

    It uses a WAL journal, a busy timeout, and one connection per thread and process.

    Args:
        path: the database file (created with its folder when missing).
        embedder: see :class:`OutcomeStore`.
        timeout_s: how long a writer waits for another writer's lock before failing.

    Raises:
        OutcomeStoreError: the file is not an SQLite database (corrupt), cannot be created, or
            holds another schema.
    """

    def __init__(
        self, path: str | Path, *, embedder: str | None = None, timeout_s: float = 30.0
    ) -> None:
        super().__init__(embedder)
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.timeout_s = timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutcomeStoreError(f"cannot create the folder of {self.url}: {exc}") from None
        self._init_schema()

    def _connect(self) -> Any:
        import sqlite3

        conn = sqlite3.connect(
            str(self.path), timeout=self.timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except Exception:
            conn.close()
            raise
        return conn  # explicit BEGIN; commit() and rollback() end it

    def _begin_write(self, cur: Any) -> None:
        cur.execute("BEGIN IMMEDIATE")

    def _begin_read(self, cur: Any) -> None:
        cur.execute("BEGIN")

    def _schema(self) -> list[str]:
        return _ddl(
            id_column="INTEGER PRIMARY KEY AUTOINCREMENT", ref="INTEGER", blob="BLOB", real="REAL"
        )

    def _is_db_error(self, exc: BaseException) -> bool:
        import sqlite3

        return isinstance(exc, sqlite3.Error)

    def _describe_error(self, exc: BaseException) -> str:
        text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if "not a database" in text or "malformed" in text:
            return (
                f"outcome store {self.url} is not a readable SQLite database ({text}): move the "
                "file away (or delete it) to start a new store; routing uses the prior meanwhile"
            )
        if "locked" in text or "busy" in text:
            return (
                f"outcome store {self.url} stayed locked by another writer for over "
                f"{self.timeout_s:g} s ({text})"
            )
        return f"outcome store {self.url} failed: {text}"


class PostgresOutcomeStore(OutcomeStore):
    """The outcome store in a PostgreSQL database, shared by several router replicas.

    Writers serialise on a transaction-level advisory lock, so ids are assigned in commit
    order and an id high-water mark never skips a row. Needs ``psycopg`` 3 (``pip install
    'smartroute-graph[postgres]'``).

    Args:
        url: ``postgresql://user:password@host:port/database``.
        embedder: see :class:`OutcomeStore`.
        connect_timeout_s: how long to wait for the server.

    Raises:
        OutcomeStoreError: psycopg is missing, the server cannot be reached, or the database
            holds another schema.
    """

    _placeholder = "%s"
    _LOCK = 7_391_524_031  # advisory lock key of smartroute outcome writers

    def __init__(
        self, url: str, *, embedder: str | None = None, connect_timeout_s: float = 10.0
    ) -> None:
        super().__init__(embedder)
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise OutcomeStoreError(
                "a postgresql:// outcome store needs psycopg: pip install "
                "'smartroute-graph[postgres]'"
            ) from None
        self._init_schema()

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(
            self.url.replace("postgresql+psycopg://", "postgresql://"),
            connect_timeout=max(1, int(self.connect_timeout_s)),
            autocommit=False,
        )

    def _begin_write(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._LOCK,))

    def _begin_read(self, cur: Any) -> None:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def _generation_bump(self) -> str:
        return "CAST(CAST(value AS BIGINT) + 1 AS TEXT)"

    def _schema(self) -> list[str]:
        return _ddl(
            id_column="BIGSERIAL PRIMARY KEY", ref="BIGINT", blob="BYTEA", real="DOUBLE PRECISION"
        )

    def _is_db_error(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.Error)

    def _describe_error(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return f"outcome store {redact_url(self.url)} failed: {redact_url(text)}"


def open_outcome_store(
    url: str | Path, *, embedder: str | None = None, timeout_s: float = 30.0
) -> OutcomeStore:
    """Open (creating when needed) the outcome store at ``url``.

    Args:
        url: a file path, ``sqlite:///relative.db``, ``sqlite:////absolute.db``, or
            ``postgresql://...`` (also ``postgres://``).
        embedder: the embedding's name; a store made with another refuses to mix them.
        timeout_s: SQLite: how long a writer waits for the lock; PostgreSQL: connect timeout.

    Raises:
        OutcomeStoreError: the store cannot be opened (see the store classes).
    """
    text = str(url)
    if text.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        if text.startswith("postgres://"):
            text = "postgresql://" + text[len("postgres://") :]
        return PostgresOutcomeStore(text, embedder=embedder, connect_timeout_s=timeout_s)
    path = sqlite_path(text)
    if path is None:
        raise OutcomeStoreError(
            f"unknown outcome store URL {redact_url(text)!r}: use a file path, sqlite:///PATH or "
            "postgresql://..."
        )
    if not path or path == ":memory:":
        raise OutcomeStoreError(
            "an outcome store needs a file path (in-memory SQLite is not shared)"
        )
    return SQLiteOutcomeStore(path, embedder=embedder, timeout_s=timeout_s)
