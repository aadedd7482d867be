"""How much time does the router graph add to an LLM call?

What it measures
----------------
Every catalog model of the ``openai`` preset is replaced by the same offline
``smartroute_graph.testing.FakeChatModel`` (a fixed ~45-word answer, no delay), so a call costs
only Python: whatever the routed call costs on top of the direct one is the router's own
overhead. Over a mix of realistic short and long queries (greetings, facts, math, code with
pasted snippets, long texts to summarise, ...), each case times ``--calls`` calls after
``--warmup`` untimed ones:

``invoke``        ``router.invoke(q)`` against ``model.invoke(q)``, where ``model`` is the fake
                  model the router picks for ``q`` (so both sides do the same model work).
``invoke short`` / ``invoke long``   the same samples, split by query length.
``invoke, timeout_s=None``   ``router.invoke(q, timeout_s=None)``, shown when the router has a
                  default per-call timeout: without one the model is called on the caller's
                  thread instead of a worker thread, so the difference is that hop's cost.
``ainvoke``       the async path, ``await router.ainvoke(q)`` against ``await model.ainvoke(q)``.
``stream TTFT``   time to the first non-empty token of ``router.stream(q)`` / ``model.stream(q)``.
``stream total``  time to drain the whole stream (the router adds one metadata chunk).
``astream ...``   the same for ``astream``.
``route``         ``router.route(q)``: the decision alone, no model call, against the same
                  decision computed without the graph (rules classifier + ``Policy.decide``).

Direct and routed calls are interleaved (each iteration runs every side once, in a shuffled
order) so that drift and load from other processes land on all sides alike; still, on a shared
2-core machine the absolute figures move with the load (the header shows the load average).
The classifier's LRU cache is off (``cache_size=0``): production queries rarely repeat, and a
cache hit would hide the classifier's cost (``--classifier-cache`` turns it back on).
LangSmith tracing is forced off.

How to read it
--------------
Each row gives the median and p99 (nearest rank) in milliseconds of the direct and the routed
call, the overhead (routed minus direct, for the median and for the p99) and the ratio of the
medians. The issue's target: ``invoke`` overhead median under 1 ms on a 2-core machine; the
line under the table says whether it is met (``--check`` makes the exit status say so too).

The breakdown splits the median ``invoke`` overhead into: the rules classifier alone, the
policy (``Policy.decide``) alone, the router's other node code (input normalisation, token
estimates, the second-level conditioning, the attempt record and the metadata on the answer),
each timed by calling it directly on the same queries, the model-call timeout's worker-thread
hop (from the ``timeout_s=None`` row), and the rest: LangGraph's Pregel loop
(one superstep per node: task preparation, channel writes, reducers, checkpoint bookkeeping)
and the LangChain callback/config plumbing around each node. That rest is split again by the
``bare 5-step LangGraph graph`` row (timed in the same interleaved loop as ``invoke``): a plain
``StateGraph`` with the same five supersteps, four that do nothing and one that calls the
model, i.e. the floor under any router built as a graph of these nodes; what is left is this
graph's own shape (reducers, conditional edges, runtime context, config). The parts are
medians taken separately and the rest is a difference, so the split is approximate.
``--profile`` adds a cProfile of the routed ``invoke`` path: its top functions and the share
of time per package.

Run from the repository root::

    .venv/bin/python bench/bench_graph_overhead.py [--calls 1000] [--json out.json] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

# Tracing would add network work to every call (and fails offline): keep it out of the figures.
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"

from langchain_core.messages import AIMessage

from smartroute_graph import (
    Attempt,
    Classification,
    RouterContext,
    RulesClassifier,
    SmartRouter,
    preset_catalog,
)
from smartroute_graph.core.inputs import classification_text, normalise_input
from smartroute_graph.core.pricing import attempt_cost, estimate_message_tokens
from smartroute_graph.graph import metadata as graph_metadata
from smartroute_graph.routing import decide as routing_decide
from smartroute_graph.testing import FakeChatModel

TARGET_OVERHEAD_MS = 1.0
LONG_QUERY_WORDS = 60  # queries at or above this many words count as "long"

ANSWER = (
    "Here is a short answer. The key idea is to split the problem into two parts, solve each "
    "one on its own, and then combine the results; the whole approach runs in linear time and "
    "needs no extra memory beyond the output."
)

_CODE = """```python
def merge(a, b):
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            out.append(a[i]); i += 1
        else:
            out.append(b[j]); j += 1
    return out + a[i:] + b[j:]

def merge_sort(xs):
    if len(xs) <= 1:
        return xs
    mid = len(xs) // 2
    return merge(merge_sort(xs[:mid]), merge_sort(xs[mid:]))
```"""

_ARTICLE = (
    "The city council met on Tuesday to discuss the proposed expansion of the light rail "
    "network. Supporters argued that the new line would cut commuting times by a third for "
    "residents of the eastern suburbs, reduce traffic on the ring road and bring new "
    "businesses to the area around the old station. Opponents raised concerns about the cost, "
    "estimated at 1.2 billion dollars, and about the disruption that two years of construction "
    "would bring to the shops along Market Street. Several business owners said they had not "
    "been consulted, and a petition with four thousand signatures asked for the route to be "
    "moved one block north. The transport department answered that the northern route had "
    "been studied and rejected because it would require demolishing a listed building and "
    "would add six minutes to the journey. After three hours of debate the council voted to "
    "commission an independent review of both routes, due in March, and to set up a fund to "
    "compensate businesses affected by the works. "
)

# A mix of what people send a router: short chat and facts, mid-size tasks, long pasted inputs.
QUERIES: tuple[str, ...] = (
    "hi there!",
    "Thanks, that helped a lot.",
    "What is the capital of Australia?",
    "Who wrote Pride and Prejudice?",
    "Translate 'good morning' into Spanish.",
    "What is 17% of 240?",
    "Define photosynthesis in one sentence.",
    "Write a haiku about autumn rain.",
    "Write a regex that matches a US ZIP code with an optional +4 suffix.",
    "Explain the difference between a process and a thread.",
    "I'm feeling stressed about my exams next week, any advice?",
    "If all bloops are razzies and all razzies are lazzies, are all bloops lazzies? Explain.",
    "Solve for x: 3x^2 - 12x + 9 = 0, and show each step.",
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Compare the causes of the First and Second World Wars in a few paragraphs.",
    "A train leaves at 3 pm going 60 miles per hour and a second train leaves the same station "
    "at 4 pm going 80 miles per hour on the same track. At what time does the second train "
    "catch the first, and how far from the station are they? Explain your reasoning step by "
    "step.",
    "Design a distributed rate limiter for an API gateway that serves 50,000 requests per "
    "second across three regions. Discuss the trade-offs between a token bucket kept in Redis "
    "and local counters with periodic synchronisation, how you would handle clock skew and "
    "region failover, and what consistency guarantees clients can rely on.",
    "Prove that there are infinitely many primes of the form 4k + 3, and explain where the "
    "usual proof for primes of the form 4k + 1 breaks down.",
    "This merge sort is slow on large lists and sometimes hits the recursion limit. Explain "
    "why, fix it, and add unit tests for the edge cases:\n" + _CODE,
    "Review this code for bugs and style problems, then rewrite it iteratively:\n"
    + _CODE
    + "\nIt is called from a web handler with lists of up to a million items.",
    "Summarize the following article in three bullet points:\n\n" + _ARTICLE,
    "Extract every number and what it refers to from this text, as JSON:\n\n" + _ARTICLE * 2,
    "Translate this passage into French, keeping the tone formal:\n\n" + _ARTICLE,
    "Here is the text of my cover letter. Proofread it and suggest a stronger opening:\n\n"
    + _ARTICLE * 3,
)


# -- statistics -------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in [0, 100]) of ``samples``."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


@dataclass
class Stats:
    """Median and p99 of one side of a case, in milliseconds."""

    median_ms: float
    p99_ms: float
    n: int

    @classmethod
    def of(cls, samples_s: Sequence[float]) -> Stats:
        ms = [s * 1000 for s in samples_s]
        return cls(statistics.median(ms), percentile(ms, 99), len(ms))


@dataclass
class Case:
    """One row of the table: a direct and a routed measurement of the same work."""

    name: str
    direct: Stats
    routed: Stats
    direct_label: str = "model directly"
    note: str = ""

    @property
    def overhead_ms(self) -> float:
        return self.routed.median_ms - self.direct.median_ms

    @property
    def overhead_p99_ms(self) -> float:
        return self.routed.p99_ms - self.direct.p99_ms

    @property
    def ratio(self) -> float:
        return self.routed.median_ms / self.direct.median_ms if self.direct.median_ms else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "direct": {**asdict(self.direct), "what": self.direct_label},
            "routed": asdict(self.routed),
            "overhead_median_ms": self.overhead_ms,
            "overhead_p99_ms": self.overhead_p99_ms,
            "ratio": self.ratio,
            "note": self.note,
        }


@dataclass
class Results:
    """Everything one run measured."""

    calls: int
    warmup: int
    classifier_cache: bool
    environment: dict[str, Any]
    cases: list[Case] = field(default_factory=list)
    breakdown: dict[str, float] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)

    def case(self, name: str) -> Case:
        return next(c for c in self.cases if c.name == name)

    @property
    def target_met(self) -> bool:
        return self.case("invoke").overhead_ms < TARGET_OVERHEAD_MS

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "warmup": self.warmup,
            "classifier_cache": self.classifier_cache,
            "environment": self.environment,
            "target": {
                "what": "median invoke overhead (routed - direct)",
                "limit_ms": TARGET_OVERHEAD_MS,
                "measured_ms": self.case("invoke").overhead_ms,
                "met": self.target_met,
            },
            "cases": {c.name: c.to_json() for c in self.cases},
            "breakdown_ms": self.breakdown,
            "profile": self.profile,
        }


# -- setup --------------------------------------------------------------------------------------


@dataclass
class Setup:
    """The router, its fake models, and per-query facts computed once."""

    router: SmartRouter
    models: dict[str, FakeChatModel]
    queries: list[str]
    picks: list[str]  # the model the router picks for each query
    texts: list[str]  # what the classifier reads for each query
    tokens: list[int]  # the prompt-token estimate for each query

    def model_for(self, index: int) -> FakeChatModel:
        return self.models[self.picks[index]]


def make_setup(classifier_cache: bool) -> Setup:
    names = list(preset_catalog("openai"))
    models = {n: FakeChatModel(responses=[ANSWER], model_name=n) for n in names}
    classifier = RulesClassifier() if classifier_cache else RulesClassifier(cache_size=0)
    router = SmartRouter.from_preset("openai", models=models, classifier=classifier)
    queries = list(QUERIES)
    picks, texts, tokens = [], [], []
    for q in queries:
        messages, attachments = normalise_input(q)
        picks.append(router.route(q).model)
        texts.append(classification_text(messages, attachments))
        tokens.append(estimate_message_tokens(list(messages)))
    return Setup(router, models, queries, picks, texts, tokens)


def environment() -> dict[str, Any]:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    try:
        load = os.getloadavg()[0]
    except OSError:
        load = -1.0
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg_1m_at_start": round(load, 2),
        "langgraph": version("langgraph"),
        "langchain-core": version("langchain-core"),
        "pydantic": version("pydantic"),
        "smartroute-graph": version("smartroute-graph"),
    }


# -- timing loops -------------------------------------------------------------------------------


def interleaved(
    setup: Setup, sides: dict[str, Callable[[int], object]], calls: int, warmup: int
) -> tuple[dict[str, list[float]], list[int]]:
    """Time every side on query ``i % len`` in each iteration ``i``, in a shuffled order (so
    drift and background load hit all sides alike); seconds per call, and the query indices."""
    n = len(setup.queries)
    shuffle = random.Random(0).shuffle
    names = list(sides)
    for i in range(warmup):
        for name in names:
            sides[name](i % n)
    gc.collect()
    times: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for i in range(calls):
        k = i % n
        shuffle(names)
        for name in names:
            fn = sides[name]
            start = clock()
            fn(k)
            times[name].append(clock() - start)
    return times, [i % n for i in range(calls)]


async def ainterleaved(
    setup: Setup,
    sides: dict[str, Callable[[int], Awaitable[object]]],
    calls: int,
    warmup: int,
) -> dict[str, list[float]]:
    """Async :func:`interleaved`."""
    n = len(setup.queries)
    shuffle = random.Random(0).shuffle
    names = list(sides)
    for i in range(warmup):
        for name in names:
            await sides[name](i % n)
    gc.collect()
    times: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for i in range(calls):
        k = i % n
        shuffle(names)
        for name in names:
            fn = sides[name]
            start = clock()
            await fn(k)
            times[name].append(clock() - start)
    return times


def time_stream(chunks: Iterator[Any]) -> tuple[float, float]:
    """(time to the first non-empty chunk, time to the end) of a stream, in seconds."""
    start = time.perf_counter()
    first = 0.0
    for chunk in chunks:
        if not first and chunk.content:
            first = time.perf_counter() - start
    return first, time.perf_counter() - start


def solo(fn: Callable[[int], object], n_queries: int, calls: int, warmup: int) -> list[float]:
    """Seconds per call of ``fn(i)`` over the query mix."""
    for i in range(warmup):
        fn(i % n_queries)
    gc.collect()
    out: list[float] = []
    clock = time.perf_counter
    for i in range(calls):
        start = clock()
        fn(i % n_queries)
        out.append(clock() - start)
    return out


# -- the cases ----------------------------------------------------------------------------------


def _timeout_default(setup: Setup) -> float | None:
    defaults = getattr(setup.router, "defaults", None)
    return getattr(defaults, "timeout_s", None)


def bare_graph(setup: Setup) -> Any:
    """The floor for any router built as this one is: a plain LangGraph graph with the same
    supersteps (four that pass state on, then one that calls the model), no logic at all."""
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class BareState(TypedDict, total=False):
        k: int
        step: int
        answer: Any

    graph = StateGraph(BareState)
    previous = START
    for name in ("prepare", "classify_domain", "assess_complexity", "learned", "select_model"):
        graph.add_node(name, lambda state: {"step": state.get("step", 0) + 1})
        graph.add_edge(previous, name)
        previous = name
    graph.add_node(
        "model",
        lambda state: {"answer": setup.model_for(state["k"]).invoke(setup.queries[state["k"]])},
    )
    graph.add_edge(previous, "model")
    graph.add_edge("model", END)
    return graph.compile()


def bench_invoke(setup: Setup, calls: int, warmup: int) -> tuple[list[Case], float | None]:
    """The invoke rows, and what the model-call timeout's thread hop costs (None: no timeout)."""
    router, queries = setup.router, setup.queries
    bare = bare_graph(setup)
    sides: dict[str, Callable[[int], object]] = {
        "direct": lambda k: setup.model_for(k).invoke(queries[k]),
        "routed": lambda k: router.invoke(queries[k]),
        "bare_graph": lambda k: bare.invoke({"k": k}),
    }
    timeout = _timeout_default(setup)
    if timeout:
        # The same call without the per-call timeout, which runs the model on a worker thread.
        sides["no_timeout"] = lambda k: router.invoke(queries[k], timeout_s=None)
    times, idx = interleaved(setup, sides, calls, warmup)
    d, r = times["direct"], times["routed"]
    cases = [Case("invoke", Stats.of(d), Stats.of(r))]
    for label, is_long in (("invoke short", False), ("invoke long", True)):
        keep = [
            j for j, k in enumerate(idx) if (len(queries[k].split()) >= LONG_QUERY_WORDS) == is_long
        ]
        if keep:
            cases.append(
                Case(
                    label,
                    Stats.of([d[j] for j in keep]),
                    Stats.of([r[j] for j in keep]),
                    note=f"{'>=' if is_long else '<'} {LONG_QUERY_WORDS} words",
                )
            )
    cases.append(
        Case(
            "bare 5-step LangGraph graph",
            cases[0].direct,
            Stats.of(times["bare_graph"]),
            note="the floor: same supersteps, no logic",
        )
    )
    hop = None
    if "no_timeout" in times:
        no_timeout = Stats.of(times["no_timeout"])
        hop = cases[0].routed.median_ms - no_timeout.median_ms
        cases.append(
            Case(
                "invoke, timeout_s=None",
                cases[0].direct,
                no_timeout,
                note=f"default is {timeout:g}: no thread hop",
            )
        )
    return cases, hop


