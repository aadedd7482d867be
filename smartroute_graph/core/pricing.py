"""Token estimates before a call and dollar cost after it.

Estimates avoid tiktoken, which downloads its BPE files on first use and so fails offline.
The estimator counts word, number and punctuation pieces the way byte-pair encoders split
them; on English prose it lands within about 15 % of the OpenAI tokenizers, which is what a
budget or context-window check needs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage

from smartroute_graph.core.catalog import ModelSpec
from smartroute_graph.core.taxonomy import Complexity

__all__ = [
    "COST_EVENT",
    "EXPECTED_OUTPUT_TOKENS",
    "CostTracker",
    "attempt_cost",
    "cached_tokens",
    "call_tokens",
    "cost_event",
    "estimate_cost",
    "estimate_message_tokens",
    "estimate_output_tokens",
    "estimate_tokens",
    "is_cache_hit",
]

# Name of the custom callback event the router dispatches once per model attempt.
COST_EVENT = "smartroute_cost"

# Typical answer length by complexity; reasoning models also bill hidden reasoning tokens.
EXPECTED_OUTPUT_TOKENS: Mapping[Complexity, int] = {
    "simple": 250,
    "moderate": 700,
    "complex": 1_800,
}
REASONING_OUTPUT_FACTOR = 3

_PIECES = re.compile(r"[^\W\d_]+|\d{1,3}|[^\w\s]+|\n+|\s{2,}", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_PER_MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """Estimate how many tokens ``text`` takes in a modern BPE vocabulary."""
    tokens = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        if piece[0].isalpha():
            if piece.isascii():
                # Common words are one token; long ones split about every 7 characters.
                tokens += 1 + (len(piece) - 1) // 7
            else:
                cjk = len(_CJK.findall(piece))
                tokens += cjk + (len(piece) - cjk + 2) // 3
        elif piece[0].isdigit():
            tokens += 1
        else:
            # Punctuation runs and whitespace runs: roughly one token per 2-4 characters.
            tokens += 1 + (len(piece) - 1) // 4
    return tokens


def estimate_message_tokens(messages: list[BaseMessage]) -> int:
    """Estimate the prompt tokens of a chat request (text parts plus per-message framing)."""
    total = 0
    for message in messages:
        total += _PER_MESSAGE_OVERHEAD + estimate_tokens(message.text)
    return total + 3


def call_tokens(prompt: Sequence[BaseMessage], reply: BaseMessage | None) -> tuple[int, int, bool]:
    """(input tokens, output tokens, estimated) of one call.

    From the provider's ``usage_metadata`` on ``reply``, else estimates from the prompt and the
    reply's text.
    """
    usage = getattr(reply, "usage_metadata", None)
    if usage:
        return usage["input_tokens"], usage["output_tokens"], False
    text = reply.text if reply is not None else ""
    return estimate_message_tokens(list(prompt)), estimate_tokens(text), True


def cost_event(
    model: str, cost_usd: float, input_tokens: int, output_tokens: int, **extra: Any
) -> dict[str, Any]:
    """The payload of one :data:`COST_EVENT` (what :class:`CostTracker` totals).

    ``extra`` adds e.g. ``purpose`` ("classifier", "judge") for calls that are not an answer.
    """
    return {
        "model": model,
        "cost_usd": cost_usd,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        **extra,
    }


def estimate_output_tokens(spec: ModelSpec, complexity: Complexity) -> int:
    """Expected billed output tokens for an answer of this complexity from ``spec``."""
    expected = EXPECTED_OUTPUT_TOKENS[complexity]
    if spec.reasoning:
        expected *= REASONING_OUTPUT_FACTOR
    return min(expected, spec.max_output_tokens)


def attempt_cost(
    spec: ModelSpec, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0
) -> float:
    """Dollar cost of one call that used these tokens.

    ``cached_input_tokens`` of the input (the provider's prompt cache:
    ``input_token_details["cache_read"]``) are priced at the model's ``cached_input_price_per_m``
    (its input price when the catalog has none).
    """
    cached = max(0, min(cached_input_tokens, input_tokens))
    cached_price = spec.cached_input_price_per_m
    if cached_price is None:
        cached_price = spec.input_price_per_m
    return (
        (input_tokens - cached) * spec.input_price_per_m
        + cached * cached_price
        + output_tokens * spec.output_price_per_m
    ) / 1_000_000


def is_cache_hit(reply: BaseMessage | None) -> bool:
    """Whether ``reply`` came from a cache (LangChain's ``set_llm_cache``), not a call.

    langchain-core marks a hit's ``usage_metadata`` with ``total_cost: 0``; the server's
    response cache (:mod:`~smartroute_graph.core.response_cache`) also sets
    ``response_metadata["cache_hit"]``, which holds for a model that reports no usage.
    """
    if reply is None:
        return False
    usage = getattr(reply, "usage_metadata", None) or {}
    return bool(reply.response_metadata.get("cache_hit")) or (
        "total_cost" in usage and not usage["total_cost"]
    )


def cached_tokens(reply: BaseMessage | None) -> int:
    """Input tokens the provider read from its prompt cache for ``reply``."""
    usage = getattr(reply, "usage_metadata", None) or {}
    details = usage.get("input_token_details") or {}
    return int(details.get("cache_read") or 0)


def estimate_cost(spec: ModelSpec, input_tokens: int, complexity: Complexity) -> float:
    """Estimated dollar cost of answering a prompt of ``input_tokens`` with ``spec``."""
    return attempt_cost(spec, input_tokens, estimate_output_tokens(spec, complexity))


class CostTracker(BaseCallbackHandler):
    """Callback handler that totals the router's cost events: one per model call.

    A model call is an answering attempt, the LLM classifier's call, or a review judge's call.

    Pass it in ``config={"callbacks": [tracker]}``; it works through chains, batches and
    streams, and is thread-safe::

        tracker = CostTracker()
        chain.invoke({"q": "..."}, config={"callbacks": [tracker]})
        tracker.total_cost_usd, tracker.by_model
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.total_cost_usd = 0.0
        self.input_tokens = 0
        self.output_tokens = 0
        self.calls = 0
        self.cache_hits = 0
        """Answers served from LangChain's cache: counted here, not as calls or cost."""
        self.by_model: dict[str, float] = {}

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Add one call's cost (events other than :data:`COST_EVENT` are ignored)."""
        if name != COST_EVENT or not isinstance(data, Mapping):
            return
        if data.get("cache_hit"):
            # Answered from LangChain's cache: no call was made and nothing was spent.
            with self._lock:
                self.cache_hits += 1
            return
        cost = float(data.get("cost_usd", 0.0))
        model = str(data.get("model", "unknown"))
        with self._lock:
            self.calls += 1
            self.total_cost_usd += cost
            self.input_tokens += int(data.get("input_tokens", 0))
            self.output_tokens += int(data.get("output_tokens", 0))
            self.by_model[model] = self.by_model.get(model, 0.0) + cost

    def __repr__(self) -> str:
        return (
            f"CostTracker(calls={self.calls}, total_cost_usd={self.total_cost_usd:.6f}, "
            f"input_tokens={self.input_tokens}, output_tokens={self.output_tokens}, "
            f"cache_hits={self.cache_hits})"
        )
