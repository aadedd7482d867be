"""The server's response cache, on LangChain's cache (``langchain_core.caches.BaseCache``).

LangChain looks a chat model's call up in its cache before calling the provider, keyed by
the prompt (the messages, serialised) and the model's settings (``llm_string``: class, model
name, temperature, ...), so a hit is an exact match per model and settings, and it makes no
provider call and waits on no rate limiter. Two stores:

- :class:`SQLiteResponseCache` (``sqlite:///answers.db``): one file, shared by the workers of
  one machine;
- :class:`RedisResponseCache` (``redis://host:6379/0``): shared by every worker of every node.

``langchain_community``'s ``SQLiteCache`` / ``RedisCache`` do the same but pull in
SQLAlchemy, aiohttp and the rest of that package; these two are a few lines each over the
standard library's ``sqlite3`` and the ``redis`` client.

:class:`ScopedCache` is what is installed process-wide (``set_llm_cache``): it answers from
the cache the current request was given (:func:`cache_scope`, set by the server per
request), so a library user's models in the same process are not cached, two apps in one
process keep apart, and a request that opts out (``Cache-Control: no-cache``) reads nothing
(its fresh answer is still stored). Every answer it returns is marked
``response_metadata["cache_hit"] = True``; the router prices such an attempt at $0.

LangChain's ``stream()`` does not consult the cache: :func:`cached_answer` and
:func:`store_answer` do the same lookup for the router's streaming path, so a streamed
answer is cached and a cached answer can be streamed.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.language_models import BaseChatModel
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, Generation

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.core.pricing import is_cache_hit
from smartroute_graph.core.urls import sqlite_path

__all__ = [
    "CACHE_HIT_KEY",
    "RedisResponseCache",
    "SQLiteResponseCache",
    "ScopedCache",
    "cache_scope",
    "cached_answer",
    "install_scoped_cache",
    "open_response_cache",
    "set_cache_read",
    "store_answer",
]

CACHE_HIT_KEY = "cache_hit"

# (the cache of the current request, whether it may read from it)
_SCOPE: contextvars.ContextVar[tuple[BaseCache | None, bool]] = contextvars.ContextVar(
    "smartroute_cache_scope", default=(None, False)
)


def _key(prompt: str, llm_string: str) -> str:
    return hashlib.sha256(f"{llm_string}\x00{prompt}".encode()).hexdigest()


def _encode(generations: RETURN_VAL_TYPE) -> str:
    items: list[dict[str, Any]] = []
    for g in generations:
        if isinstance(g, ChatGeneration):
            items.append({"message": g.message.model_dump(), "info": g.generation_info})
        else:
            items.append({"text": g.text, "info": g.generation_info})
    return json.dumps(items, separators=(",", ":"))


def _decode(text: str) -> list[Generation]:
    out: list[Generation] = []
    for item in json.loads(text):
        if "message" in item:
            message = AIMessage.model_validate(item["message"])
            out.append(ChatGeneration(message=message, generation_info=item.get("info")))
        else:
            out.append(Generation(text=item["text"], generation_info=item.get("info")))
    return out


class SQLiteResponseCache(BaseCache):
    """Answers in one SQLite file (WAL mode: several processes read and write it at once)."""

    def __init__(self, path: str | Path, *, ttl_s: float | None = None) -> None:
        self.path = str(path)
        self.ttl_s = ttl_s
        self._local = threading.local()
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS response_cache "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, stored_at REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The stored generations for this prompt and model settings, or None."""
        row = (
            self._connect()
            .execute(
                "SELECT value, stored_at FROM response_cache WHERE key = ?",
                (_key(prompt, llm_string),),
            )
            .fetchone()
        )
        if row is None or (self.ttl_s is not None and time.time() - row[1] > self.ttl_s):
            return None
        return _decode(row[0])

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store the generations of one call."""
        self._connect().execute(
            "INSERT OR REPLACE INTO response_cache (key, value, stored_at) VALUES (?, ?, ?)",
            (_key(prompt, llm_string), _encode(return_val), time.time()),
        )

    def clear(self, **kwargs: Any) -> None:
        """Forget every stored answer."""
        self._connect().execute("DELETE FROM response_cache")


class RedisResponseCache(BaseCache):
    """Answers in Redis (``SET key value [EX ttl]``), shared by every worker and node."""

    PREFIX = "smartroute:cache:"

    def __init__(self, url: str, *, ttl_s: float | None = None) -> None:
        import redis

        self.ttl_s = ttl_s
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The stored generations for this prompt and model settings, or None."""
        value = self.client.get(self.PREFIX + _key(prompt, llm_string))
        return None if value is None else _decode(value.decode())  # type: ignore[union-attr]

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store the generations of one call (expiring after ``ttl_s`` when given)."""
        ttl = int(self.ttl_s) if self.ttl_s else None
        self.client.set(self.PREFIX + _key(prompt, llm_string), _encode(return_val), ex=ttl)

    def clear(self, **kwargs: Any) -> None:
        """Forget every stored answer (this cache's keys only)."""
        for key in self.client.scan_iter(match=self.PREFIX + "*", count=500):
            self.client.delete(key)


def open_response_cache(url: str, *, ttl_s: float | None = None) -> BaseCache:
    """The cache at ``url`` (SQLite or Redis).

    The cache at ``url``: ``sqlite:///relative.db``, ``sqlite:////abs.db``, a file path, or
    ``redis://host:port/db`` (``rediss://`` for TLS).

    Raises:
        ConfigError: an unknown scheme, or the ``redis`` package is missing.
    """
    text = url.strip()
    if text.startswith(("redis://", "rediss://", "unix://")):
        try:
            return RedisResponseCache(text, ttl_s=ttl_s)
        except ImportError:
            raise ConfigError(
                "a Redis cache needs the redis client: pip install 'smartroute-graph[gateway]'"
            ) from None
    path = sqlite_path(text)
    if path is None:
        raise ConfigError(
            f"unknown cache URL scheme in {text.split('://')[0]!r}: use sqlite:///PATH or "
            "redis://HOST:PORT/DB"
        )
    if not path or path == ":memory:":
        raise ConfigError("a SQLite cache needs a file path, e.g. sqlite:///answers.db")
    return SQLiteResponseCache(path, ttl_s=ttl_s)


def _marked(generations: Sequence[Generation]) -> list[Generation]:
    out: list[Generation] = []
    for g in generations:
        if isinstance(g, ChatGeneration):
            meta = {**g.message.response_metadata, CACHE_HIT_KEY: True}
            g = ChatGeneration(
                message=g.message.model_copy(update={"response_metadata": meta}),
                generation_info=g.generation_info,
            )
        out.append(g)
    return out


class ScopedCache(BaseCache):
    """The process-wide LangChain cache: the current request's cache (see the module)."""

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """A hit from the request's cache (marked ``cache_hit``), or None."""
        cache, readable = _SCOPE.get()
        if cache is None or not readable:
            return None
        found = cache.lookup(prompt, llm_string)
        return _marked(found) if found else None

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store a fresh answer in the request's cache (never one that was itself a hit)."""
        cache, _ = _SCOPE.get()
        if cache is None or any(_hit(g) for g in return_val):
            return
        cache.update(prompt, llm_string, return_val)

    def clear(self, **kwargs: Any) -> None:
        """Nothing to clear here: clear the request's cache itself."""


def _hit(generation: Generation) -> bool:
    return isinstance(generation, ChatGeneration) and is_cache_hit(generation.message)


def install_scoped_cache() -> None:
    """Make :class:`ScopedCache` LangChain's process-wide cache (once; idempotent).

    Raises:
        ConfigError: another cache is already installed process-wide.
    """
    current = get_llm_cache()
    if isinstance(current, ScopedCache):
        return
    if current is not None:
        raise ConfigError(
            "a LangChain cache is already set process-wide (set_llm_cache): the server's "
            "--cache would replace it; unset it or drop --cache"
        )
    set_llm_cache(ScopedCache())


@contextmanager
def cache_scope(cache: BaseCache | None, *, read: bool = True) -> Iterator[None]:
    """Calls within the block use ``cache`` (reading from it only when ``read``)."""
    token = _SCOPE.set((cache, read))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def set_cache_read(read: bool) -> None:
    """Within the current scope, allow or forbid reading from the cache.

    Within the current scope, allow or forbid reading from the cache (the request's opt-out, known
    once its body is parsed).
    """
    cache, _ = _SCOPE.get()
    _SCOPE.set((cache, read))


def _stream_key(model: BaseChatModel, messages: Sequence[BaseMessage]) -> tuple[str, str]:
    # As BaseChatModel._generate_with_cache keys a call: a streamed answer and an invoked
    # one share the entry.
    normalised = [m.model_copy(update={"id": None}) if m.id is not None else m for m in messages]
    return dumps(normalised), model._get_llm_string()


def _scoped() -> ScopedCache | None:
    cache = get_llm_cache()
    if isinstance(cache, ScopedCache) and _SCOPE.get()[0] is not None:
        return cache
    return None


def cached_answer(model: BaseChatModel, messages: Sequence[BaseMessage]) -> AIMessage | None:
    """The cached answer of ``model`` to ``messages`` for a streamed call, or None."""
    cache = _scoped()
    if cache is None or model.cache is False:
        return None
    found = cache.lookup(*_stream_key(model, messages))
    if found and isinstance(found[0], ChatGeneration):
        message = found[0].message
        return message if isinstance(message, AIMessage) else None
    return None


def store_answer(model: BaseChatModel, messages: Sequence[BaseMessage], answer: AIMessage) -> None:
    """Store a streamed answer as LangChain would have stored the invoked one."""
    cache = _scoped()
    if cache is None or model.cache is False or is_cache_hit(answer):
        return
    cache.update(*_stream_key(model, messages), [ChatGeneration(message=answer)])
