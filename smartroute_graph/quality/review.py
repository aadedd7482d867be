"""Answer review: score a cheap model's answer and decide whether to re-ask a stronger one.

Three methods, chosen per router or per request (``review=`` in the run's context):

- ``"scorer"``: the deterministic response scorer (:mod:`smartroute_graph.quality.scoring`); no
  network, well under a millisecond.
- ``"logprobs"``: the answering model's own confidence, exp(mean token log-probability),
  where the provider returns log-probabilities (OpenAI does when asked; the router asks).
- ``"judge"``: an LLM judge (a catalog model) grades the answer 1–10 against the query.

A score below the threshold sends the query to the next stronger model; the better of the
reviewed answers is kept; attempts stay bounded by ``max_attempts``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.routing.context import DEFAULT_REVIEW_THRESHOLD

__all__ = [
    "DEFAULT_REVIEW_THRESHOLD",
    "REVIEW_METHODS",
    "JudgeVerdict",
    "Review",
    "ReviewMethod",
    "judge_messages",
    "logprob_confidence",
    "scorer_review",
    "validate_review_method",
]

ReviewMethod = Literal["off", "scorer", "logprobs", "judge"]
REVIEW_METHODS: tuple[str, ...] = get_args(ReviewMethod)
# Judge calls stay out of the router's token stream and are named in traces.
JUDGE_CONFIG: RunnableConfig = {"tags": ["nostream"], "run_name": "smartroute_judge"}


class Review(BaseModel):
    """The review of one answer."""

    model_config = ConfigDict(frozen=True)

    model: str
    method: str
    score: float | None = Field(default=None, description="in [0, 1]; None: could not score")
    threshold: float
    passed: bool
    note: str | None = None
    details: dict[str, Any] | None = None
    cost_usd: float = 0.0
    """What reviewing cost (the LLM judge's call; 0 for the scorer and logprobs)."""


class JudgeVerdict(BaseModel):
    """What the LLM judge returns."""

    score: int = Field(ge=1, le=10, description="1 = useless or wrong, 10 = excellent")
    reason: str = Field(description="one sentence")


def validate_review_method(method: str) -> str:
    """``method`` if it is a review method, else a :class:`ConfigError` naming the choices."""
    if method not in REVIEW_METHODS:
        raise ConfigError(f"unknown review method {method!r}; choose one of {REVIEW_METHODS}")
    return method


def logprob_confidence(message: AIMessage) -> float | None:
    """exp(mean log-probability) of the answer's tokens, or None when the provider sent none.

    Reads OpenAI's shape, ``response_metadata["logprobs"]["content"][i]["logprob"]``.
    """
    logprobs = message.response_metadata.get("logprobs")
    content: Sequence[Mapping[str, Any]] | None = None
    if isinstance(logprobs, Mapping):
        content = logprobs.get("content")
    elif isinstance(logprobs, Sequence):
        content = logprobs
    values = [
        float(t["logprob"]) for t in content or () if isinstance(t, Mapping) and "logprob" in t
    ]
    if not values:
        return None
    return math.exp(sum(values) / len(values))


def scorer_review(query: str, answer: str, domain: str) -> tuple[float, dict[str, Any]]:
    """Score with the deterministic response scorer; returns (score, details)."""
    from smartroute_graph.quality.scoring import score_response

    result = score_response(query, answer, domain)
    return float(result.score), result.model_dump()


def judge_messages(query: str, answer: str) -> list[SystemMessage | HumanMessage]:
    """The prompt the LLM judge reads."""
    from smartroute_graph.core.prompts import JUDGE_SYSTEM_PROMPT, JUDGE_USER_TEMPLATE

    return [
        SystemMessage(JUDGE_SYSTEM_PROMPT),
        HumanMessage(JUDGE_USER_TEMPLATE.format(query=query, answer=answer)),
    ]


def structured_judge(model: BaseChatModel) -> Any:
    """The judge model bound to return ``{"raw", "parsed", "parsing_error"}``.

    That is the parsed :class:`JudgeVerdict` and the raw message, whose token usage the judge's cost
    comes from.
    """
    try:
        return model.with_structured_output(JudgeVerdict, include_raw=True)
    except TypeError:  # a custom model without include_raw: the verdict, its cost estimated
        return model.with_structured_output(JudgeVerdict)
