"""What does the LLM classifier cost per decision, beyond the model's own answer time?

With no key (the default), the classifier's chat model is the offline ``FakeChatModel``
answering a valid structured label at once, so each decision's time is the project's own
overhead: building the prompt, LangChain's structured-output plumbing, parsing and checking
the label, the timeout guard. Rows:

``decision, cache off``   ``LLMClassifier(fake, cache_size=0).classify([q])``, one query at a time
``decision, cache hit``    the same query asked again with the LRU cache on
``async decision``        ``await aclassify([q])``, cache off
``fake model alone``      the same structured call on the fake model without the classifier
``batch of 32``           one ``classify`` call on 32 distinct queries, per query

With ``--real`` and ``OPENAI_API_KEY`` set, the same single-query row is measured against the
real ``gpt-4.1-nano`` (the older router's 0.23 s decision), ``--real-calls`` times (it costs a
few cents at most); the key is read from the environment and never printed.

    .venv/bin/python bench/bench_llm_classifier.py [--calls 1000] [--real --real-calls 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import table

from smartroute_graph.classifiers.llm import LLMClassifier, QueryLabel
from smartroute_graph.classifiers.rules import RulesClassifier
from smartroute_graph.testing import FakeChatModel

QUERIES = [
    "hi there!",
    "What is the capital of Australia?",
    "Solve 3x + 7 = 22 and show the steps.",
    "Write a Python function that merges two sorted lists in O(n).",
    "Summarise this paragraph in two sentences: The committee met on Tuesday to review ...",
    "Write a haiku about autumn rain on a tin roof.",
    "If all bloops are razzies and some razzies are lazzies, are some bloops lazzies?",
    "Explain the difference between TCP and UDP for a networking exam.",
]
LABEL = json.dumps(
    {
        "domain": "knowledge",
        "complexity": "simple",
        "confidence": 0.9,
        "complexity_confidence": 0.8,
        "rationale": "a short fact question",
    }
)


def _stats(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return statistics.median(ordered), p99


def _time(fn: Callable[[str], Any], calls: int, warmup: int = 50) -> tuple[float, float]:
    for i in range(warmup):
        fn(QUERIES[i % len(QUERIES)] + f" #w{i}")
    samples = []
    for i in range(calls):
        query = QUERIES[i % len(QUERIES)] + f" #{i}"
        started = time.perf_counter()
        fn(query)
        samples.append((time.perf_counter() - started) * 1000)
    return _stats(samples)


def main(argv: list[str] | None = None) -> int:
    """Print the table; ``--json`` writes the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--real", action="store_true", help="also time gpt-4.1-nano (needs a key)")
    parser.add_argument("--real-calls", type=int, default=30)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    os.environ["LANGSMITH_TRACING"] = "false"

    fake = FakeChatModel(responses=[LABEL])
    fallback = RulesClassifier()
    uncached = LLMClassifier(fake, fallback=fallback, cache_size=0)
    cached = LLMClassifier(fake, fallback=fallback)
    # The same structured call the classifier makes (include_raw: its usage is the cost).
    structured = fake.with_structured_output(QueryLabel, include_raw=True)

    def check(classifier: LLMClassifier) -> None:
        result = classifier.classify(["warm-up"])[0]
        if result.backend != "llm":  # a fallback would time the wrong thing
            raise SystemExit(f"the fake label did not parse: {result}")

    check(uncached)
    check(cached)
    cached.classify([QUERIES[0]])
    rows: list[list[Any]] = []
    figures: dict[str, Any] = {}

    def add(name: str, median: float, p99: float) -> None:
        figures[name] = {"median_ms": median, "p99_ms": p99}
        rows.append([name, f"{median:.3f}", f"{p99:.3f}"])

    add("decision, cache off", *_time(lambda q: uncached.classify([q]), args.calls))
    add("decision, cache hit", *_time(lambda q: cached.classify([QUERIES[0]]), args.calls))

    async def run_async() -> tuple[float, float]:
        samples = []
        for i in range(args.calls):
            started = time.perf_counter()
            await uncached.aclassify([QUERIES[i % len(QUERIES)] + f" #a{i}"])
            samples.append((time.perf_counter() - started) * 1000)
        return _stats(samples)

    add("async decision, cache off", *asyncio.run(run_async()))
    add("fake model alone (structured call)", *_time(structured.invoke, args.calls))
    batch = [QUERIES[i % len(QUERIES)] + f" #b{i}" for i in range(32)]
    started = time.perf_counter()
    rounds = max(1, args.calls // 32)
    for r in range(rounds):
        uncached.classify([f"{q} r{r}" for q in batch])
    per_query = (time.perf_counter() - started) * 1000 / (rounds * len(batch))
    figures["batch of 32, per query"] = {"mean_ms": per_query}
    rows.append(["batch of 32, per query (mean)", f"{per_query:.3f}", "-"])

    if args.real:
        if not os.environ.get("OPENAI_API_KEY"):
            print("--real needs OPENAI_API_KEY in the environment; skipped the real row")
        else:
            real = LLMClassifier(fallback=fallback, cache_size=0)
            samples, fallbacks = [], 0
            for i in range(args.real_calls):
                started = time.perf_counter()
                result = real.classify([QUERIES[i % len(QUERIES)]])[0]
                samples.append((time.perf_counter() - started) * 1000)
                fallbacks += result.backend != "llm"
            add(
                f"gpt-4.1-nano, real ({args.real_calls} calls, {fallbacks} fell back)",
                *_stats(samples),
            )

    print(f"\nLLM classifier decision latency ({args.calls} calls per row, one query at a time)\n")
    print(table(["case", "median ms", "p99 ms"], rows))
    overhead = (
        figures["decision, cache off"]["median_ms"]
        - figures["fake model alone (structured call)"]["median_ms"]
    )
    print(
        f"\nthe classifier's own overhead over the structured model call: {overhead:.3f} ms "
        "(median difference)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
