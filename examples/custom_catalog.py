"""Route among your own models: a custom catalog, policy table, config file, budget and override.

1. Build a router in Python from ``ModelSpec`` entries (prices, tiers, capabilities), any
   ``BaseChatModel`` per name, and a policy table ``{domain: {complexity: model}}``.
2. Build the same router from ``examples/router.yaml`` with ``SmartRouter.from_config``.
3. Print dry-run decisions (``router.route``: no model is called) for a few queries.
4. Cap the cost with ``budget_usd=...`` and force a model with ``model=...``.

Runs offline by default: each catalog model is a scripted ``FakeChatModel``. With
``OPENAI_API_KEY`` set, the three names are served by gpt-4.1-nano, gpt-4.1 and o4-mini.

    python examples/custom_catalog.py
"""

from __future__ import annotations

import os
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from smartroute_graph import BudgetError, ModelSpec, SmartRouter
from smartroute_graph.testing import FakeChatModel

CONFIG = Path(__file__).with_name("router.yaml")

# Prices are US dollars per million tokens; tier orders models by strength (1 = weakest).
CATALOG = [
    ModelSpec(
        name="local-small",
        input_price_per_m=0.0,
        output_price_per_m=0.0,
        context_window=8_192,
        max_output_tokens=2_048,
        tier=1,
    ),
    ModelSpec(
        name="house-medium",
        input_price_per_m=0.40,
        output_price_per_m=1.60,
        context_window=128_000,
        tier=2,
    ),
    ModelSpec(
        name="frontier",
        input_price_per_m=3.00,
        output_price_per_m=15.00,
        context_window=200_000,
        supports_images=True,
        supports_pdfs=True,
        reasoning=True,
        tier=3,
    ),
]

# Which model answers each (domain, complexity); cells left out follow the tier ladder.
TABLE = {
    "coding": {"simple": "house-medium", "moderate": "house-medium", "complex": "frontier"},
    "math": {"simple": "local-small", "moderate": "frontier", "complex": "frontier"},
    "reasoning": {"simple": "local-small", "moderate": "frontier", "complex": "frontier"},
    "creative": {"simple": "local-small", "moderate": "local-small", "complex": "house-medium"},
    "knowledge": {"simple": "local-small", "moderate": "house-medium", "complex": "house-medium"},
    "text": {"simple": "local-small", "moderate": "local-small", "complex": "house-medium"},
    "chat": {"simple": "local-small", "moderate": "local-small", "complex": "house-medium"},
}

QUERIES = [
    "hey, how's it going?",
    "What is the boiling point of water at sea level?",
    "Summarise the following paragraph in one sentence: ...",
    "Write a SQL query that returns the top 5 customers by revenue.",
    "Prove that there are infinitely many primes.",
]


def chat_models() -> dict[str, BaseChatModel]:
    """A chat model for every catalog name: any ``BaseChatModel`` works (Ollama, vLLM, …)."""
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        print("OPENAI_API_KEY is set: serving the catalog with real OpenAI models\n")
        return {
            "local-small": ChatOpenAI(model="gpt-4.1-nano"),
            "house-medium": ChatOpenAI(model="gpt-4.1"),
            "frontier": ChatOpenAI(model="o4-mini"),
        }
    print("No OPENAI_API_KEY: using offline FakeChatModel stand-ins\n")
    return {
        spec.name: FakeChatModel(responses=[f"[{spec.name}] done."], model_name=spec.name)
        for spec in CATALOG
    }


def main() -> None:
    models = chat_models()

    print("== 1. a router from Python objects")
    router = SmartRouter(
        catalog=CATALOG, models=models, table=TABLE, confidence_threshold=0.3, max_attempts=2
    )
    print(router)
    print("ladder (weakest first):", " < ".join(router.catalog.ladder))

    print("\n== 2. the same router from a YAML config")
    from_yaml = SmartRouter.from_config(CONFIG, models=models)
    print(from_yaml)
    print("same table:", from_yaml.policy.table == router.policy.table)

    print("\n== 3. dry-run decisions (no model called)")
    for query in QUERIES:
        d = from_yaml.route(query)
        print(f"{query!r}\n  -> {d.model} (~${d.estimated_cost_usd:.5f}): {d.reason}")
    print("fallbacks if the last one fails:", d.fallbacks)

    print("\n== 4. a budget cap and a forced model")
    proof = QUERIES[-1]
    for budget in (0.1, 0.01, 0.0001):
        capped = from_yaml.route(proof, budget_usd=budget)
        print(f"budget_usd={budget:<7} -> {capped.model:12} ~${capped.estimated_cost_usd:.5f}")
    # With no free model in the catalog, a budget nothing fits raises BudgetError.
    paid_only = SmartRouter(
        catalog=CATALOG[1:], models={n: m for n, m in models.items() if n != "local-small"}
    )
    try:
        paid_only.route(proof, budget_usd=0.000001)
    except BudgetError as exc:
        print(f"budget_usd=0.000001 without local-small -> BudgetError: {exc}")

    # Both are per-call settings of invoke/stream/batch too.
    answer = from_yaml.invoke(proof, budget_usd=0.01)
    print(f"invoke(budget_usd=0.01) -> {answer.response_metadata['smartroute']['model']}")
    answer = from_yaml.invoke(proof, model="house-medium")
    meta = answer.response_metadata["smartroute"]
    print(f"model='house-medium' -> {meta['model']}: {meta['reason']}")
    print(f"answer: {answer.text}  (cost ${meta['cost_usd']:.6f})")


if __name__ == "__main__":
    main()
