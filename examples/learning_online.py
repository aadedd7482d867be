"""Learning online: a router that learns, from its own answer review, which model fails where.

Scripted models stand in for the ``openai`` preset: gpt-4.1-nano answers chat well but answers
every coding request with code that does not parse; gpt-4.1 and o4-mini answer both well. The
policy table sends simple coding requests to gpt-4.1-nano. With ``review="scorer"`` the response
scorer catches the broken code and re-asks gpt-4.1, and with learning on (an outcome store in a
temporary SQLite file) every reviewed answer becomes an observation. After 100 queries the
router sends coding requests it has never seen straight to a stronger model, while chat still
goes to gpt-4.1-nano, with no labelled data at all.

Offline: the packaged encoder and scripted models; no API key, no network.

    python examples/learning_online.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from smartroute_graph import SmartRouter
from smartroute_graph.testing import FakeChatModel

_CODING_TASKS = [
    "reverses a string",
    "checks whether a number is prime",
    "returns the n-th Fibonacci number",
    "counts the vowels in a sentence",
    "merges two sorted lists",
    "removes duplicates from a list while keeping the order",
    "computes the factorial of n",
    "flattens a nested list",
    "checks whether a word is a palindrome",
    "finds the largest element of a list",
    "converts Celsius to Fahrenheit",
    "sums the digits of an integer",
    "returns the second largest number in a list",
    "capitalises every word of a title",
    "counts how often each word appears in a text",
    "checks whether two strings are anagrams",
    "rotates a list by k positions",
    "computes the greatest common divisor of two numbers",
    "returns the intersection of two lists",
    "splits a list into chunks of size n",
    "validates an email address with a regular expression",
    "converts a Roman numeral to an integer",
    "transposes a matrix given as a list of lists",
    "finds the missing number in a list from 1 to n",
    "checks whether brackets in a string are balanced",
]
_CODING_FORMS = [
    "Write a Python function that {task}.",
    "Write a short Python function which {task}, with a docstring.",
]
TRAIN_CODING = [form.format(task=t) for t in _CODING_TASKS for form in _CODING_FORMS]
"""50 coding requests the router learns from."""

TRAIN_CHAT = [
    f"{greeting} {question}"
    for greeting in ("Hi!", "Hello there.")
    for question in (
        "How are you doing today?",
        "What's up?",
        "I just got back from a long walk.",
        "Thanks for the help yesterday!",
        "Can you recommend a good name for my cat?",
        "I'm feeling a bit bored, any ideas for tonight?",
        "What's your favourite colour?",
        "Tell me something nice.",
        "I finally finished my exams!",
        "Do you like rainy days?",
        "My friend is visiting this weekend.",
        "Good morning to you.",
        "It's my birthday today!",
        "I can't decide between tea and coffee.",
        "I had a great lunch.",
        "Have a nice evening!",
        "I'm learning to play the guitar.",
        "What should I cook for dinner?",
        "I love autumn leaves.",
        "Nice to meet you.",
        "I'm so tired today.",
        "The weather is lovely here.",
        "I adopted a puppy!",
        "Any tips to relax after work?",
        "See you later!",
    )
]
"""50 chat messages the router learns from."""

NEW_CODING = [
    "Write a Python function that returns the longest common prefix of a list of strings.",
    "Write a Python function that converts a binary string to an integer.",
    "Write a Python function that checks whether a year is a leap year.",
    "Write a Python function that computes the average of a list of numbers.",
    "Write a Python function that reverses the order of words in a sentence.",
    "Write a Python function that returns the indices of two numbers adding up to a target.",
    "Write a Python function that counts the lines of a text file.",
    "Write a Python function that removes all whitespace from a string.",
    "Write a Python function that finds the mode of a list of integers.",
    "Write a Python function that checks whether a list is sorted.",
    "Write a Python function that generates all subsets of a set.",
    "Write a Python function that converts a dictionary into a list of key-value pairs.",
    "Write a Python function that computes the power set size of n elements.",
    "Write a Python function that returns the minimum and maximum of a list in one pass.",
    "Write a Python function that counts the uppercase letters in a string.",
    "Write a Python function that truncates a string to n characters with an ellipsis.",
    "Write a Python function that checks whether a number is a perfect square.",
    "Write a Python function that zips three lists into a list of tuples.",
    "Write a Python function that returns the cumulative sum of a list.",
    "Write a Python function that swaps the keys and values of a dictionary.",
]
"""Coding requests the router has never seen."""

NEW_CHAT = [
    "Hey! I just moved to a new city.",
    "Hi, how was your day?",
    "Hello! I'm making pancakes this morning.",
    "Hi! My sister got married last week.",
    "Good evening! Just saying hello.",
    "Hey there, I'm watching the sunset.",
    "Hi! Guess what, I got a new job!",
    "Hello, it's been a long week.",
    "Hey! I'm planning a picnic.",
    "Hi, I'm drinking hot chocolate right now.",
]
"""Chat messages the router has never seen."""

_CODING = set(TRAIN_CODING) | set(NEW_CODING)
BROKEN_CODE = (
    "Here you go:\n\n```python\ndef solution(data)\n    result = [x for x in data\n"
    "    return result\n```"
)
GOOD_CODE = (
    "Here you go:\n\n```python\ndef solution(data):\n    result = [x for x in data]\n"
    "    return result\n```\nIt walks the input once and returns the result."
)
CHAT_REPLY = "Hi! That sounds lovely. Thanks for sharing, I hope the rest of your day goes well."


def _nano(query: str) -> str:
    return BROKEN_CODE if query in _CODING else CHAT_REPLY


def _strong(query: str) -> str:
    return GOOD_CODE if query in _CODING else CHAT_REPLY


def build_router(store: str | Path) -> SmartRouter:
    """The ``openai`` preset over scripted models, reviewing with the scorer, learning into
    ``store``."""
    models = {
        name: FakeChatModel(reply=reply, model_name=name)
        for name, reply in (("gpt-4.1-nano", _nano), ("gpt-4.1", _strong), ("o4-mini", _strong))
    }
    return SmartRouter.from_preset("openai", models=models, review="scorer", outcome_store=store)


def strong_share(router: SmartRouter, queries: list[str]) -> float:
    """The share of ``queries`` the router sends straight (no review) past gpt-4.1-nano."""
    return sum(router.route(q).model != "gpt-4.1-nano" for q in queries) / len(queries)


def shares(router: SmartRouter) -> dict[str, float]:
    """:func:`strong_share` of the new coding and the new chat queries."""
    return {"coding": strong_share(router, NEW_CODING), "chat": strong_share(router, NEW_CHAT)}


def run_demo(store: str | Path) -> dict[str, Any]:
    """Route the new queries before learning, answer 100 queries with review, route them again.

    Returns:
        ``before`` and ``after``: the share of new coding and new chat queries sent straight
        to a stronger model; ``escalated``: how many of the 100 answers the review re-asked;
        ``observations``: what the store holds; ``reason``: the decision's reason for one new
        coding query after learning.
    """
    router = build_router(store)
    learner = router.learner
    assert learner is not None  # an outcome store was given: the router learns
    try:
        learner.sync()  # the store is open and loaded: what follows does not depend on timing
        before = shares(router)
        traffic = [q for pair in zip(TRAIN_CODING, TRAIN_CHAT, strict=True) for q in pair]
        escalated = 0
        for query in traffic:
            meta = router.invoke(query).response_metadata["smartroute"]
            escalated += bool(meta["escalated"])
        learner.sync()
        after = shares(router)
        store_ = learner.store
        return {
            "before": before,
            "after": after,
            "escalated": escalated,
            "queries": len(traffic),
            "observations": store_.count() if store_ else 0,
            "reason": router.route(NEW_CODING[0]).reason,
            "chat_reason": router.route(NEW_CHAT[0]).reason,
        }
    finally:
        router.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        result = run_demo(Path(folder) / "outcomes.db")
    before, after = result["before"], result["after"]
    print("== before learning (the policy table alone)")
    print(f"new coding queries sent straight to a stronger model: {before['coding']:.0%}")
    print(f"new chat queries sent straight to a stronger model:   {before['chat']:.0%}")
    print(
        f"== {result['queries']} queries answered with review='scorer': {result['escalated']} "
        f"re-asked of a stronger model; {result['observations']} observations stored"
    )
    print("== after learning")
    print(f"new coding queries sent straight to a stronger model: {after['coding']:.0%}")
    print(f"new chat queries sent straight to a stronger model:   {after['chat']:.0%}")
    print(f"reason (new coding query): {result['reason']}")
    print(f"reason (new chat query):   {result['chat_reason']}")


if __name__ == "__main__":
    main()
