from __future__ import annotations

import pytest

from smartroute_graph import Attachment, BudgetError, InputError, Policy
from smartroute_graph.core.catalog import Catalog, ModelSpec
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS
from smartroute_graph.routing.policy import PRESET_TABLES
from tests.support.classifiers import StubClassifier
from tests.support.pdfs import png

PNG = png(2, 2)


def classify(domain: str, complexity: str, p: float = 0.95):  # type: ignore[no-untyped-def]
    return StubClassifier(domain, complexity, p, p).classify(["q"])[0]


@pytest.mark.parametrize("preset", ["openai", "openrouter"])
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_cell_follows_the_table(preset: str, domain: str) -> None:
    policy = Policy.from_preset(preset)
    for level in COMPLEXITIES:
        decision = policy.decide(classify(domain, level), input_tokens=50)
        assert decision.model == PRESET_TABLES[preset][domain][level]
        assert decision.reason.startswith(f"{domain}/{level} → {decision.model} (policy table)")


def test_low_confidence_steps_up_one_tier() -> None:
    policy = Policy.from_preset("openai", confidence_threshold=0.5)
    decision = policy.decide(classify("chat", "simple", p=0.6), input_tokens=20)  # 0.36 < 0.5
    assert decision.table_model == "gpt-4.1-nano"
    assert decision.model == "gpt-4.1"
    assert "confidence 0.36 < 0.50: stepped up to gpt-4.1" in decision.reason


def test_low_confidence_at_the_top_stays() -> None:
    policy = Policy.from_preset("openai", confidence_threshold=0.5)
    decision = policy.decide(classify("math", "complex", p=0.6), input_tokens=20)
    assert decision.model == "o4-mini"
    assert "already the strongest" in decision.reason


def test_images_need_a_vision_model() -> None:
    policy = Policy.from_preset("openrouter")
    image = Attachment.from_bytes(PNG, name="shot.png")
    decision = policy.decide(classify("coding", "moderate"), input_tokens=50, attachments=[image])
    # qwen-2.5-72b is the table's pick but reads no images; deepseek-r1 neither.
    assert decision.table_model == "qwen-2.5-72b"
    assert policy.catalog[decision.model].supports_images
    assert "qwen-2.5-72b does not accept images: moved to" in decision.reason
    assert all(policy.catalog[m].supports_images for m in decision.fallbacks)


def test_no_model_reads_images() -> None:
    catalog = Catalog(
        [
            ModelSpec(
                name="t", input_price_per_m=1, output_price_per_m=1, context_window=1000, tier=1
            )
        ]
    )
    image = Attachment.from_bytes(PNG, name="shot.png")
    with pytest.raises(InputError, match="no model in the catalog accepts images"):
        Policy(catalog).decide(classify("chat", "simple"), input_tokens=5, attachments=[image])


def test_context_window_moves_to_a_model_that_fits() -> None:
    policy = Policy.from_preset("openrouter")
    # qwen (32k) is the pick for moderate math; 60k tokens do not fit it.
    decision = policy.decide(classify("math", "moderate"), input_tokens=60_000)
    assert decision.table_model == "qwen-2.5-72b"
    assert policy.catalog[decision.model].context_window >= 60_000
    assert "context window" in decision.reason
    with pytest.raises(InputError, match="does not fit any model's context window"):
        policy.decide(classify("math", "moderate"), input_tokens=5_000_000)


def test_budget_caps_the_choice() -> None:
    policy = Policy.from_preset("openai")
    free = policy.decide(classify("coding", "complex"), input_tokens=2_000)
    assert free.model == "o4-mini"
    capped = policy.decide(classify("coding", "complex"), input_tokens=2_000, budget_usd=0.005)
    assert capped.estimated_cost_usd <= 0.005
    assert capped.model == "gpt-4.1-nano"
    assert "exceeds budget $0.005000: chose gpt-4.1-nano" in capped.reason
    assert capped.fallbacks == []  # nothing else fits the budget


def test_budget_too_small_for_any_model() -> None:
    with pytest.raises(BudgetError, match=r"no model fits the budget of \$0.000001"):
        Policy.from_preset("openai").decide(
            classify("chat", "simple"), input_tokens=500, budget_usd=0.000001
        )


def test_fallbacks_are_bounded_by_attempts() -> None:
    policy = Policy.from_preset("openrouter", max_attempts=2)
    decision = policy.decide(classify("chat", "simple"), input_tokens=10)
    assert len(decision.fallbacks) == 1
    assert decision.model not in decision.fallbacks


def test_invalid_policy_settings() -> None:
    catalog = Policy.from_preset("openai").catalog
    with pytest.raises(ValueError, match="confidence_threshold must be in"):
        Policy(catalog, confidence_threshold=1.5)
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        Policy(catalog, max_attempts=0)
