"""The server's gateway features: response cache, rate limits, cooldowns, budgets per caller.

:class:`Gateway` holds them for one app (``create_app(..., gateway=...)``):

- ``cache``: a LangChain cache (:mod:`smartroute_graph.core.response_cache`) every request
  uses unless it opts out (``Cache-Control: no-cache`` or ``no-store``, or ``"cache": false``
  in a ``/v1/chat/completions`` body); a hit costs $0 and says ``cache_hit``;
- ``rate_limits``: requests per second per model (LangChain rate limiters, in Redis when
  ``redis_url`` is given: :mod:`~smartroute_graph.serving.shared_state`);
- ``cooldowns``: models failing lately are skipped (:mod:`smartroute_graph.routing.cooldown`);
- ``callers`` and ``ledger``: several server tokens with daily budgets
  (:mod:`~smartroute_graph.serving.budgets`).

With several workers, state that must hold across them lives in Redis (cache, rate limits,
cooldowns) and SQLite/PostgreSQL (spend, learned outcomes): :func:`build_gateway` refuses
per-process state when ``workers > 1``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.caches import BaseCache
from starlette.types import ASGIApp, Receive, Scope, Send

from smartroute_graph.core.errors import AllModelsFailedError, ConfigError
from smartroute_graph.core.response_cache import (
    cache_scope,
    install_scoped_cache,
    open_response_cache,
)
from smartroute_graph.routing.cooldown import (
    COOLING_CONFIG_KEY,
    CooldownPolicy,
    CooldownTracker,
    MemoryCooldowns,
)
from smartroute_graph.runnable import SmartRouter
from smartroute_graph.serving.budgets import (
    BudgetExceededError,
    Caller,
    SpendLedger,
    open_spend_ledger,
    seconds_to_midnight_utc,
    today_utc,
)
from smartroute_graph.serving.shared_state import (
    RedisCooldowns,
    parse_rate_limits,
    rate_limiters,
    redis_client,
)

__all__ = ["CURRENT_CALLER", "CacheScope", "Gateway", "build_gateway"]

logger = logging.getLogger(__name__)

# The caller (its name in the callers file) of the request being served; None: the
# operator's token, or an open server.
CURRENT_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "smartroute_caller", default=None
)

_NO_CACHE = ("no-cache", "no-store")
# The models cooling down when this request was routed (counted as skipped if unused).
_COOLING: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "smartroute_cooling", default=()
)


@dataclass
class Gateway:
    """The gateway features of one app (each optional; see the module)."""

    cache: BaseCache | None = None
    cooldowns: CooldownTracker | None = None
    callers: Sequence[Caller] = ()
    ledger: SpendLedger | None = None
    rate_limits: str | None = None
    """``MODEL=REQUESTS_PER_SECOND,...`` (checked against the catalog by :meth:`attach`)."""
    redis: Any = None
    describe: dict[str, Any] = field(default_factory=dict)
    metrics: Any = None
    """The app's :class:`~smartroute_graph.serving.metrics.ServerMetrics` (set by
    :meth:`attach`): rate-limited calls, cooldown skips and budget refusals are counted there."""

    def attach(self, router: SmartRouter, metrics: Any = None) -> None:
        """Wire the rate limits into the router's models and install the cache hook."""
        self.metrics = metrics
        limits = parse_rate_limits(self.rate_limits, router.catalog)
        if limits:
            on_wait = None if metrics is None else self._count_rate_limited
            router.provider.set_rate_limiters(rate_limiters(limits, self.redis, on_wait))
            self.describe["rate_limits"] = limits
        if self.cache is not None:
            install_scoped_cache()

    # -- per request ------------------------------------------------------------------

    async def run_config(self, models: Sequence[str]) -> dict[str, Any]:
        """The run config that tells the router which models are cooling down."""
        if self.cooldowns is None:
            return {}
        tracker = self.cooldowns
        cooling = (
            tracker.cooling(models)
            if isinstance(tracker, MemoryCooldowns)
            else await asyncio.to_thread(tracker.cooling, models)
        )
        _COOLING.set(tuple(cooling))
        return {"configurable": {COOLING_CONFIG_KEY: cooling}} if cooling else {}

    async def check_budget(self, caller: Caller | None) -> None:
        """Raise :class:`BudgetExceededError` when ``caller`` spent its budget today."""
        CURRENT_CALLER.set(caller)
        if caller is None or caller.daily_budget_usd is None or self.ledger is None:
            return
        spent = await asyncio.to_thread(self.ledger.spent, caller.name, today_utc())
        if spent >= caller.daily_budget_usd:
            wait = seconds_to_midnight_utc()
            if self.metrics is not None:
                self.metrics.budget_refusals.labels(caller.name).inc()
            raise BudgetExceededError(
                f"caller {caller.name!r} has spent ${spent:.6f} today, its daily budget is "
                f"${caller.daily_budget_usd:g}: requests are refused until 00:00 UTC (in "
                f"{wait / 3600:.1f} h); ask the operator to raise the budget",
                retry_after_s=wait,
            )

    async def settle(self, meta: Mapping[str, Any]) -> None:
        """After an answer: count its failed attempts, charge its cost to the caller."""
        attempts = meta.get("attempts") or ()
        failed = [a.get("model") for a in attempts if not a.get("ok")]
        await self._record_failures([m for m in failed if m])
        if self.metrics is not None:
            tried = {a.get("model") for a in attempts}
            for model in _COOLING.get():
                if model not in tried:  # cooling, and this answer did without it
                    self.metrics.cooldown_skips.labels(model).inc()
        caller = CURRENT_CALLER.get()
        cost = float(meta.get("cost_usd") or 0.0)
        if caller is not None and self.ledger is not None and cost > 0:
            await asyncio.to_thread(self.ledger.add, caller.name, today_utc(), cost)

    async def failed(self, exc: BaseException) -> None:
        """After a run where every model failed: count each failed attempt."""
        if isinstance(exc, AllModelsFailedError):
            models = [a.get("model") for a in exc.attempts]
            await self._record_failures([str(m) for m in models if m])

    def _count_rate_limited(self, model: str) -> None:
        self.metrics.rate_limited.labels(model).inc()

    async def _record_failures(self, models: Sequence[str]) -> None:
        tracker = self.cooldowns
        if tracker is None or not models:
            return
        try:
            if isinstance(tracker, MemoryCooldowns):
                for model in models:
                    tracker.record_failure(model)
            else:
                for model in models:
                    await asyncio.to_thread(tracker.record_failure, model)
        except Exception as exc:  # the answer stands; the count is best effort
            logger.warning("could not record a failure for cooldowns: %s", type(exc).__name__)


