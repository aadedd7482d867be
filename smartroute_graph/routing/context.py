"""Per-run settings of the router graph (the knobs LangGraph Studio shows)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULT_REVIEW_THRESHOLD", "RouterContext"]

# On the response scorer's scale an answer below this is weak enough to re-ask a stronger
# model; the scorer's WEAK_THRESHOLD and the review default are this one value.
DEFAULT_REVIEW_THRESHOLD = 0.45


@dataclass(kw_only=True)
class RouterContext:
    """Runtime context of the router graph, passed as ``context=`` or set in Studio.

    Every field has a default, so a run needs none of them.
    """

    preset: str | None = field(
        default=None,
        metadata={
            "description": "Which policy to route with (e.g. 'openai', 'openrouter'); "
            "None uses the router's default."
        },
    )
    classifier: str | None = field(
        default=None,
        metadata={
            "description": "Classifier backend by name: 'encoder', 'encoder:fast', 'rules', "
            "'llm' or 'cascade'; None uses the router's default."
        },
    )
    confidence_threshold: float | None = field(
        default=None,
        metadata={
            "description": "Below this (domain, complexity) confidence the model steps "
            "up one tier; None uses the policy's threshold."
        },
    )
    complexity_cutoffs: tuple[float, float] | None = field(
        default=None,
        metadata={
            "description": "(low, high) cut-offs on complexity_score: below low is "
            "simple, at or above high is complex. None takes the "
            "classifier's most likely level."
        },
    )
    domain: str | None = field(
        default=None,
        metadata={"description": "Force the domain (skips the first level's choice)."},
    )
    model: str | None = field(
        default=None,
        metadata={"description": "Force one catalog model, bypassing the policy table."},
    )
    budget_usd: float | None = field(
        default=None,
        metadata={"description": "Cap on the estimated cost of the answer, in US dollars."},
    )
    max_attempts: int | None = field(
        default=None,
        metadata={"description": "Most model calls per query, fallbacks included."},
    )
    timeout_s: float | None = field(
        default=None,
        metadata={
            "description": "Seconds one model call may take before it counts as "
            "failed and the next model is tried."
        },
    )
    first_token_timeout_s: float | None = field(
        default=None,
        metadata={
            "description": "Seconds a streamed model call may take to send its first "
            "token before it counts as failed and the next model is tried; None uses "
            "timeout_s (which also bounds the gap between later chunks)."
        },
    )
    total_timeout_s: float | None = field(
        default=None,
        metadata={
            "description": "Seconds the whole run may take: classification, every model "
            "call and fallback, the whole stream. A stream cut by it after tokens were "
            "sent ends with StreamInterruptedError. None: no total deadline."
        },
    )
    review: str = field(
        default="off",
        metadata={
            "description": "Review each cheap answer and re-ask a stronger model when "
            "it scores low: 'off', 'scorer', 'logprobs' or 'judge'."
        },
    )
    review_threshold: float = field(
        default=DEFAULT_REVIEW_THRESHOLD,
        metadata={
            "description": "Answers scoring below this (0-1) are re-asked of the next "
            "stronger model."
        },
    )
    judge_model: str | None = field(
        default=None,
        metadata={
            "description": "Catalog model that judges answers when review='judge' "
            "(default: the cheapest model)."
        },
    )
    temperature: float | None = field(
        default=None,
        metadata={
            "description": "Sampling temperature (0-2) for the answering model; reasoning "
            "models take none. None keeps each model's own setting."
        },
    )
    learn: bool | None = field(
        default=None,
        metadata={
            "description": "Learning from outcomes for this run (a router with an outcome "
            "store): False routes by the prior alone and records nothing; None uses the "
            "router's setting."
        },
    )
    quality_tolerance: float | None = field(
        default=None,
        metadata={
            "description": "Learned policy: take the cheapest model predicted within this "
            "much (0-1) of the best; None uses the router's operating point."
        },
    )
    cost_weight: float | None = field(
        default=None,
        metadata={
            "description": "Learned policy: instead maximise predicted quality minus this "
            "weight times the estimated cost in US dollars; None uses the router's."
        },
    )
    dry_run: bool = field(
        default=False,
        metadata={"description": "Decide only: stop after select_model, call no model."},
    )
