"""Per-run settings of the router graph: the one declaration of every routing setting.

:class:`RouterContext` is the graph's ``context_schema`` (the knobs LangGraph Studio shows).
Everything else that names a setting is derived from it (:mod:`smartroute_graph.routing.settings`):
``SmartRouter``'s keyword arguments and per-call settings, the config file's keys, the
command line's flags and the HTTP API's fields, with the descriptions and bounds given here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["DEFAULT_REVIEW_THRESHOLD", "ReviewMethod", "RouterContext", "setting"]

# On the response scorer's scale an answer below this is weak enough to re-ask a stronger
# model; the scorer's WEAK_THRESHOLD and the review default are this one value.
DEFAULT_REVIEW_THRESHOLD = 0.45

ReviewMethod = Literal["off", "scorer", "logprobs", "judge"]
"""How an answer is reviewed (see :mod:`smartroute_graph.quality.review`)."""


def setting(default: Any, description: str, **bounds: float) -> Any:
    """A settings field: its default, its description, and pydantic-style ``bounds``.

    ``bounds`` take pydantic's names (``gt``, ``ge``, ``lt``, ``le``) and hold for every
    derived view (config file, HTTP field, per-call setting).
    """
    return field(default=default, metadata={"description": description, "bounds": bounds})


@dataclass(kw_only=True)
class RouterContext:
    """Runtime context of the router graph, passed as ``context=`` or set in Studio.

    Every field has a default, so a run needs none of them.
    """

    preset: str | None = setting(
        None,
        "Which policy to route with (e.g. 'openai', 'openrouter'); None uses the router's default.",
    )
    classifier: str | None = setting(
        None,
        "Classifier backend by name: 'encoder', 'encoder:fast', 'rules', 'llm' or 'cascade'; "
        "None uses the router's default.",
    )
    confidence_threshold: float | None = setting(
        None,
        "Below this (domain, complexity) confidence the model steps up one tier; None uses "
        "the policy's threshold.",
        ge=0.0,
        le=1.0,
    )
    complexity_cutoffs: tuple[float, float] | None = setting(
        None,
        "(low, high) cut-offs on complexity_score: below low is simple, at or above high is "
        "complex. None takes the classifier's most likely level.",
    )
    domain: str | None = setting(None, "Force the domain (skips the first level's choice).")
    model: str | None = setting(None, "Force one catalog model, bypassing the policy table.")
    budget_usd: float | None = setting(
        None, "Cap on the estimated cost of the answer, in US dollars.", gt=0.0
    )
    max_attempts: int | None = setting(
        None, "Most model calls per query, fallbacks included.", ge=1, le=10
    )
    timeout_s: float | None = setting(
        60.0,
        "Seconds one model call may take before it counts as failed and the next model is "
        "tried; None: no limit.",
        gt=0.0,
    )
    first_token_timeout_s: float | None = setting(
        None,
        "Seconds a streamed model call may take to send its first token before it counts as "
        "failed and the next model is tried; None uses timeout_s (which also bounds the gap "
        "between later chunks).",
        gt=0.0,
    )
    total_timeout_s: float | None = setting(
        None,
        "Seconds the whole run may take: classification, every model call and fallback, the "
        "whole stream. A stream cut by it after tokens were sent ends with "
        "StreamInterruptedError. None: no total deadline.",
        gt=0.0,
    )
    review: ReviewMethod = setting(
        "off",
        "Review each cheap answer and re-ask a stronger model when it scores low: 'off', "
        "'scorer', 'logprobs' or 'judge'.",
    )
    review_threshold: float = setting(
        DEFAULT_REVIEW_THRESHOLD,
        "Answers scoring below this (0-1) are re-asked of the next stronger model.",
        ge=0.0,
        le=1.0,
    )
    judge_model: str | None = setting(
        None,
        "Catalog model that judges answers when review='judge' (default: the cheapest model).",
    )
    temperature: float | None = setting(
        None,
        "Sampling temperature (0-2) for the answering model; reasoning models take none. None "
        "keeps each model's own setting.",
        ge=0.0,
        le=2.0,
    )
    learn: bool | None = setting(
        None,
        "Learning from outcomes for this run (a router with an outcome store): False routes "
        "by the prior alone and records nothing; None uses the router's setting.",
    )
    quality_tolerance: float | None = setting(
        None,
        "Learned policy: take the cheapest model predicted within this much (0-1) of the "
        "best; None uses the router's operating point.",
        ge=0.0,
        le=1.0,
    )
    cost_weight: float | None = setting(
        None,
        "Learned policy: instead maximise predicted quality minus this weight times the "
        "estimated cost in US dollars; None uses the router's.",
        ge=0.0,
    )
    dry_run: bool = setting(False, "Decide only: stop after select_model, call no model.")
