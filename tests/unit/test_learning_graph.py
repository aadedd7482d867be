"""Learning from outcomes in the graph: the ``learned`` node, observations from the review and
from feedback, a failing store, the background load, the online demonstration."""

from __future__ import annotations

import importlib.util
import math
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from smartroute_graph import SmartRouter
from smartroute_graph.classifiers.encoder import EncoderClassifier
from smartroute_graph.core.errors import BudgetError, ConfigError, OutcomeStoreError
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.decide import decide
from smartroute_graph.routing.learned import LearnedDecision
from smartroute_graph.routing.observations import Observation, PendingOutcome
from smartroute_graph.routing.online import OnlineLearner, UnknownOutcomeError, prior_decides
from smartroute_graph.routing.outcomes import OutcomeStore, StoreDelta
from smartroute_graph.routing.policy import Policy
from smartroute_graph.routing.stores import open_outcome_store
from smartroute_graph.testing import FakeChatModel
from tests.support.classifiers import StubClassifier

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "learning_online.py"
CODE = "Write a Python function that reverses a string."
CHAT = "Hi! How are you doing today?"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("learning_online", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def encoder() -> EncoderClassifier:
    return EncoderClassifier()


@pytest.fixture
def models() -> dict[str, FakeChatModel]:
    """gpt-4.1-nano writes code that does not parse; the others answer well."""
    demo = _example()
    return {
        "gpt-4.1-nano": FakeChatModel(
            reply=lambda q: demo.BROKEN_CODE if "function" in q else demo.CHAT_REPLY,
            model_name="gpt-4.1-nano",
        ),
        **{
            name: FakeChatModel(
                reply=lambda q: demo.GOOD_CODE if "function" in q else demo.CHAT_REPLY,
                model_name=name,
            )
            for name in ("gpt-4.1", "o4-mini")
        },
    }


@pytest.fixture
def learning(
    tmp_path: Path, models: dict[str, FakeChatModel], encoder: EncoderClassifier
) -> Iterator[SmartRouter]:
    router = SmartRouter.from_preset(
        "openai",
        models=models,
        classifier=encoder,
        review="scorer",
        outcome_store=tmp_path / "outcomes.db",
    )
    assert router.learner is not None and router.learner.sync()
    yield router
    router.close()


def meta(message: Any) -> dict[str, Any]:
    return dict(message.response_metadata["smartroute"])


# -- the online demonstration -------------------------------------------------------------------


def test_online_demo_sends_new_coding_queries_to_a_stronger_model(tmp_path: Path) -> None:
    result = _example().run_demo(tmp_path / "outcomes.db")
    assert result["before"]["coding"] < 0.5  # the policy table sends them to gpt-4.1-nano
    assert result["after"]["coding"] >= 0.8
    assert result["after"]["chat"] == 0.0
    assert result["observations"] >= result["queries"]
    assert result["reason"].startswith("learned: ") and result["reason"].endswith("→ gpt-4.1")


# -- the learned node ---------------------------------------------------------------------------


def test_without_a_store_the_learned_node_passes(fakes: dict[str, FakeChatModel]) -> None:
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    assert router.learner is None
    out = router.graph.invoke({"query": "hello"})
    assert "learned" not in out and "embedding" not in out
    answer = router.invoke("hello")
    assert "outcome_id" not in meta(answer)
    assert meta(answer)["reason"] == "chat/simple → gpt-4.1-nano (policy table)"
    with pytest.raises(ConfigError, match="needs learning on"):
        router.record_feedback(answer, 1.0)
    with pytest.raises(ConfigError, match="needs an outcome store"):
        SmartRouter.from_preset("openai", models=fakes, learn=True)


def test_review_observations_teach_the_router(learning: SmartRouter) -> None:
    first = meta(learning.invoke(CODE))
    assert first["selected_model"] == "gpt-4.1-nano" and first["model"] == "gpt-4.1"
    assert first["reason"].startswith("learned: no outcomes of these models yet; the prior decides")
    store = learning.learner.store  # type: ignore[union-attr]
    assert store is not None
    assert {(r["model"], r["source"]) for r in store.summary()} == {
        ("gpt-4.1-nano", "review"),
        ("gpt-4.1", "review"),
    }
    for text in (
        "Write a Python function that sums a list.",
        "Write a Python function that sorts a list.",
    ):
        learning.invoke(text)
    decision = learning.route("Write a Python function that doubles every number of a list.")
    assert decision.model == "gpt-4.1"
    assert decision.reason.startswith("learned: ")
    assert "gpt-4.1-nano 0." in decision.reason and decision.reason.endswith("→ gpt-4.1")
    # the rules still apply to the learned choice: a budget only the cheapest model meets
    cheap = learning.route("Write a Python function that halves a number.", budget_usd=0.0005)
    assert (
        cheap.model == "gpt-4.1-nano" and "learned: " in cheap.reason and "budget" in cheap.reason
    )
    # per call: a tolerance of 1 takes the cheapest model; learn=False is the prior alone
    lenient = learning.route("Write a Python function that halves a number.", quality_tolerance=1.0)
    assert lenient.model == "gpt-4.1-nano" and "within 1 of the best" in lenient.reason
    prior = learning.route("Write a Python function that halves a number.", learn=False)
    assert prior.model == "gpt-4.1-nano" and not prior.reason.startswith("learned")
    n = store.count()
    answer = learning.invoke(CODE, learn=False)
    assert "outcome_id" not in meta(answer) and store.count() == n


async def test_async_runs_learn_too(learning: SmartRouter) -> None:
    answer = await learning.ainvoke(CODE)
    assert meta(answer)["outcome_id"]
    # in an event loop the writes are the learner thread's: the loop never waits on the store
    assert learning.learner is not None and learning.learner.sync()
    assert learning.record_feedback(answer, 1.0).source == "feedback"
    store = learning.learner.store
    assert store is not None and store.count(source="review") == 2
    decision = await learning.aroute("Write a Python function that sums a list.")
    assert decision.reason.startswith("learned: ") and "similar outcomes" in decision.reason


def test_decide_applies_the_rules_to_a_learned_model() -> None:
    policy = Policy.from_preset("openai")
    c = StubClassifier("chat", "simple").classify(["hi"])[0]
    learned = LearnedDecision("o4-mini", "learned: 9 similar outcomes; ... → o4-mini", *_empty())
    decision = decide(policy, c, RouterContext(), input_tokens=10, learned=learned)
    assert decision.model == "o4-mini" and decision.reason.startswith("learned: 9 similar")
    assert decision.table_model == "gpt-4.1-nano"
    with pytest.raises(BudgetError):
        decide(policy, c, RouterContext(budget_usd=1e-12), input_tokens=10, learned=learned)
    stranger = LearnedDecision("claude", "learned: ...", *_empty())
    other = decide(policy, c, RouterContext(), input_tokens=10, learned=stranger)
    assert other.model == "gpt-4.1-nano"
    assert other.reason.startswith("learned: claude is not in this catalog; the prior decides")
    waiting = prior_decides(
        "learned: loading the outcome store (in the background); the prior decides"
    )
    low = StubClassifier("chat", "simple", domain_p=0.3).classify(["hi"])[0]
    stepped = decide(policy, low, RouterContext(), input_tokens=10, learned=waiting)
    assert stepped.reason.startswith("learned: loading") and "stepped up" in stepped.reason
    forced = decide(policy, c, RouterContext(model="gpt-4.1"), input_tokens=10, learned=learned)
    assert forced.model == "gpt-4.1" and forced.reason == "gpt-4.1 requested explicitly"


def _empty() -> tuple[Any, Any]:
    decision = prior_decides("x")
    return decision.prediction, decision.operating_point


def test_learned_state_survives_a_checkpoint(learning: SmartRouter) -> None:
    for text in (
        CODE,
        "Write a Python function that sums a list.",
        "Write a Python function that sorts a list.",
    ):
        learning.invoke(text)
    graph = learning.graph_builder.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t1"}}
    graph.invoke(
        {"query": "Write a Python function that adds two numbers."},
        config,
        context=RouterContext(dry_run=True),
    )
    values = graph.get_state(config).values
    assert isinstance(values["learned"], LearnedDecision) and values["learned"].model == "gpt-4.1"
    assert isinstance(values["embedding"], list) and len(values["embedding"]) == 768
    serde = JsonPlusSerializer()
    back = serde.loads_typed(serde.dumps_typed(values["learned"]))
    assert back.model == "gpt-4.1" and back.reason == values["learned"].reason
    assert math.isclose(back.prediction.evidence, values["learned"].prediction.evidence)


# -- feedback -----------------------------------------------------------------------------------


def test_record_feedback_by_message_id_and_from_another_process(
    learning: SmartRouter,
    tmp_path: Path,
    models: dict[str, FakeChatModel],
    encoder: EncoderClassifier,
) -> None:
    answer = learning.invoke(CHAT)
    info = meta(answer)
    observation = learning.record_feedback(answer, 0.25)
    assert isinstance(observation, Observation)
    assert (observation.model, observation.score, observation.source) == (
        info["model"],
        0.25,
        "feedback",
    )
    assert observation.run_id == info["outcome_id"] and observation.cost_usd is not None
    assert learning.record_feedback(info["outcome_id"], 1.0, model="gpt-4.1").model == "gpt-4.1"
    run_id = uuid.uuid4()
    given = learning.invoke(CHAT, config={"run_id": run_id})
    assert meta(given)["outcome_id"] == str(run_id)
    # another router on the same store (another process) finds the answer in the pending table
    other = SmartRouter.from_preset(
        "openai",
        models=models,
        classifier=encoder,
        outcome_store=f"sqlite:///{tmp_path / 'outcomes.db'}",
    )
    try:
        assert other.learner is not None and other.learner.sync()
        assert other.record_feedback(run_id, 0.5).run_id == str(run_id)
    finally:
        other.close()
    store = learning.learner.store  # type: ignore[union-attr]
    assert store is not None and store.count(source="feedback") == 3
    with pytest.raises(UnknownOutcomeError, match="no answer is remembered"):
        learning.record_feedback("never-seen", 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        learning.record_feedback(answer, 1.5)
    with pytest.raises(UnknownOutcomeError, match="no outcome_id"):
        learning.record_feedback(FakeChatModel().invoke("hi"), 1.0)


def test_pending_answers_in_the_store(tmp_path: Path) -> None:
    store = open_outcome_store(tmp_path / "p.db")
    vector = np.ones(8, dtype=np.float32) / np.sqrt(8)
    old = PendingOutcome(vector, "a", cost_usd=0.1, time=time.time() - 100)
    store.add_pending("old", old, ttl_s=1000)
    store.add_pending("new", PendingOutcome(vector, "b", latency_ms=5.0), ttl_s=50)
    assert store.pending("old") is None  # older than the time-to-live: pruned
    found = store.pending("new")
    assert found is not None and found.model == "b" and found.latency_ms == 5.0
    assert np.allclose(found.embedding, vector, atol=1e-3)
    store.add([found.observation(0.5, run_id="new")])
    store.clear()
    assert store.pending("new") is None and store.count() == 0
    store.close()


# -- a failing or slow store ----------------------------------------------------------------------


def test_a_corrupt_store_leaves_the_prior_in_charge(
    tmp_path: Path, models: dict[str, FakeChatModel], encoder: EncoderClassifier
) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a database" * 100)
    router = SmartRouter.from_preset(
        "openai", models=models, classifier=encoder, review="scorer", outcome_store=path
    )
    try:
        assert router.learner is not None and router.learner.sync()
        decision = router.route(CODE)
        assert decision.model == "gpt-4.1-nano"
        assert decision.reason.startswith("learned: outcome store unavailable (")
        assert "not a readable SQLite database" in decision.reason
        assert "the prior decides; coding/simple → gpt-4.1-nano (policy table)" in decision.reason
        answer = router.invoke(CODE)  # answered and reviewed; nothing could be stored
        assert meta(answer)["model"] == "gpt-4.1"
        with pytest.raises(OutcomeStoreError):
            router.record_feedback(answer, 1.0)
    finally:
        router.close()


class _SlowStore(OutcomeStore):
    """A store whose first read waits for the test (a big store loading)."""

    def __init__(self, inner: OutcomeStore, gate: threading.Event) -> None:
        self.inner, self.gate, self.url = inner, gate, inner.url
        self.embedder = inner.embedder

    def read_since(self, cursor: Any = None) -> StoreDelta:
        self.gate.wait(10)
        return self.inner.read_since(cursor)

    def add(self, observations: Any) -> int:
        return self.inner.add(observations)

    def add_pending(self, outcome_id: str, pending: PendingOutcome, *, ttl_s: float) -> None:
        self.inner.add_pending(outcome_id, pending, ttl_s=ttl_s)

    def pending(self, outcome_id: str) -> PendingOutcome | None:
        return self.inner.pending(outcome_id)

    _connect = _begin_write = _begin_read = _schema = _describe_error = _is_db_error = None  # type: ignore[assignment]


def test_loading_a_big_store_does_not_block_a_request(
    tmp_path: Path, models: dict[str, FakeChatModel], encoder: EncoderClassifier
) -> None:
    inner = open_outcome_store(tmp_path / "slow.db")
    vector = encoder.embed([CODE])[0]
    inner.add([Observation(vector, "gpt-4.1-nano", 0.0), Observation(vector, "gpt-4.1", 1.0)] * 3)
    gate = threading.Event()
    router = SmartRouter.from_preset(
        "openai", models=models, classifier=encoder, outcome_store=_SlowStore(inner, gate)
    )
    try:
        started = time.perf_counter()
        waiting = router.route(CODE)
        assert time.perf_counter() - started < 2.0
        assert waiting.reason.startswith("learned: loading the outcome store (in the background)")
        assert waiting.model == "gpt-4.1-nano"
        gate.set()
        assert router.learner is not None and router.learner.sync()
        assert router.route(CODE).model == "gpt-4.1"
    finally:
        gate.set()
        router.close()
        inner.close()


def test_the_learner_alone(tmp_path: Path) -> None:
    learner = OnlineLearner(tmp_path / "alone.db", refresh_s=0.05)
    try:
        assert learner.sync() and learner.ready and learner.error is None
        x = np.eye(4, dtype=np.float32)[0]
        assert learner.observe([Observation(x, "small", 0.0), Observation(x, "big", 1.0)] * 3) == 6
        decision = learner.decide(x, candidates=["small", "big"], costs={"small": 1.0, "big": 2.0})
        assert decision.model == "big" and decision.reason.startswith("learned: ")
        assert learner.observe([]) == 0
    finally:
        learner.close()


def test_the_studio_graph_learns_from_a_store(tmp_path: Path) -> None:
    from smartroute_graph.graph.studio import build_router_graph

    graph = build_router_graph(presets=("openai",), outcome_store=tmp_path / "studio.db")
    out = graph.invoke({"query": CODE}, context=RouterContext(dry_run=True))
    assert out["decision"].reason.startswith("learned: ")
    assert "learned" in graph.get_graph().nodes
