"""The one routing decision: a classification and the run's settings in, a model out.

The graph's ``assess_complexity`` and ``select_model`` nodes, the evaluation harness and
``compare`` all decide through these two functions, so a decision measured offline is the
decision the graph makes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from smartroute_graph.classifiers.base import Classification
from smartroute_graph.core.attachments import Attachment
from smartroute_graph.core.errors import BudgetError, UnknownModelError
from smartroute_graph.core.pricing import estimate_cost
from smartroute_graph.core.taxonomy import Complexity, validate_domain
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.cooldown import skip_cooling
from smartroute_graph.routing.policy import Policy, RoutingDecision

if TYPE_CHECKING:
    from smartroute_graph.routing.learned import LearnedDecision

__all__ = ["condition", "decide"]


def condition(classification: Classification, context: RouterContext) -> Classification:
    """Second level: the complexity of the chosen (or forced) domain, cut at the run's cutoffs.

    Args:
        classification: the classifier's reading, with ``complexity_by_domain`` when the
            backend gives a complexity distribution per domain.
        context: the run's settings; ``domain`` forces the first level and
            ``complexity_cutoffs`` re-cuts ``complexity_score`` into levels.

    Returns:
        The classification the policy reads (the same object when nothing applies).
    """
    c = classification
    if context.domain is None and context.complexity_cutoffs is None:
        # The classifier already conditioned complexity on its own domain choice.
        return c
    domain = validate_domain(context.domain) if context.domain else c.domain
    if c.complexity_by_domain and domain in c.complexity_by_domain:
        c = Classification.from_probs(
            c.domain_probs, c.complexity_by_domain, domain=domain, backend=c.backend, note=c.note
        ).model_copy(update={"usage": c.usage})
    elif domain != c.domain:
        c = c.model_copy(update={"domain": domain})
    if context.complexity_cutoffs is not None:
        low, high = context.complexity_cutoffs
        level: Complexity = (
            "simple"
            if c.complexity_score < low
            else "complex"
            if c.complexity_score >= high
            else "moderate"
        )
        c = c.model_copy(
            update={
                "complexity": level,
                "confidence": c.domain_probs[c.domain] * c.complexity_probs[level],
            }
        )
    return c


def decide(
    policy: Policy,
    classification: Classification,
    context: RouterContext,
    *,
    input_tokens: int,
    attachments: Sequence[Attachment] = (),
    learned: LearnedDecision | None = None,
    cooling: Mapping[str, str] | None = None,
) -> RoutingDecision:
    """The model for one conditioned classification under the run's settings.

    A model named in ``context.model`` is taken as asked (within the budget); otherwise the
    learned policy's choice (``learned.model``, when it made one of this catalog's models)
    or the policy table, then the rules (attachments, context window, budget, fallbacks).
    The reason starts with ``learned.reason`` whenever a learned decision was made, so it
    says what decided. Last, models in ``cooling`` (``{model: why}``: failing lately, see
    :mod:`~smartroute_graph.routing.cooldown`) are skipped unless asked for by name. What the
    classifier's own calls cost is recorded.

    Raises:
        UnknownModelError: ``context.model`` is not in the policy's catalog.
        BudgetError: no model (or not the requested one) fits ``context.budget_usd``.
    """
    c = classification
    if context.model:
        decision = _requested(policy, c, context.model, input_tokens, context.budget_usd)
    else:
        model = learned.model if learned is not None else None
        decision = policy.decide(
            c,
            input_tokens=input_tokens,
            attachments=attachments,
            budget_usd=context.budget_usd,
            confidence_threshold=context.confidence_threshold,
            max_attempts=context.max_attempts,
            learned_model=model if model in policy.catalog else None,
            learned_reason=_learned_reason(learned, policy),
        )
        if cooling:
            decision = skip_cooling(policy, decision, cooling, budget_usd=context.budget_usd)
    classifier_cost = sum(u.cost_usd or 0.0 for u in c.usage)
    if classifier_cost:
        decision = decision.model_copy(update={"classifier_cost_usd": classifier_cost})
    return decision


def _learned_reason(learned: LearnedDecision | None, policy: Policy) -> str | None:
    if learned is None:
        return None
    if learned.model is not None and learned.model not in policy.catalog:
        return f"learned: {learned.model} is not in this catalog; the prior decides"
    return learned.reason


def _requested(
    policy: Policy, c: Classification, model: str, tokens: int, budget_usd: float | None
) -> RoutingDecision:
    if model not in policy.catalog:
        raise UnknownModelError(
            f"unknown model {model!r}; preset {policy.name!r} has: {policy.catalog.known_names}"
        )
    model = policy.catalog.resolve(model)  # an alias names its model
    spec = policy.catalog[model]
    cost = estimate_cost(spec, tokens, c.complexity)
    if budget_usd is not None and cost > budget_usd:
        raise BudgetError(
            f"the requested model {model} is estimated at ${cost:.6f}, over the budget of "
            f"${budget_usd:.6f}: raise the budget or let the router choose"
        )
    return RoutingDecision.for_classification(
        c,
        model=model,
        reason=f"{model} requested explicitly",
        table_model=policy.table[c.domain][c.complexity],
        fallbacks=[],
        input_tokens=tokens,
        cost_usd=cost,
        preset=policy.name,
    )