def bench_ainvoke(setup: Setup, calls: int, warmup: int) -> Case:
    router, queries = setup.router, setup.queries

    async def direct(k: int) -> AIMessage:
        return await setup.model_for(k).ainvoke(queries[k])

    async def routed(k: int) -> AIMessage:
        return await router.ainvoke(queries[k])

    times = asyncio.run(ainterleaved(setup, {"direct": direct, "routed": routed}, calls, warmup))
    return Case("ainvoke", Stats.of(times["direct"]), Stats.of(times["routed"]))


def bench_stream(setup: Setup, calls: int, warmup: int) -> list[Case]:
    """Sync and async streaming: time to the first token and to the end of the stream."""
    router, queries = setup.router, setup.queries
    firsts: dict[str, list[float]] = {}
    totals: dict[str, list[float]] = {}

    def record(side: str, first: float, total: float) -> None:
        firsts.setdefault(side, []).append(first)
        totals.setdefault(side, []).append(total)

    def sync_side(side: str) -> Callable[[int], object]:
        def run(k: int) -> None:
            source = (
                setup.model_for(k).stream(queries[k])
                if side == "direct"
                else router.stream(queries[k])
            )
            record(side, *time_stream(source))

        return run

    def async_side(side: str) -> Callable[[int], Awaitable[object]]:
        async def run(k: int) -> None:
            source = (
                setup.model_for(k).astream(queries[k])
                if side == "adirect"
                else router.astream(queries[k])
            )
            start = time.perf_counter()
            first = 0.0
            async for chunk in source:
                if not first and chunk.content:
                    first = time.perf_counter() - start
            record(side, first, time.perf_counter() - start)

        return run

    interleaved(setup, {s: sync_side(s) for s in ("direct", "routed")}, calls, warmup)
    asyncio.run(
        ainterleaved(setup, {s: async_side(s) for s in ("adirect", "arouted")}, calls, warmup)
    )
    # Drop the warm-up calls, which record() also saw.
    firsts = {k: v[-calls:] for k, v in firsts.items()}
    totals = {k: v[-calls:] for k, v in totals.items()}
    chunks = sum(1 for c in setup.model_for(0).stream(queries[0]) if c.content)
    note = f"{chunks} chunks/answer"
    return [
        Case("stream TTFT", Stats.of(firsts["direct"]), Stats.of(firsts["routed"])),
        Case("stream total", Stats.of(totals["direct"]), Stats.of(totals["routed"]), note=note),
        Case("astream TTFT", Stats.of(firsts["adirect"]), Stats.of(firsts["arouted"])),
        Case("astream total", Stats.of(totals["adirect"]), Stats.of(totals["arouted"])),
    ]


