"""Rate limits and cooldowns the server's workers share, in Redis when one is configured.

- Rate limits per model (requests per second): LangChain's ``InMemoryRateLimiter`` in one
  process; :class:`RedisRateLimiter` (the same token bucket, kept in Redis by one Lua
  script, so every worker and node draws on one bucket) when ``--redis`` is given. Each is
  set on the model (``BaseChatModel.rate_limiter``): a call waits for its turn; a
  response-cache hit does not wait.
- Cooldowns: :class:`~smartroute_graph.routing.cooldown.MemoryCooldowns` in one process;
  :class:`RedisCooldowns` across processes.

Redis keys live under ``smartroute:``; times are Redis's own clock (``TIME``), so the
workers' clocks need not agree.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from langchain_core.rate_limiters import BaseRateLimiter, InMemoryRateLimiter

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.routing.cooldown import CooldownPolicy

__all__ = [
    "RedisCooldowns",
    "RedisRateLimiter",
    "parse_rate_limits",
    "rate_limiters",
    "redis_client",
]

_PREFIX = "smartroute:"

# Token bucket: refill at ARGV[1] per second up to ARGV[2]; take one token when there is one.
_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil then tokens = 0; ts = now end
tokens = math.min(size, tokens + math.max(0, now - ts) * rate)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(size / rate) + 60)
return ok
"""

# One failure of a model: the ARGV[1]-th within ARGV[2] seconds cools it for ARGV[3] seconds.
_FAILURE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, t[1] .. '.' .. t[2] .. '.' .. ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', math.floor(tonumber(ARGV[3]) * 1000))
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


def redis_client(url: str) -> Any:
    """A ``redis.Redis`` for ``url`` (a connection pool, safe to share between threads).

    Raises:
        ConfigError: the ``redis`` package is missing, or ``url`` is not a Redis URL.
    """
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"not a Redis URL: {url.split('://')[0]}://...; use redis://HOST:PORT/DB")
    try:
        import redis
    except ImportError:
        raise ConfigError(
            "shared state in Redis needs the redis client: pip install 'smartroute-graph[gateway]'"
        ) from None
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


class RedisRateLimiter(BaseRateLimiter):
    """LangChain's token-bucket rate limiter with the bucket in Redis (see the module)."""

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        requests_per_second: float,
        max_bucket_size: float = 1,
        check_every_n_seconds: float = 0.01,
    ) -> None:
        if not requests_per_second > 0 or max_bucket_size < 1:
            raise ConfigError("a rate limit needs requests_per_second > 0 and a bucket of >= 1")
        self.key = f"{_PREFIX}ratelimit:{name}"
        self.requests_per_second = requests_per_second
        self.max_bucket_size = max_bucket_size
        self.check_every_n_seconds = check_every_n_seconds
        self._take = client.register_script(_BUCKET)

    def _consume(self) -> bool:
        return bool(
            self._take(keys=[self.key], args=[self.requests_per_second, self.max_bucket_size])
        )

    def acquire(self, *, blocking: bool = True) -> bool:
        """Take a token; when ``blocking``, wait until one is there."""
        while not self._consume():
            if not blocking:
                return False
            time.sleep(self.check_every_n_seconds)
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        """Async :meth:`acquire` (Redis is asked off the event loop)."""
        while not await asyncio.to_thread(self._consume):
            if not blocking:
                return False
            await asyncio.sleep(self.check_every_n_seconds)
        return True


class RedisCooldowns:
    """Cooldowns in Redis: every worker counts the same failures and skips the same models."""

    def __init__(self, client: Any, policy: CooldownPolicy) -> None:
        self.policy = policy
        self.client = client
        self._fail = client.register_script(_FAILURE)
        self._count = 0

    def record_failure(self, model: str) -> None:
        """Count one failed call of ``model`` (the Nth within the window cools it)."""
        self._count += 1
        self._fail(
            keys=[f"{_PREFIX}failures:{model}", f"{_PREFIX}cooling:{model}"],
            args=[
                self.policy.failures,
                self.policy.window_s,
                self.policy.cooldown_s,
                f"{id(self)}.{self._count}",
            ],
        )

    def cooling(self, models: Iterable[str]) -> dict[str, str]:
        """The models of ``models`` cooling down now."""
        names = list(models)
        if not names:
            return {}
        found = self.client.mget([f"{_PREFIX}cooling:{m}" for m in names])
        return {m: self.policy.why() for m, v in zip(names, found, strict=True) if v is not None}


def parse_rate_limits(text: str | None, catalog: Iterable[str]) -> dict[str, float]:
    """``"gpt-4.1=5,o4-mini=0.5"`` → ``{model: requests per second}``.

    Raises:
        ConfigError: a malformed entry, a rate that is not positive, or an unknown model.
    """
    known = list(catalog)
    limits: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.strip().rpartition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = float("nan")
        if not sep or not rate > 0:
            raise ConfigError(
                f"rate limit {item.strip()!r} is not MODEL=REQUESTS_PER_SECOND (e.g. "
                "gpt-4.1=5; a positive number)"
            )
        if name not in known:
            raise ConfigError(
                f"rate limit for unknown model {name!r}: the catalog has {', '.join(known)}"
            )
        limits[name] = rate
    return limits


class CountingRateLimiter(BaseRateLimiter):
    """A rate limiter that reports each call it holds back (``on_wait(model)``), then waits."""

    def __init__(self, inner: BaseRateLimiter, model: str, on_wait: Callable[[str], None]) -> None:
        self.inner, self.model, self.on_wait = inner, model, on_wait

    def acquire(self, *, blocking: bool = True) -> bool:
        """Take a token, reporting the call first when it has to wait for one."""
        if self.inner.acquire(blocking=False):
            return True
        self.on_wait(self.model)
        return self.inner.acquire(blocking=blocking)

    async def aacquire(self, *, blocking: bool = True) -> bool:
        """Async :meth:`acquire`."""
        if await self.inner.aacquire(blocking=False):
            return True
        self.on_wait(self.model)
        return await self.inner.aacquire(blocking=blocking)


def rate_limiters(
    limits: Mapping[str, float],
    client: Any | None,
    on_wait: Callable[[str], None] | None = None,
) -> dict[str, BaseRateLimiter]:
    """One limiter per model: in Redis when ``client`` is given, else in this process.

    ``on_wait(model)`` is told of every call a limiter holds back (the ``/metrics`` counter).
    """
    out: dict[str, BaseRateLimiter] = {}
    for name, rate in limits.items():
        limiter: BaseRateLimiter = (
            RedisRateLimiter(client, name, requests_per_second=rate)
            if client is not None
            else InMemoryRateLimiter(
                requests_per_second=rate, check_every_n_seconds=0.01, max_bucket_size=1
            )
        )
        out[name] = limiter if on_wait is None else CountingRateLimiter(limiter, name, on_wait)
    return out
