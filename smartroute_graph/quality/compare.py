"""Run one query on several catalog models at once and show which one the router would pick.

Each answer is scored, so users can check the router on their own prompts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, ConfigDict

from smartroute_graph.core.catalog import Catalog
from smartroute_graph.core.errors import SmartRouteError, UnknownModelError
from smartroute_graph.core.inputs import RouterInputLike, normalise_input, with_attachments
from smartroute_graph.core.pricing import attempt_cost, call_tokens
from smartroute_graph.core.providers import ModelProvider, error_kind, redact_secrets, secret_values
from smartroute_graph.quality.scoring import score_response
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.policy import RoutingDecision

__all__ = ["ComparedRouter", "ComparisonReport", "ModelResult", "Scorer", "acompare"]

# (query, answer, domain) -> score in [0, 1] (a float, or an object with a `score` field).
Scorer = Callable[[str, str, str], Any]


class ComparedRouter(Protocol):
    """What comparing needs of a router (``SmartRouter`` is one).

    Its catalog, the model factory, its default settings, and its routing decision.
    """

    @property
    def catalog(self) -> Catalog:
        """The models the router routes among."""
        ...

    @property
    def provider(self) -> ModelProvider:
        """The factory of the router's chat models."""
        ...

    @property
    def defaults(self) -> RouterContext:
        """The router's default per-call settings."""
        ...

    async def aroute(self, input: RouterInputLike, **kwargs: Any) -> RoutingDecision:
        """The routing decision for ``input``, calling no model."""
        ...


class ModelResult(BaseModel):
    """One model's answer to the compared query."""

    model_config = ConfigDict(frozen=True)

    model: str
    ok: bool
    content: str = ""
    error: str | None = None
    error_kind: str | None = None
    latency_ms: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    score: float | None = None
    score_details: dict[str, Any] | None = None
    selected: bool = False
    """Whether the router would have sent the query to this model."""


class ComparisonReport(BaseModel):
    """Every model's result, the router's decision, and the best answer by score."""

    model_config = ConfigDict(frozen=True)

    query: str
    decision: RoutingDecision
    results: list[ModelResult]
    best_model: str | None
    """Highest score; ties go to the cheaper answer."""
    cheapest_good_model: str | None = None
    """The cheapest model whose score is within 0.05 of the best."""


async def acompare(
    router: ComparedRouter,
    input: RouterInputLike,
    *,
    models: Sequence[str] | None = None,
    scorer: Scorer | None = None,
    timeout_s: float | None = None,
    api_keys: dict[str, Any] | None = None,
    own_keys_only: bool = False,
) -> ComparisonReport:
    """Ask every model in ``models`` (default: the whole catalog) concurrently.

    A model that fails is reported with its error (secrets redacted); the others still
    answer. Costs come from each answer's usage and the catalog prices.
    """
    names = list(models) if models else list(router.catalog)
    for name in names:
        if name not in router.catalog:
            raise UnknownModelError(
                f"unknown model {name!r}; the catalog has: {', '.join(router.catalog)}"
            )
    # Aliases name their models; a model named twice is asked once.
    names = list(dict.fromkeys(router.catalog.resolve(name) for name in names))
    messages, attachments = normalise_input(input)
    decision = await router.aroute(input, api_keys=api_keys, own_keys_only=own_keys_only)
    query = messages[-1].text
    to_send = with_attachments(list(messages), attachments)
    score = scorer or score_response
    timeout = timeout_s if timeout_s is not None else router.defaults.timeout_s

    async def run(name: str) -> ModelResult:
        spec = router.catalog[name]
        started = time.perf_counter()
        try:
            model = router.provider.get(spec, api_keys, own_keys_only=own_keys_only)
            reply: BaseMessage = await asyncio.wait_for(
                model.ainvoke(to_send, {"run_name": f"compare:{name}"}), timeout
            )
        except SmartRouteError:
            raise
        except Exception as exc:
            kind = "timeout" if isinstance(exc, asyncio.TimeoutError) else error_kind(exc)
            return ModelResult(
                model=name,
                ok=False,
                error_kind=kind,
                error=redact_secrets(f"{type(exc).__name__}: {exc}", secret_values(api_keys))[:500],
                latency_ms=(time.perf_counter() - started) * 1000,
                selected=name == decision.model,
            )
        latency = (time.perf_counter() - started) * 1000
        tokens_in, tokens_out, _ = call_tokens(to_send, reply)
        value: float | None = None
        details: dict[str, Any] | None = None
        if score is not None:
            rating: Any = score(query, reply.text, decision.domain)
            value = float(getattr(rating, "score", rating))
            if hasattr(rating, "model_dump"):
                details = rating.model_dump()
        return ModelResult(
            model=name,
            ok=True,
            content=reply.text,
            latency_ms=latency,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=attempt_cost(spec, tokens_in, tokens_out),
            score=value,
            score_details=details,
            selected=name == decision.model,
        )

    results = list(await asyncio.gather(*(run(n) for n in names)))
    ranked = [r for r in results if r.ok and r.score is not None]
    best = max(ranked, key=lambda r: (r.score or 0.0, -r.cost_usd), default=None)
    good = [
        r
        for r in ranked
        if best is not None and r.score is not None and r.score >= (best.score or 0) - 0.05
    ]
    cheapest_good = min(good, key=lambda r: r.cost_usd, default=None)
    return ComparisonReport(
        query=query,
        decision=decision,
        results=results,
        best_model=best.model if best else None,
        cheapest_good_model=cheapest_good.model if cheapest_good else None,
    )
