"""The scorer: weigh the rubric's dimensions by domain and subtract the penalties.

:class:`ResponseScorer` rates an answer to a query in [0, 1] from surface evidence, in well
under a millisecond and with no model and no network; :func:`score_response` does so with a
shared default scorer. What the score means, and what each dimension and penalty looks for,
is in the package docstring (:mod:`smartroute_graph.quality.scoring`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from smartroute_graph.classifiers.base import Classifier
from smartroute_graph.classifiers.rules import RulesClassifier
from smartroute_graph.core.errors import ConfigError, InputError
from smartroute_graph.core.taxonomy import DOMAINS, Domain
from smartroute_graph.quality.scoring.answer import (
    analyse_answer,
    answer_stems,
    block_problem,
    prose_bracket_problem,
    unfenced_code_lines,
)
from smartroute_graph.quality.scoring.arithmetic import check_arithmetic
from smartroute_graph.quality.scoring.penalties import (
    Penalty,
    answer_penalties,
    query_penalties,
)
from smartroute_graph.quality.scoring.query import analyse_query, expected_length
from smartroute_graph.quality.scoring.rubric import (
    DIMENSIONS,
    DOMAIN_WEIGHTS,
    Unit,
    clip,
    code_quality,
    coherence,
    constraint_met,
    creativity,
    examples,
    factual,
    faithfulness,
    formatting,
    instructions,
    length_fit,
    math_accuracy,
    relevance,
    structure,
    tone,
)
from smartroute_graph.quality.scoring.visual import visual_description
from smartroute_graph.routing.context import DEFAULT_REVIEW_THRESHOLD

__all__ = [
    "GOOD_THRESHOLD",
    "SCORER_VERSION",
    "WEAK_THRESHOLD",
    "ResponseScore",
    "ResponseScorer",
    "WeightOverrides",
    "score_response",
]

SCORER_VERSION: Final = 2
"""Bumped whenever scores change meaning, so traces from different versions are not mixed."""
WEAK_THRESHOLD: Final = DEFAULT_REVIEW_THRESHOLD
"""Below this an answer is weak: worth re-asking a stronger model."""
GOOD_THRESHOLD: Final = 0.70
"""At or above this an answer is good."""


class ResponseScore(BaseModel):
    """The score of one answer; JSON-serialisable (it goes into metadata and traces).

    Attributes:
        score: Overall score: weighted mean of ``dimensions`` minus ``penalties``, in [0, 1].
        weak: ``score < threshold``: worth re-asking a stronger model.
        threshold: The threshold the answer was held to.
        dimensions: The dimensions that applied to this answer, each in [0, 1].
        weights: Each applied dimension's share of the weighted mean (they sum to 1).
        penalties: The problems detected, each with its cost and reason.
        domain: The domain whose weights were used (the most probable one when inferred).
        domain_inferred: No domain was given: the weights were blended from the query's
            domain probabilities.
        stats: What was counted: words, sentences, code blocks, arithmetic claims checked and
            wrong, key terms of the query and how many the answer took up.
        version: :data:`SCORER_VERSION` of the scorer that gave it.
    """

    model_config = ConfigDict(frozen=True)

    score: Unit
    """Overall score: weighted mean of ``dimensions`` minus ``penalties``, in [0, 1]."""
    weak: bool
    """``score < threshold``: worth re-asking a stronger model."""
    threshold: Unit
    dimensions: dict[str, Unit]
    """The dimensions that applied to this answer, each in [0, 1]."""
    weights: dict[str, Unit]
    """Each applied dimension's share of the weighted mean (they sum to 1)."""
    penalties: tuple[Penalty, ...] = ()
    domain: Domain
    """The domain whose weights were used (the most probable one when inferred)."""
    domain_inferred: bool = False
    """True when no domain was given and the weights were blended from the query's domain
    probabilities."""
    stats: dict[str, int] = Field(default_factory=dict)
    """What was counted: words, sentences, code blocks, arithmetic claims checked and wrong,
    key terms of the query and how many the answer took up."""
    version: int = SCORER_VERSION

    @property
    def overall(self) -> float:
        """Alias of :attr:`score`."""
        return self.score

    @property
    def reasons(self) -> list[str]:
        """The penalties' reasons, most costly first."""
        return [p.reason for p in sorted(self.penalties, key=lambda p: -p.amount)]


