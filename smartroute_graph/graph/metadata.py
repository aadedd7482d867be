"""What an answer says about how it was routed: ``response_metadata["smartroute"]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata, add_usage

# LangGraph's own node wrapper, as its prebuilt ToolNode uses it: a sync and an async body,
# and no second traced run per node (RunnableLambda adds one, ~0.2 ms a call).
from smartroute_graph.core.providers import (
    is_retryable,
)
from smartroute_graph.core.taxonomy import COMPLEXITIES
from smartroute_graph.graph.state import Attempt, RouterState
from smartroute_graph.graph.tracing import annotate_router_run
from smartroute_graph.quality.review import (
    Review,
)
from smartroute_graph.routing.policy import RoutingDecision

__all__ = ["failure_message", "finalise", "last_user_text", "routing_metadata"]


def last_user_text(state: RouterState) -> str:
    """The text of the conversation's last user message."""
    return next((m.text for m in reversed(state["messages"]) if m.type == "human"), state["text"])


def routing_metadata(
    decision: RoutingDecision,
    attempts: Sequence[Attempt],
    reviews: Sequence[Review] = (),
    answered: str | None = None,
) -> dict[str, Any]:
    """The ``response_metadata["smartroute"]`` dict: the decision, every attempt and review."""
    answered = answered or next((a.model for a in reversed(attempts) if a.ok), None)
    review_cost = sum(r.cost_usd for r in reviews)
    return {
        "domain": decision.domain,
        "complexity": decision.complexity,
        "complexity_score": round(decision.complexity_score, 4),
        "confidence": round(decision.confidence, 4),
        "domain_probs": {k: round(v, 4) for k, v in decision.domain_probs.items()},
        "complexity_probs": {k: round(decision.complexity_probs[k], 4) for k in COMPLEXITIES},
        "model": answered or decision.model,
        "selected_model": decision.model,
        "reason": decision.reason,
        "preset": decision.preset,
        "classifier": decision.classifier,
        "escalated": answered is not None and answered != decision.model,
        # The answer came from the response cache (no provider call; see core.response_cache).
        "cache_hit": any(a.ok and a.cache_hit for a in attempts if a.model == answered),
        "attempts": [a.model_dump() for a in attempts],
        "reviews": [r.model_dump() for r in reviews],
        "cost_usd": round(
            decision.classifier_cost_usd + sum(a.cost_usd for a in attempts) + review_cost, 8
        ),
        "classifier_cost_usd": round(decision.classifier_cost_usd, 8),
        "review_cost_usd": round(review_cost, 8),
        "estimated_cost_usd": round(decision.estimated_cost_usd, 8),
    }


def finalise(
    response: AIMessage,
    decision: RoutingDecision,
    attempts: Sequence[Attempt],
    reviews: Sequence[Review] = (),
) -> AIMessage:
    """The answer to return, with the routing metadata, usage and cost on it."""
    usage: UsageMetadata | None = None
    for attempt in attempts:
        if attempt.ok:
            part = UsageMetadata(
                input_tokens=attempt.input_tokens,
                output_tokens=attempt.output_tokens,
                total_tokens=attempt.input_tokens + attempt.output_tokens,
            )
            usage = part if usage is None else add_usage(usage, part)
    if response.usage_metadata and len([a for a in attempts if a.ok]) == 1:
        usage = response.usage_metadata  # keep the provider's token details
    answered = response.response_metadata.get("smartroute", {}).get("answered_by")
    answered = answered or next((a.model for a in reversed(attempts) if a.ok), None)
    meta = routing_metadata(decision, attempts, reviews, answered)
    meta["answered_by"] = answered
    annotate_router_run(meta)
    metadata = {**response.response_metadata, "smartroute": meta}
    return response.model_copy(update={"response_metadata": metadata, "usage_metadata": usage})


def failure_message(
    attempts: Sequence[Attempt], limit: int, total_timeout_s: float | None = None
) -> str:
    """What to tell the caller when every attempt failed, attempt by attempt."""
    lines = [f"  {i}. {a.model}: {a.error_kind} — {a.error}" for i, a in enumerate(attempts, 1)]
    last = attempts[-1]
    why = (
        f"{last.error_kind} errors are not retried (the request itself was refused)"
        if not is_retryable(last.error_kind or "other")
        else f"the total deadline of {total_timeout_s:g} s passed (total_timeout_s)"
        if total_timeout_s is not None
        else f"the attempt limit is {limit}"
        if len(attempts) >= limit
        else "no fallback model was left"
    )
    return f"every model failed ({why}):\n" + "\n".join(lines)