class CacheScope:
    """ASGI middleware: each request uses the gateway's cache, unless it opts out.

    ASGI middleware: each request uses the gateway's cache, unless its headers say ``Cache-Control:
    no-cache`` / ``no-store`` (then it reads nothing; its answer is stored).
    """

    def __init__(self, app: ASGIApp, cache: BaseCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request inside its cache scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        control = b",".join(v for k, v in scope["headers"] if k.lower() == b"cache-control")
        read = not any(d in control.decode("latin-1").lower() for d in _NO_CACHE)
        with cache_scope(self.cache, read=read):
            await self.app(scope, receive, send)


def build_gateway(
    *,
    cache_url: str | None = None,
    redis_url: str | None = None,
    rate_limits: str | None = None,
    cooldown: str | None = None,
    callers: Sequence[Caller] = (),
    spend_store: str | None = None,
    workers: int = 1,
) -> Gateway | None:
    """The gateway for the server's options (None when none is asked for).

    Raises:
        ConfigError: an option is malformed; or ``workers > 1`` would keep state per process
            (rate limits or cooldowns without ``redis_url``; budgets without a spend store).
    """
    if not any((cache_url, rate_limits, cooldown, callers)):
        return None
    if callers and any(c.daily_budget_usd is not None for c in callers) and not spend_store:
        raise ConfigError(
            "callers with a daily budget need --spend-store (sqlite:///spend.db, or "
            "postgresql://... for several nodes) to count what they spend"
        )
    if workers > 1 and (rate_limits or cooldown) and not redis_url:
        raise ConfigError(
            f"--workers {workers} with rate limits or cooldowns needs --redis URL: each "
            "worker would otherwise keep its own counts"
        )
    client = redis_client(redis_url) if redis_url else None
    policy = CooldownPolicy.parse(cooldown) if cooldown else None
    tracker: CooldownTracker | None = None
    if policy is not None:
        tracker = RedisCooldowns(client, policy) if client is not None else MemoryCooldowns(policy)
    return Gateway(
        cache=open_response_cache(cache_url) if cache_url else None,
        cooldowns=tracker,
        callers=list(callers),
        ledger=open_spend_ledger(spend_store) if spend_store else None,
        rate_limits=rate_limits,
        redis=client,
        describe={
            "cache": cache_url.split("://")[0] if cache_url else None,
            "shared_state": "redis" if client is not None else "process",
            "cooldown": policy.why() if policy else None,
            "callers": len(callers),
        },
    )