def bench_route(setup: Setup, calls: int, warmup: int) -> Case:
    router, queries, texts, tokens = setup.router, setup.queries, setup.texts, setup.tokens
    classifier, policy = router.classifier, router.policy

    def bare(k: int) -> object:
        c = classifier.classify([texts[k]])[0]
        return policy.decide(c, input_tokens=tokens[k])

    sides: dict[str, Callable[[int], object]] = {
        "direct": bare,
        "routed": lambda k: router.route(queries[k]),
    }
    times, _ = interleaved(setup, sides, calls, warmup)
    return Case(
        "route",
        Stats.of(times["direct"]),
        Stats.of(times["routed"]),
        direct_label="classifier + Policy.decide, no graph",
        note="direct = classify+decide",
    )


def bench_breakdown(
    setup: Setup, invoke: Case, floor: Case, hop_ms: float | None, calls: int, warmup: int
) -> dict[str, float]:
    """Median ms per call of each piece of the router's own work, and LangGraph's remainder."""
    router, queries, texts, tokens = setup.router, setup.queries, setup.texts, setup.tokens
    classifier, policy = router.classifier, router.policy
    n = len(queries)
    classifications = [classifier.classify([t])[0] for t in texts]
    decisions = [
        policy.decide(c, input_tokens=tok) for c, tok in zip(classifications, tokens, strict=True)
    ]
    answers = [setup.model_for(k).invoke(queries[k]) for k in range(n)]
    context = RouterContext()
    condition: Callable[[Classification, RouterContext], Classification] | None = getattr(
        routing_decide, "condition", None
    )
    finalise: Callable[..., AIMessage] | None = getattr(graph_metadata, "finalise", None)

    def bookkeeping(k: int) -> object:
        # What the prepare, assess_complexity, model and review nodes do besides classifying,
        # deciding and calling the model (mirrors graph/nodes.py; skips what a refactor removed).
        messages, attachments = normalise_input(queries[k])
        classification_text(messages, attachments)
        estimate_message_tokens(list(messages))
        if condition is not None:
            condition(classifications[k], context)
        answer = answers[k]
        usage = answer.usage_metadata or {"input_tokens": 0, "output_tokens": 0}
        spec = router.catalog[decisions[k].model]
        attempt = Attempt(
            model=spec.name,
            ok=True,
            latency_ms=0.1,
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            cost_usd=attempt_cost(spec, usage["input_tokens"], usage["output_tokens"]),
        )
        if finalise is not None:
            finalise(answer, decisions[k], [attempt])
        return attempt

    sides: dict[str, Callable[[int], object]] = {
        "classifier": lambda k: classifier.classify([texts[k]]),
        "policy": lambda k: policy.decide(classifications[k], input_tokens=tokens[k]),
        "node_code": bookkeeping,
    }
    times, _ = interleaved(setup, sides, calls, warmup)
    clf, pol, own = (statistics.median(times[s]) * 1000 for s in sides)
    hop = hop_ms or 0.0
    overhead = invoke.overhead_ms
    return {
        "overhead_median_ms": overhead,
        "rules_classifier_ms": clf,
        "policy_decide_ms": pol,
        "router_node_code_ms": own,
        "timeout_thread_hop_ms": hop,
        "langgraph_machinery_ms": overhead - clf - pol - own - hop,
        "langgraph_floor_ms": floor.overhead_ms,
        "langgraph_router_shape_ms": overhead - clf - pol - own - hop - floor.overhead_ms,
    }


