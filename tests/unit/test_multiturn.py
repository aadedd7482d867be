"""Multi-turn: the previous user turn is read only when the new turn depends on it."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from smartroute_graph import SmartRouter
from smartroute_graph.core.inputs import classification_text, join_turns, needs_previous_turn
from tests.support.classifiers import StubClassifier

DEPLOY_BUG = [
    HumanMessage(
        "Our deploy.js script crashes with `TypeError: Cannot read properties of undefined "
        "(reading 'env')` when it runs in CI. Here is the function: "
        "function deploy(cfg) { return run(cfg.target.env, cfg.flags) }"
    ),
    AIMessage("cfg.target is undefined in CI: pass a target or default it."),
]
APOLOGY = "Write a short apology note to our customers"


@pytest.mark.parametrize(
    "turn",
    [
        APOLOGY,
        "What is the capital of Australia?",
        "Write a function that reverses a linked list in C",
        "Prove that the square root of two is irrational.",
        "Summarise the following report for the board: the quarter went well, sales rose",
    ],
)
def test_a_self_contained_request_is_read_alone(turn: str) -> None:
    assert not needs_previous_turn(turn)
    assert join_turns(turn, "fix the bug in deploy.js") == turn


@pytest.mark.parametrize(
    "turn",
    [
        "and in Python?",
        "make it shorter",
        "why?",
        "in Rust",
        "Now write tests for the function",
        "Can you add error handling to it?",
        "Translate that into French",
        "It still crashes when the list is empty",
        "What about the second example you gave?",
    ],
)
def test_a_follow_up_keeps_the_previous_turn(turn: str) -> None:
    assert needs_previous_turn(turn)
    assert join_turns(turn, "write a quicksort") == (
        f"{turn}\n\n(previous message: write a quicksort)"
    )


def test_classification_text_drops_an_unrelated_previous_turn() -> None:
    assert classification_text([*DEPLOY_BUG, HumanMessage(APOLOGY)], []) == APOLOGY


def test_the_packaged_encoder_reads_a_new_request_after_a_coding_turn_on_its_own() -> None:
    router = SmartRouter.from_preset("openai")
    alone = router.route(APOLOGY)
    after = router.route([*DEPLOY_BUG, HumanMessage(APOLOGY)])
    assert (after.domain, after.complexity, after.model) == (
        alone.domain,
        alone.complexity,
        alone.model,
    )
    assert after.domain != "coding"
    assert "previous turn" not in after.reason


def test_the_reason_says_when_the_previous_turn_was_used() -> None:
    class ByText(StubClassifier):
        """Unsure of "and in Python?" alone, sure of it with the previous turn."""

        def classify(self, texts: Any) -> Any:
            return [
                StubClassifier("chat", "simple", 0.4, 0.4).classify([t])[0]
                if t == "and in Python?"
                else StubClassifier("coding", "moderate", 0.95, 0.95).classify([t])[0]
                for t in texts
            ]

    router = SmartRouter.from_preset("openai", classifier=ByText("x", "simple"))
    history = [HumanMessage("write a CSV parser in Go"), AIMessage("package main ...")]
    follow_up = router.route([*history, HumanMessage("and in Python?")])
    assert follow_up.domain == "coding"
    assert "read with the previous turn" in follow_up.reason
    fresh = router.route([*history, HumanMessage("Write a haiku about the first snow of winter")])
    assert "previous turn" not in fresh.reason
