"""Each script in examples/ runs offline (no API key) and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# script -> text some line of its output must contain. Routing-independent on purpose: the
# default classifier may change which model a query goes to, not what the scripts show.
EXPECTED: dict[str, list[str]] = {
    "agent_with_tools.py": [
        "No OPENAI_API_KEY: using offline FakeChatModel stand-ins",
        "   ai: calls get_weather({'city': 'Lisbon'})",
        " tool: It is 18°C and sunny in Lisbon.",
        "Lisbon is sunny and 18°C: a good weekend for a walk by the river.",
        "keeps the task it is working on",
        "Trip(city='Lisbon', reason='sunny, mild and walkable')",
        "== cost: 2 model calls, total $",
    ],
    "lcel_chain.py": [
        "No OPENAI_API_KEY: using offline FakeChatModel stand-ins",
        "== stream",
        "'Prove that sqrt(2) is irrational.'",
        "  reason      ",
        "  attempts    [(",
        "  calls:      6",
        "  total cost: $",
    ],
    "learning_online.py": [
        "== before learning (the policy table alone)",
        "queries answered with review='scorer'",
        "== after learning",
        "new coding queries sent straight to a stronger model:",
        "new chat queries sent straight to a stronger model:",
        "reason (new coding query): learned: ",
    ],
    "router_as_node.py": [
        "== 1. router.invoke inside a node",
        "parent nodes: redact -> router -> sign_off",
        "human: I'm <email>. Explain the difference between TCP and UDP for our docs.",
        "-- Acme Cloud support",
        "router steps seen from the parent: prepare -> classify_domain -> assess_complexity "
        "-> learned -> select_model -> ",
    ],
    "custom_catalog.py": [
        "ladder (weakest first): local-small < house-medium < frontier",
        "same table: True",
        "(policy table)",
        "budget_usd=0.0001  -> local-small",
        "-> BudgetError: no model fits the budget",
        "model='house-medium' -> house-medium: house-medium requested explicitly",
    ],
}


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_offline(script: str) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "LANGSMITH_API_KEY")
    }
    env.update(LANGSMITH_TRACING="false", LANGCHAIN_TRACING_V2="false", PYTHONIOENCODING="utf-8")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for expected in EXPECTED[script]:
        assert any(expected in line for line in lines), (
            f"{script}: no line contains {expected!r}\n--- stdout ---\n{result.stdout}"
        )
