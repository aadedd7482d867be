"""A classifier that answers what the test tells it to."""

from __future__ import annotations

from collections.abc import Sequence

from smartroute_graph.classifiers.base import Classification
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS


class StubClassifier:
    """Classifies every text as (domain, complexity) with the given confidences."""

    name = "stub"

    def __init__(
        self, domain: str, complexity: str, domain_p: float = 0.9, complexity_p: float = 0.9
    ) -> None:
        self.domain, self.complexity = domain, complexity
        self.domain_p, self.complexity_p = domain_p, complexity_p
        self.seen: list[str] = []

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        self.seen.extend(texts)
        rest_d = (1 - self.domain_p) / (len(DOMAINS) - 1)
        rest_c = (1 - self.complexity_p) / (len(COMPLEXITIES) - 1)
        dprobs = {d: self.domain_p if d == self.domain else rest_d for d in DOMAINS}
        cprobs = {c: self.complexity_p if c == self.complexity else rest_c for c in COMPLEXITIES}
        by_domain = {d: cprobs for d in DOMAINS}
        return [Classification.from_probs(dprobs, by_domain, backend=self.name) for _ in texts]
