"""The shipped default model labels two reported prompts the way LABELLING.md says.

- a law question from a personal situation is ``knowledge`` (law is knowledge), not chat;
- a long pasted document with a one-line lookup question is ``text`` and not ``complex``: the
  size of the input is not the difficulty of the task, so it routes to the cheapest model.

They run the packaged model (ONNX Runtime, no network).
"""

from __future__ import annotations

import random

import pytest

from smartroute_graph import SmartRouter
from smartroute_graph.classifiers.encoder import EncoderClassifier

SMALL_CLAIMS = (
    "My old landlord is refusing to give back my $1,500 deposit even though I left the flat "
    "spotless and have photos. Can I take him to small claims court, and what do I need?"
)

_TOPICS = (
    "annual leave",
    "sick leave",
    "remote work",
    "expenses",
    "equipment",
    "security",
    "conduct",
    "overtime",
    "training",
    "parental leave",
    "benefits",
    "travel",
)
_SENTENCES = (
    "Employees should discuss {t} with their line manager before making any arrangements.",
    "The {t} rules apply to permanent staff and to contractors engaged for more than three months.",
    "Requests about {t} are recorded in the HR portal and answered within five working days.",
    "Where local law gives more generous terms for {t}, local law takes precedence.",
    "Managers review {t} arrangements every year as part of the planning cycle.",
    "Questions about {t} that this handbook does not answer go to the people team.",
    "Exceptions to the {t} policy need written approval from a director.",
)


def pasted_handbook(words: int = 3000) -> str:
    """A plain, long staff handbook (about ``words`` words), the kind people paste whole."""
    rng = random.Random(3)
    parts: list[str] = ["STAFF HANDBOOK 2025. Please read this handbook in full."]
    n = 0
    section = 0
    while n < words:
        section += 1
        topic = _TOPICS[section % len(_TOPICS)]
        body = " ".join(rng.choice(_SENTENCES).format(t=topic) for _ in range(6))
        if section == 7:
            body += " The notice period for resigning is one month for staff below grade 5."
        parts.append(f"Section {section}: {topic.title()}. {body}")
        n = sum(len(p.split()) for p in parts)
    return "\n\n".join(parts)


# The packaged models were not retrained in time on the data that teaches these two labels
# (supplement/long_input_shapes.jsonl and the wrapper augmentation): strict xfail, so the
# marks must go when a retrained default model ships.
NEEDS_RETRAINED_MODEL = pytest.mark.xfail(
    strict=True, reason="issue 14: the shipped default model predates the labelling data"
)


@pytest.fixture(scope="module")
def clf() -> EncoderClassifier:
    return EncoderClassifier(cache_size=0)


@NEEDS_RETRAINED_MODEL
def test_small_claims_deposit_question_is_knowledge(clf: EncoderClassifier) -> None:
    decision = clf.classify([SMALL_CLAIMS])[0]
    assert decision.domain == "knowledge", decision.domain_probs
    assert decision.complexity != "complex"


@NEEDS_RETRAINED_MODEL
def test_long_document_with_a_lookup_question_is_simple_text(clf: EncoderClassifier) -> None:
    doc = pasted_handbook()
    assert len(doc.split()) >= 3000
    prompt = f"{doc}\n\nWhat's the notice period for resigning?"
    decision = clf.classify([prompt])[0]
    assert decision.domain == "text", decision.domain_probs
    assert decision.complexity == "simple", decision.complexity_probs


@NEEDS_RETRAINED_MODEL
def test_long_lookup_routes_to_the_cheapest_openai_model() -> None:
    prompt = f"{pasted_handbook()}\n\nWhat's the notice period for resigning?"
    decision = SmartRouter.from_preset("openai").route(prompt)
    assert decision.model == "gpt-4.1-nano", decision.reason