def profile_invoke(setup: Setup, calls: int, top: int = 15) -> dict[str, Any]:
    """cProfile the routed invoke path: the top functions and the time per package."""
    router, queries = setup.router, setup.queries
    n = len(queries)
    for i in range(50):
        router.invoke(queries[i % n])
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(calls):
        router.invoke(queries[i % n])
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in raw.values()) or 1.0

    def package(filename: str) -> str:
        for marker in ("site-packages/", "smartroute_graph/"):
            if marker in filename:
                tail = filename.split(marker, 1)[1]
                if marker == "smartroute_graph/":
                    return "smartroute_graph." + tail.split("/", 1)[0].removesuffix(".py")
                return tail.split("/", 1)[0].removesuffix(".py")
        if filename.startswith("~") or filename.startswith("<"):
            return "builtins/C"
        return "stdlib"

    by_package: dict[str, float] = {}
    for (filename, _, _), (_, _, tt, _, _) in raw.items():
        key = package(filename)
        by_package[key] = by_package.get(key, 0.0) + tt
    shares = {
        k: round(100 * v / total, 1)
        for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])
        if v / total >= 0.01
    }
    rows = sorted(raw.items(), key=lambda kv: -kv[1][3])
    hot = [
        {
            "function": f"{Path(fn).name}:{line}({name})",
            "cumulative_ms_per_call": round(ct * 1000 / calls, 4),
            "own_ms_per_call": round(tt * 1000 / calls, 4),
            "calls_per_invoke": round(nc / calls, 1),
        }
        for (fn, line, name), (_, nc, tt, ct, _) in rows
        if "bench_graph_overhead" not in fn and name != "<lambda>"
    ][:top]
    by_own = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    hot_own = [
        {
            "function": f"{Path(fn).name}:{line}({name})",
            "own_ms_per_call": round(tt * 1000 / calls, 4),
            "calls_per_invoke": round(nc / calls, 1),
        }
        for (fn, line, name), (_, nc, tt, _, _) in by_own
    ]
    return {
        "calls": calls,
        "profiled_ms_per_call": round(total * 1000 / calls, 3),
        "own_time_share_by_package_pct": shares,
        "top_cumulative": hot,
        "top_own": hot_own,
    }


