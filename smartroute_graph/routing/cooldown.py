"""Cooldowns: a model that keeps failing is skipped for a while, then tried again.

Cooldowns: a model that failed ``failures`` times within ``window_s`` seconds is skipped for
``cooldown_s`` seconds, then tried again.

Two halves. The *state* (which models are cooling, and why) is kept by a
:class:`CooldownTracker`: :class:`MemoryCooldowns` in one process, a Redis-backed one
(:class:`smartroute_graph.serving.shared_state.RedisCooldowns`) across workers and nodes. The
*rule* is :func:`skip_cooling`, which :func:`~smartroute_graph.routing.decide.decide` applies
as its last rule: the run passes the cooling models in its config (``configurable``
``COOLING_CONFIG_KEY``), so the graph, the evaluation harness and ``compare`` keep one
decision path and the decision's ``reason`` says which model was skipped and why.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.core.pricing import estimate_cost
from smartroute_graph.routing.policy import Policy, RoutingDecision

__all__ = [
    "COOLING_CONFIG_KEY",
    "CooldownPolicy",
    "CooldownTracker",
    "MemoryCooldowns",
    "cooling_from_config",
    "skip_cooling",
]

COOLING_CONFIG_KEY = "smartroute_cooling"


@dataclass(frozen=True)
class CooldownPolicy:
    """``failures`` failed calls within ``window_s`` seconds cool a model for ``cooldown_s``."""

    failures: int = 3
    window_s: float = 60.0
    cooldown_s: float = 30.0

    def __post_init__(self) -> None:
        if self.failures < 1 or not self.window_s > 0 or not self.cooldown_s > 0:
            raise ConfigError(
                "a cooldown needs failures >= 1 and positive window and cooldown seconds, got "
                f"{self.failures} failures in {self.window_s} s for {self.cooldown_s} s"
            )

    @classmethod
    def parse(cls, text: str) -> CooldownPolicy:
        """``"N/T/C"``: N failures within T seconds cool the model for C seconds.

        Raises:
            ConfigError: not three numbers separated by ``/``.
        """
        parts = text.split("/")
        try:
            n, t, c = (float(p) for p in parts)
        except ValueError:
            raise ConfigError(
                f"cooldown {text!r} is not N/T/C (e.g. 3/60/30: 3 failures within 60 s skip "
                "the model for 30 s)"
            ) from None
        return cls(int(n), t, c)

    def why(self) -> str:
        """The clause a decision's reason gives for a skipped model."""
        return (
            f"failed {self.failures} times within {self.window_s:g} s, skipped for "
            f"{self.cooldown_s:g} s"
        )


class CooldownTracker(Protocol):
    """Failures seen per model, and which models are cooling down now."""

    policy: CooldownPolicy

    def record_failure(self, model: str) -> None:
        """Count one failed call of ``model``."""

    def cooling(self, models: Iterable[str]) -> dict[str, str]:
        """The models of ``models`` that are cooling down now, each with why."""


class MemoryCooldowns:
    """Cooldowns kept in this process (one worker)."""

    def __init__(self, policy: CooldownPolicy, *, clock: Any = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def record_failure(self, model: str) -> None:
        """Count one failed call; the ``failures``-th within the window starts a cooldown."""
        now = self._clock()
        with self._lock:
            seen = self._failures.setdefault(model, deque())
            seen.append(now)
            while seen and seen[0] <= now - self.policy.window_s:
                seen.popleft()
            if len(seen) >= self.policy.failures:
                self._until[model] = now + self.policy.cooldown_s
                seen.clear()

    def cooling(self, models: Iterable[str]) -> dict[str, str]:
        """The models cooling down now (a finished cooldown is forgotten)."""
        now = self._clock()
        with self._lock:
            return {m: self.policy.why() for m in models if self._until.get(m, float("-inf")) > now}


def cooling_from_config(config: Mapping[str, Any] | None) -> dict[str, str]:
    """The cooling models the run was given (``{model: why}``; empty when none)."""
    found = ((config or {}).get("configurable") or {}).get(COOLING_CONFIG_KEY)
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, Mapping) else {}


def skip_cooling(
    policy: Policy,
    decision: RoutingDecision,
    cooling: Mapping[str, str],
    *,
    budget_usd: float | None = None,
) -> RoutingDecision:
    """``decision`` without the models that are cooling down.

    Its pick moves to the first of its fallbacks that is not cooling, and cooling fallbacks are
    dropped. When every candidate is cooling the decision is kept (a model must be tried) and the
    reason says so.
    """
    candidates = [decision.model, *decision.fallbacks]
    skipped = [m for m in candidates if m in cooling]
    if not skipped:
        return decision
    ready = [m for m in candidates if m not in cooling]
    if not ready:
        reason = f"{decision.reason}; every candidate is cooling down: tried anyway"
        return decision.model_copy(update={"reason": reason})
    model = ready[0]
    update: dict[str, Any] = {"model": model, "fallbacks": ready[1:]}
    if model != decision.model:
        spec = policy.catalog[model]
        cost = estimate_cost(spec, decision.estimated_input_tokens, decision.complexity)
        if budget_usd is not None and cost > budget_usd:
            # The next model up is over the budget: keep the pick, cooling or not.
            reason = f"{decision.reason}; {decision.model} is cooling down but no fallback fits"
            return decision.model_copy(update={"reason": reason})
        update["estimated_cost_usd"] = cost
        update["reason"] = (
            f"{decision.reason}; {decision.model} {cooling[decision.model]} (cooldown): "
            f"moved to {model}"
        )
    else:
        dropped = ", ".join(m for m in skipped)
        update["reason"] = f"{decision.reason}; fallback {dropped} skipped (cooldown)"
    return decision.model_copy(update=update)
