"""The classifier protocol shared by every backend (rules, encoder, LLM)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from smartroute_graph.core.taxonomy import (
    COMPLEXITIES,
    DOMAINS,
    Complexity,
    Domain,
    complexity_score,
)

__all__ = ["Classification", "Classifier", "ClassifierUsage", "normalise_probs"]


def normalise_probs(scores: Mapping[str, float], labels: Sequence[str]) -> dict[str, float]:
    """Return a distribution over ``labels`` (missing labels get 0), summing to 1."""
    values = {label: max(0.0, float(scores.get(label, 0.0))) for label in labels}
    total = sum(values.values())
    if total <= 0.0:
        return {label: 1.0 / len(labels) for label in labels}
    return {label: v / total for label, v in values.items()}


class ClassifierUsage(BaseModel):
    """Tokens a classifier's own chat model spent on one decision (the LLM backend)."""

    model_config = ConfigDict(frozen=True)

    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    """Priced by the router from its catalog (else the ``openai`` preset); None: unknown."""


class Classification(BaseModel):
    """A hierarchical classification of one query.

    ``domain_probs`` is the first level. ``complexity_by_domain`` holds the complexity
    distribution *conditioned on each domain* (the second level), so the graph can
    re-condition when the domain is overridden; ``complexity_probs`` is the one for
    ``domain``. ``confidence`` is the probability of the (domain, complexity) pair.
    """

    model_config = ConfigDict(frozen=True)

    domain: Domain
    domain_probs: dict[str, float]
    complexity: Complexity
    complexity_probs: dict[str, float]
    complexity_score: float = Field(ge=0.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)
    complexity_by_domain: dict[str, dict[str, float]] = Field(default_factory=dict)
    backend: str = "unknown"
    note: str | None = None
    """Why the backend answered as it did when it is not the obvious path (e.g. a fallback)."""
    usage: tuple[ClassifierUsage, ...] = ()
    """What asking chat models for this decision spent, one record per call (empty: a local
    backend, or a cache hit, which spends nothing)."""

    @classmethod
    def from_probs(
        cls,
        domain_probs: Mapping[str, float],
        complexity_by_domain: Mapping[str, Mapping[str, float]],
        *,
        backend: str,
        note: str | None = None,
        domain: Domain | None = None,
    ) -> Classification:
        """Build a classification from raw per-level scores (normalised here).

        The domain is the most likely one unless ``domain`` is given; complexity is read
        from that domain's head.
        """
        dprobs = normalise_probs(domain_probs, DOMAINS)
        by_domain: dict[str, dict[str, float]] = {
            d: normalise_probs(complexity_by_domain.get(d, {}), COMPLEXITIES) for d in DOMAINS
        }
        chosen: Domain = max(DOMAINS, key=lambda d: dprobs[d]) if domain is None else domain
        cprobs = by_domain[chosen]
        complexity: Complexity = max(COMPLEXITIES, key=lambda c: cprobs[c])
        return cls(
            domain=chosen,
            domain_probs=dprobs,
            complexity=complexity,
            complexity_probs=cprobs,
            complexity_score=complexity_score(cprobs),
            confidence=dprobs[chosen] * cprobs[complexity],
            complexity_by_domain=by_domain,
            backend=backend,
            note=note,
        )

    def to_json_dict(self) -> dict[str, Any]:
        """The stable ``smartroute classify`` output shape (scripts read it: keep it stable)."""
        return {
            "domain": self.domain,
            "domain_probs": {d: round(self.domain_probs[d], 4) for d in DOMAINS},
            "complexity": self.complexity,
            "complexity_probs": {c: round(self.complexity_probs[c], 4) for c in COMPLEXITIES},
            "complexity_score": round(self.complexity_score, 4),
            "confidence": round(self.confidence, 4),
        }


@runtime_checkable
class Classifier(Protocol):
    """Anything that classifies a batch of query texts, in order."""

    name: str

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """Classify each text; the result has one entry per input, in order."""
        ...