# -- output ---------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def render(results: Results) -> None:
    headers = [
        "case",
        "direct med",
        "direct p99",
        "routed med",
        "routed p99",
        "overhead med",
        "overhead p99",
        "ratio",
        "note",
    ]
    rows = [
        [
            c.name,
            _fmt(c.direct.median_ms),
            _fmt(c.direct.p99_ms),
            _fmt(c.routed.median_ms),
            _fmt(c.routed.p99_ms),
            _fmt(c.overhead_ms),
            _fmt(c.overhead_p99_ms),
            f"{c.ratio:.1f}x",
            c.note,
        ]
        for c in results.cases
    ]
    b = results.breakdown
    over = b["overhead_median_ms"] or 1.0
    breakdown_rows = [
        [label, _fmt(b[key]), f"{100 * b[key] / over:.0f}%"]
        for label, key in (
            ("rules classifier (classify, no cache)", "rules_classifier_ms"),
            ("Policy.decide", "policy_decide_ms"),
            (
                "router node code (input, tokens, conditioning, record, finalise)",
                "router_node_code_ms",
            ),
            ("model-call timeout: worker-thread hop", "timeout_thread_hop_ms"),
            ("LangGraph/LangChain machinery (the rest), of which:", "langgraph_machinery_ms"),
            ("  a bare graph with the same 5 supersteps (the floor)", "langgraph_floor_ms"),
            (
                "  this graph's shape: reducers, conditional edges, context, config",
                "langgraph_router_shape_ms",
            ),
            ("total invoke overhead (median)", "overhead_median_ms"),
        )
    ]
    env = results.environment
    title = (
        f"smartroute-graph overhead: {results.calls} calls per case (+{results.warmup} warm-up), "
        f"{len(QUERIES)} queries, times in ms; python {env['python']}, {env['cpus']} CPUs, "
        f"load {env['load_avg_1m_at_start']}, langgraph {env['langgraph']}, "
        f"langchain-core {env['langchain-core']}"
    )
    invoke = results.case("invoke")
    verdict = (
        f"target (invoke overhead median < {TARGET_OVERHEAD_MS:g} ms): "
        f"{'MET' if results.target_met else 'NOT MET'} ({invoke.overhead_ms:.3f} ms)"
    )
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        _render_plain(title, headers, rows, breakdown_rows, verdict, results.profile)
        return
    console = Console(width=max(160, Console().width))
    table = Table(title=title, title_justify="left")
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i in (0, len(headers) - 1) else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    parts = Table(title="where the invoke overhead goes (median ms per call)", title_justify="left")
    parts.add_column("part")
    parts.add_column("ms", justify="right")
    parts.add_column("share", justify="right")
    for row in breakdown_rows:
        parts.add_row(*row)
    console.print(parts)
    console.print(verdict, style="bold green" if results.target_met else "bold red")
    if results.profile:
        _render_profile_rich(console, results.profile)


