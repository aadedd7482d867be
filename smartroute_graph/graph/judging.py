"""The LLM judge's side of answer review: its verdict read into a score, its cost, its failure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

from smartroute_graph.core.catalog import ModelSpec
from smartroute_graph.core.pricing import attempt_cost, call_tokens, cost_event
from smartroute_graph.core.providers import redact_secrets, request_keys, secret_values
from smartroute_graph.quality.review import JudgeVerdict

__all__ = ["judge_event", "judge_failed", "judged"]


def judged(
    spec: ModelSpec, messages: Sequence[BaseMessage], output: Any
) -> tuple[float | None, dict[str, Any], float]:
    """Score, details and cost of the judge's answer (``{"raw", "parsed", ...}``).

    A reply that does not parse still cost its tokens.
    """
    raw = output.get("raw") if isinstance(output, Mapping) else None
    verdict = output.get("parsed") if isinstance(output, Mapping) else output
    tokens_in, tokens_out, _ = call_tokens(messages, raw)
    cost = attempt_cost(spec, tokens_in, tokens_out)
    details: dict[str, Any] = {
        "judge": spec.name,
        "judge_input_tokens": tokens_in,
        "judge_output_tokens": tokens_out,
    }
    if not isinstance(verdict, JudgeVerdict):
        details["note"] = f"the judge {spec.name} gave no usable verdict: answer kept"
        return None, details, cost
    details |= {"judge_score": verdict.score, "reason": verdict.reason}
    return (verdict.score - 1) / 9, details, cost


def judge_event(
    spec: ModelSpec, judged: tuple[float | None, dict[str, Any], float]
) -> dict[str, Any]:
    """The cost event of one judge call (from :func:`judged`'s result)."""
    _, details, cost = judged
    tokens = details["judge_input_tokens"], details["judge_output_tokens"]
    return cost_event(spec.name, cost, *tokens, purpose="judge")


def judge_failed(
    judge: str, exc: Exception, config: RunnableConfig
) -> tuple[float | None, dict[str, Any], float]:
    """The review result of a judge call that failed.

    No score, the answer kept, and the error (secrets redacted) in the note.
    """
    own = secret_values(request_keys(config)[0])
    message = redact_secrets(f"{type(exc).__name__}: {exc}", own)[:300]
    note = f"the judge {judge} failed ({message}): answer kept"
    return None, {"judge": judge, "note": note}, 0.0
