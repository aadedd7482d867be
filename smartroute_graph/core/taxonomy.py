"""The routing taxonomy: seven domains, three complexity levels.

The label sets are fixed: classifiers, the policy table, the training corpus and the
evaluation harness all key on these strings, and scripts read them from
``smartroute classify`` output. Add a domain only with a new model version.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "COMPLEXITIES",
    "COMPLEXITY_DESCRIPTIONS",
    "COMPLEXITY_WEIGHTS",
    "DOMAINS",
    "DOMAIN_DESCRIPTIONS",
    "Complexity",
    "Domain",
    "complexity_score",
    "validate_complexity",
    "validate_domain",
]

Domain = Literal["coding", "math", "reasoning", "creative", "knowledge", "text", "chat"]
Complexity = Literal["simple", "moderate", "complex"]

DOMAINS: Final[tuple[Domain, ...]] = get_args(Domain)
COMPLEXITIES: Final[tuple[Complexity, ...]] = get_args(Complexity)

DOMAIN_DESCRIPTIONS: Final[dict[Domain, str]] = {
    "coding": "write, fix, explain or review code; SQL, shell, regex, software design",
    "math": "arithmetic, algebra, word problems, proofs, statistics computations",
    "reasoning": (
        "logic puzzles, multi-step deduction, planning, argument analysis (not mainly math or code)"
    ),
    "creative": "stories, poems, roleplay, copywriting, brainstorming, jokes",
    "knowledge": "factual questions and explanations: science, history, law, medicine, …",
    "text": (
        "operations on a given text: summarise, extract, classify, rewrite, translate, proofread"
    ),
    "chat": "greetings, small talk, personal advice and opinions, simple conversation",
}

COMPLEXITY_DESCRIPTIONS: Final[dict[Complexity, str]] = {
    "simple": "a small, fast model answers it well: one step, a lookup, a short routine reply",
    "moderate": (
        "needs a capable general model: several steps, some domain depth, care with details"
    ),
    "complex": (
        "needs the strongest model: long multi-step reasoning, proofs, system design, "
        "expert depth, or many interacting constraints"
    ),
}

# Expected difficulty of each level; complexity_score = sum(p(level) * weight).
COMPLEXITY_WEIGHTS: Final[dict[Complexity, float]] = {
    "simple": 0.0,
    "moderate": 0.5,
    "complex": 1.0,
}


def complexity_score(probs: dict[str, float]) -> float:
    """Expected difficulty in [0, 1] from complexity probabilities."""
    score = sum(COMPLEXITY_WEIGHTS[c] * probs.get(c, 0.0) for c in COMPLEXITIES)
    return min(1.0, max(0.0, score))


def validate_domain(value: str) -> Domain:
    """Return ``value`` as a :data:`Domain` or raise ``ValueError`` naming the choices."""
    if value not in DOMAINS:
        raise ValueError(f"unknown domain {value!r}; expected one of {', '.join(DOMAINS)}")
    return value


def validate_complexity(value: str) -> Complexity:
    """Return ``value`` as a :data:`Complexity` or raise ``ValueError`` naming the choices."""
    if value not in COMPLEXITIES:
        raise ValueError(f"unknown complexity {value!r}; expected one of {', '.join(COMPLEXITIES)}")
    return value