def _render_profile_rich(console: Any, profile: dict[str, Any]) -> None:
    from rich.table import Table

    shares = ", ".join(f"{k} {v}%" for k, v in profile["own_time_share_by_package_pct"].items())
    console.print(
        f"cProfile of routed invoke ({profile['calls']} calls, "
        f"{profile['profiled_ms_per_call']} ms/call under the profiler); own time by package: "
        f"{shares}"
    )
    for key, title in (("top_cumulative", "top cumulative"), ("top_own", "top own time")):
        table = Table(title=title, title_justify="left")
        cols = list(profile[key][0])
        for col in cols:
            table.add_column(col, justify="left" if col == "function" else "right")
        for row in profile[key]:
            table.add_row(*(str(row[c]) for c in cols))
        console.print(table)


def _render_plain(
    title: str,
    headers: list[str],
    rows: list[list[str]],
    breakdown_rows: list[list[str]],
    verdict: str,
    profile: dict[str, Any],
) -> None:
    def table(hdr: list[str], body: list[list[str]]) -> None:
        widths = [max(len(str(x)) for x in col) for col in zip(hdr, *body, strict=True)]
        print("  ".join(h.ljust(w) for h, w in zip(hdr, widths, strict=True)))
        print("  ".join("-" * w for w in widths))
        for row in body:
            print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))

    print(title)
    table(headers, rows)
    print("\nwhere the invoke overhead goes (median ms per call)")
    table(["part", "ms", "share"], breakdown_rows)
    print("\n" + verdict)
    if profile:
        print(f"\ncProfile own time by package: {profile['own_time_share_by_package_pct']}")
        for key in ("top_cumulative", "top_own"):
            cols = list(profile[key][0])
            print()
            table(cols, [[str(r[c]) for c in cols] for r in profile[key]])