WeightOverrides = Mapping[str, Mapping[str, float]]
"""Per-domain weight overrides: ``{domain: {dimension: weight}}``."""
# Blended weights (no domain given) below this are skipped: they would move the score by
# less than its rounding and cost time.
_NEGLIGIBLE_WEIGHT = 0.02


class ResponseScorer:
    """Scores answers on the rubric described in :mod:`smartroute_graph.quality.scoring`.

    Args:
        weights: per-domain weight overrides, e.g. ``{"coding": {"code_quality": 0.5}}``;
            dimensions not named keep their defaults (:data:`DOMAIN_WEIGHTS`). Weights are
            relative: they are renormalised over the dimensions that apply to each answer.
        threshold: below it an answer is ``weak`` (default :data:`WEAK_THRESHOLD`).
        classifier: infers the query's domain when ``score`` gets none (default: the rules
            classifier, microseconds per query and cached).

    Raises:
        ConfigError: an unknown domain or dimension in ``weights``, a negative weight, a
            domain whose weights are all zero, or a threshold outside [0, 1].
    """

    def __init__(
        self,
        weights: WeightOverrides | None = None,
        *,
        threshold: float = WEAK_THRESHOLD,
        classifier: Classifier | None = None,
    ) -> None:
        if not (
            isinstance(threshold, int | float)
            and not isinstance(threshold, bool)
            and 0.0 <= threshold <= 1.0
        ):
            raise ConfigError(f"threshold must be a number in [0, 1]; got {threshold!r}")
        self.threshold = float(threshold)
        self.weights: dict[str, dict[str, float]] = _merge_weights(weights or {})
        self._classifier = classifier

    def _domain_weights(self, query: str, domain: str | None) -> tuple[dict[str, float], Domain]:
        if domain is not None:
            if domain not in DOMAINS:
                raise InputError(
                    f"unknown domain {domain!r}; pass one of {', '.join(DOMAINS)} or None to "
                    "infer it from the query"
                )
            chosen: Domain = domain
            return self.weights[chosen], chosen
        if self._classifier is None:
            self._classifier = _default_classifier()
        result = self._classifier.classify([query])[0]
        blended: dict[str, float] = {
            dim: sum(result.domain_probs.get(d, 0.0) * self.weights[d][dim] for d in DOMAINS)
            for dim in DIMENSIONS
        }
        return blended, result.domain

    def score(self, query: str, answer: str, domain: str | None = None) -> ResponseScore:
        """Score ``answer`` as a reply to ``query``.

        Args:
            query: The query the answer replies to.
            answer: The answer's text.
            domain: Picks the weights: one of :data:`~smartroute_graph.core.taxonomy.DOMAINS`,
                or None to blend them by the query's inferred domain probabilities.

        Returns:
            The score, with the dimensions, weights and penalties that made it.

        Raises:
            InputError: ``domain`` is not one of the seven domains, or ``query`` or
                ``answer`` is not a string.
        """
        if not isinstance(query, str) or not isinstance(answer, str):
            raise InputError(
                "score() takes the query and the answer as strings; got "
                f"{type(query).__name__} and {type(answer).__name__} (pass message.text)"
            )
        weights, chosen = self._domain_weights(query, domain)
        inferred = domain is None
        text = answer.strip()
        q = analyse_query(query)
        if not text or not any(c.isalnum() for c in text[:2000]):
            return ResponseScore(
                score=0.0,
                weak=True,
                threshold=self.threshold,
                dimensions={},
                weights={},
                penalties=(Penalty(code="empty", amount=1.0, reason="the answer is empty"),),
                domain=chosen,
                domain_inferred=inferred,
                stats={"words": 0},
            )
        a = analyse_answer(text)

        # Checks that dimensions and penalties share.
        has_digit = any(c.isdigit() for c in a.prose)
        claims = check_arithmetic(a.prose) if has_digit else []
        wrong = [c for c in claims if not c.ok]
        problems = [p for b in a.blocks if (p := block_problem(b))]
        prose_brackets = prose_bracket_problem(a.prose)
        unfenced = unfenced_code_lines(a.prose)
        covered = len(q.key_stems & answer_stems(a)) if q.key_stems else 0
        coverage = covered / len(q.key_stems) if q.key_stems else 1.0
        lo, hi, explicit = expected_length(q, chosen)
        met = {c: constraint_met(c, a) for c in q.constraints}

        dims: dict[str, float] = {}
        for dim, weight in weights.items():
            if weight < (_NEGLIGIBLE_WEIGHT if inferred else 1e-12):
                continue
            value: float | None
            if dim == "structure":
                value = structure(a)
            elif dim == "examples":
                value = examples(a)
            elif dim == "formatting":
                value = formatting(a, prose_brackets, unfenced)
            elif dim == "code_quality":
                value = code_quality(a, problems, unfenced) if q.code_expected or a.blocks else None
            elif dim == "math_accuracy":
                value = math_accuracy(a, claims, q)
            elif dim == "creativity":
                value = creativity(a, q)
            elif dim == "factual":
                value = factual(a)
            elif dim == "relevance":
                value = relevance(q, coverage)
            elif dim == "length_fit":
                value = length_fit(a.length, lo, hi)
            elif dim == "faithfulness":
                value = faithfulness(a, q)
            elif dim == "instructions":
                value = instructions(met)
            elif dim == "tone":
                value = tone(a)
            elif dim == "visual_description":
                value = visual_description(a, q.visual)
            else:
                value = coherence(a)
            if value is not None:
                dims[dim] = round(clip(value), 4)

        penalties = answer_penalties(
            q, a, chosen, claims, wrong, problems, prose_brackets, unfenced
        )
        penalties += query_penalties(q, a, covered, coverage, met, lo, hi, explicit)

        total = sum(weights[d] for d in dims)
        shares = {d: weights[d] / total for d in dims} if total > 0 else {}
        base = sum(shares[d] * dims[d] for d in dims) if shares else 0.5
        overall = clip(base - sum(p.amount for p in penalties))
        return ResponseScore(
            score=round(overall, 4),
            weak=overall < self.threshold,
            threshold=self.threshold,
            dimensions=dims,
            weights={d: round(s, 4) for d, s in shares.items()},
            penalties=tuple(penalties),
            domain=chosen,
            domain_inferred=inferred,
            stats={
                "words": a.length,
                "sentences": len(a.sentences),
                "code_blocks": len(a.blocks),
                "arithmetic_claims": len(claims),
                "arithmetic_wrong": len(wrong),
                "key_terms": len(q.key_stems),
                "key_terms_found": covered,
            },
        )


