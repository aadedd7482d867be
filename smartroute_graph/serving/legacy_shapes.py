"""The response bodies of the older systems' endpoints, with every field their clients read.

The first router answered ``/route`` and ``/route/with-file`` with ``response``,
``selected_model``, ``file_processed`` and ``file_processing_error``; the second answered
``/query``, ``/query-specific``, ``/batch-query``, ``/query-compare`` and ``/test-selection``
with the ``prompt`` it was sent, the ``selected_model`` and its ``selection_confidence``.
Those fields are here beside this project's own (``model``, ``confidence``, ``reason``, ...):
extra fields are fine for both systems' clients, missing ones are not.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage

from smartroute_graph.quality.compare import ComparisonReport
from smartroute_graph.routing.policy import RoutingDecision
from smartroute_graph.serving.schemas import answer_meta, answer_usage

__all__ = ["SAMPLE_PROMPTS", "compare_body", "query_body", "route_body", "selection_body"]

# What ``POST /test-selection`` with no body decides for, as the second router's did: one
# prompt per domain, from the simple to the complex.
SAMPLE_PROMPTS: tuple[str, ...] = (
    "Hi! How are you today?",
    "What is the capital of Australia?",
    "Summarise in one sentence: The meeting moved to Thursday because the room was booked.",
    "Write a haiku about autumn rain.",
    "What is 15% of 240?",
    "Write a Python function that checks whether a string is a palindrome.",
    "If all bloops are razzies and all razzies are lazzies, are all bloops lazzies? Explain.",
    "Explain how public-key cryptography lets two strangers agree on a secret over an open "
    "channel, with the maths behind Diffie-Hellman.",
    "Prove that there are infinitely many primes, then show how the proof changes for primes "
    "of the form 4k + 3.",
    "Design a rate limiter for a distributed API gateway handling 1M requests per second: "
    "data structures, consistency trade-offs and failure modes.",
)


def route_body(message: AIMessage, prompt: str) -> dict[str, Any]:
    """``/route``'s answer: this project's fields and the first router's.

    ``file_processed`` and ``file_processing_error`` say no file came with it; the
    ``/route/with-file`` handler sets them for its file.
    """
    meta = answer_meta(message)
    return {
        "prompt": prompt,
        "response": message.text,
        "model": meta.get("model"),
        "selected_model": meta.get("model"),
        "domain": meta.get("domain"),
        "complexity": meta.get("complexity"),
        "confidence": meta.get("confidence"),
        "selection_confidence": meta.get("confidence"),
        "reason": meta.get("reason"),
        "cost_usd": meta.get("cost_usd", 0.0),
        "estimated_cost_usd": meta.get("estimated_cost_usd"),
        "escalated": meta.get("escalated", False),
        "dry_run": bool(meta.get("dry_run", False)),
        "attempts": meta.get("attempts", []),
        "usage": answer_usage(message),
        "file_processed": False,
        "file_processing_error": None,
    }


def query_body(message: AIMessage, prompt: str) -> dict[str, Any]:
    """The second router's answer shape (``/query``, ``/query-specific``, a batch item)."""
    meta = answer_meta(message)
    return {
        "prompt": prompt,
        "query": prompt,
        "selected_model": meta.get("model"),
        "response": message.text,
        "selection_confidence": meta.get("confidence"),
        "confidence": meta.get("confidence"),
        "reasoning": meta.get("reason"),
        "domain": meta.get("domain"),
        "complexity": meta.get("complexity"),
        "cost_usd": meta.get("cost_usd", 0.0),
        "escalated": meta.get("escalated", False),
        "usage": answer_usage(message),
    }


def selection_body(prompt: str, decision: RoutingDecision) -> dict[str, Any]:
    """One routing decision of ``/test-selection``."""
    return {
        "prompt": prompt,
        "query": prompt,
        "selected_model": decision.model,
        "selection_confidence": decision.confidence,
        "confidence": decision.confidence,
        "reasoning": decision.reason,
        "domain": decision.domain,
        "complexity": decision.complexity,
        "decision": decision.model_dump(mode="json"),
    }


def compare_body(report: ComparisonReport) -> dict[str, Any]:
    """``/query-compare``'s answer, in both systems' names.

    ``/query-compare``'s answer: the comparison report, with the second router's names for the
    prompt and the router's pick.
    """
    return {
        **report.model_dump(mode="json"),
        "prompt": report.query,
        "selected_model": report.decision.model,
        "selection_confidence": report.decision.confidence,
    }