# -- main -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per case (>= 1)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed calls first")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.add_argument(
        "--classifier-cache",
        action="store_true",
        help="keep the rules classifier's LRU cache on (the query mix repeats, so it always hits)",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        type=int,
        const=300,
        default=0,
        metavar="N",
        help="also cProfile N routed invokes (default 300) and show the hotspots",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the invoke target is not met"
    )
    args = parser.parse_args(argv)
    if args.calls < 1 or args.warmup < 0:
        parser.error("--calls must be >= 1 and --warmup >= 0")

    setup = make_setup(args.classifier_cache)
    results = Results(args.calls, args.warmup, args.classifier_cache, environment())
    started = time.perf_counter()
    invoke_cases, hop_ms = bench_invoke(setup, args.calls, args.warmup)
    results.cases.extend(invoke_cases)
    results.cases.append(bench_ainvoke(setup, args.calls, args.warmup))
    results.cases.extend(bench_stream(setup, args.calls, args.warmup))
    results.cases.append(bench_route(setup, args.calls, args.warmup))
    results.breakdown = bench_breakdown(
        setup,
        results.case("invoke"),
        results.case("bare 5-step LangGraph graph"),
        hop_ms,
        args.calls,
        args.warmup,
    )
    if args.profile:
        results.profile = profile_invoke(setup, args.profile)
    results.environment["wall_s"] = round(time.perf_counter() - started, 1)

    render(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results.to_json(), indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 1 if args.check and not results.target_met else 0


if __name__ == "__main__":
    sys.exit(main())