def _merge_weights(overrides: WeightOverrides) -> dict[str, dict[str, float]]:
    merged: dict[str, dict[str, float]] = {
        d: {dim: w for dim, w in ws.items()} for d, ws in DOMAIN_WEIGHTS.items()
    }
    if not isinstance(overrides, Mapping):
        raise ConfigError(
            "weights must map a domain to {dimension: weight}, e.g. "
            f"{{'coding': {{'code_quality': 0.5}}}}; got {type(overrides).__name__}"
        )
    for domain, values in overrides.items():
        if domain not in DOMAINS:
            raise ConfigError(
                f"weights name unknown domain {domain!r}; use one of {', '.join(DOMAINS)}"
            )
        for dim, weight in values.items():
            if dim not in DIMENSIONS:
                raise ConfigError(
                    f"weights for {domain!r} name unknown dimension {dim!r}; use one of "
                    f"{', '.join(DIMENSIONS)}"
                )
            if not (
                isinstance(weight, int | float)
                and not isinstance(weight, bool)
                and math.isfinite(weight)
                and weight >= 0
            ):
                raise ConfigError(
                    f"weight {domain}.{dim} must be a finite number >= 0; got {weight!r}"
                )
            merged[domain][dim] = float(weight)
        if sum(merged[domain].values()) <= 0:
            raise ConfigError(f"the weights for {domain!r} are all zero; give one a weight > 0")
    return merged


@lru_cache(maxsize=1)
def _default_classifier() -> Classifier:
    return RulesClassifier()


@lru_cache(maxsize=1)
def _default_scorer() -> ResponseScorer:
    return ResponseScorer()


def score_response(query: str, answer: str, domain: str | None = None) -> ResponseScore:
    """Score ``answer`` to ``query`` with the default :class:`ResponseScorer`.

    See :mod:`smartroute_graph.quality.scoring` for what the score means (below 0.45: weak,
    re-ask).

    Args:
        query: The query the answer replies to.
        answer: The answer's text.
        domain: One of the seven taxonomy domains, to pick the weights; None infers it from
            the query.

    Returns:
        The score, with the dimensions, weights and penalties that made it.

    Raises:
        InputError: ``domain`` is not one of the seven domains, or ``query`` or ``answer`` is
            not a string.
    """
    return _default_scorer().score(query, answer, domain)
