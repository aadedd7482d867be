"""The shape of a routed call's trace, captured offline from LangSmith's client requests."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.tracers import LangChainTracer

from smartroute_graph import SmartRouter
from smartroute_graph.graph.tracing import (
    annotate_router_run,
    annotate_run,
    decision_metadata,
    decision_tags,
)
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.testing import FakeChatModel
from tests.support.classifiers import StubClassifier
from tests.support.fakes import OPENAI_MODELS, fake_models
from tests.support.langsmith import RecordingSession, recording_client

NODES = ("prepare", "classify_domain", "assess_complexity", "learned", "select_model")


class Trace:
    """The runs a tracer sent, merged from their POST (start) and PATCH (end) bodies."""

    def __init__(self, session: RecordingSession) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        for method, url, body in session.calls:
            assert "/runs" in url, url
            run_id = body.get("id") or url.rsplit("/", 1)[-1]
            merged = self.runs.setdefault(run_id, {})
            merged.update({k: v for k, v in body.items() if v is not None})
            merged.setdefault("methods", []).append(method)

    @property
    def root(self) -> dict[str, Any]:
        roots = [r for r in self.runs.values() if not r.get("parent_run_id")]
        assert len(roots) == 1, roots
        return roots[0]

    def children(self, run: dict[str, Any]) -> list[str]:
        return [r["name"] for r in self.runs.values() if r.get("parent_run_id") == run["id"]]

    def named(self, name: str) -> dict[str, Any]:
        return next(r for r in self.runs.values() if r["name"] == name)


def tracer() -> tuple[LangChainTracer, RecordingSession]:
    session = RecordingSession()
    return LangChainTracer(client=recording_client(session), project_name="tests"), session


def math_router(**models: FakeChatModel) -> SmartRouter:
    fakes: dict[str, FakeChatModel] = fake_models()
    for name in OPENAI_MODELS:
        fakes[name] = models.get(name.replace("-", "_").replace(".", "_")) or fakes[name]
    return SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("math", "moderate")
    )


def test_routed_call_is_one_trace_with_the_decision_on_its_root() -> None:
    t, session = tracer()
    config_metadata = {"user_id": "u1"}
    answer = math_router().invoke(
        "What is 17% of 240?", config={"callbacks": [t], "metadata": config_metadata}
    )
    t.wait_for_futures()
    trace = Trace(session)
    root = trace.root
    assert root["name"] == "smartroute" and root["methods"] == ["POST", "PATCH"]
    assert set(NODES) | {"o4-mini"} <= set(trace.children(root))
    assert "review" not in trace.children(root)
    # the chat model's own run sits under its node
    assert trace.children(trace.named("o4-mini")) == ["FakeChatModel"]
    meta = root["extra"]["metadata"]
    route = answer.response_metadata["smartroute"]
    assert meta["smartroute_domain"] == "math" == route["domain"]
    assert meta["smartroute_complexity"] == "moderate"
    assert meta["smartroute_model"] == "o4-mini" == route["model"]
    assert meta["smartroute_confidence"] == route["confidence"]
    assert meta["smartroute_cost_usd"] == route["cost_usd"] > 0
    assert meta["smartroute_reason"] == route["reason"]
    assert meta["smartroute_escalated"] is False
    assert meta["user_id"] == "u1"  # the caller's metadata is kept
    assert {"smartroute", "domain:math", "complexity:moderate", "model:o4-mini"} <= set(
        root["tags"]
    )
    # only the router's run carries the decision; the nodes' runs do not
    assert "smartroute_domain" not in trace.named("prepare")["extra"]["metadata"]
    # and the caller's config dict was not touched
    assert config_metadata == {"user_id": "u1"}


def test_escalated_call_is_tagged_with_the_model_that_answered() -> None:
    t, session = tracer()
    broken = FakeChatModel(error=ConnectionError("connection reset"), model_name="o4-mini")
    answer = math_router(o4_mini=broken).invoke("What is 17% of 240?", config={"callbacks": [t]})
    t.wait_for_futures()
    root = Trace(session).root
    answered = answer.response_metadata["smartroute"]["model"]
    assert answered != "o4-mini"
    meta = root["extra"]["metadata"]
    assert meta["smartroute_model"] == answered
    assert meta["smartroute_selected_model"] == "o4-mini"
    assert meta["smartroute_escalated"] is True
    assert f"model:{answered}" in root["tags"] and "escalated" in root["tags"]
    assert "model:o4-mini" not in root["tags"]
    assert {"o4-mini", answered, "review"} <= set(Trace(session).children(root))


def test_async_call_and_two_calls_do_not_mix() -> None:
    t, session = tracer()
    fakes = fake_models(responses=["ok"])
    chat = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    code = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("coding", "complex")
    )
    config = {"callbacks": [t], "tags": ["caller"]}
    asyncio.run(chat.ainvoke("hi!", config=config))  # type: ignore[arg-type]
    code.invoke("write a compiler", config=config)  # type: ignore[arg-type]
    t.wait_for_futures()
    trace = Trace(session)
    roots = sorted(
        (r for r in trace.runs.values() if not r.get("parent_run_id")),
        key=lambda r: r["dotted_order"],
    )
    assert len(roots) == 2
    first, second = (set(r["tags"]) for r in roots)
    assert {"caller", "domain:chat", "model:gpt-4.1-nano"} <= first
    assert {"caller", "domain:coding", "model:o4-mini"} <= second
    assert not first & {"domain:coding", "model:o4-mini"}
    assert config["tags"] == ["caller"]


def test_dry_run_trace_has_no_model_node() -> None:
    t, session = tracer()
    router = math_router()
    router.graph.invoke(
        {"query": "What is 17% of 240?"}, {"callbacks": [t]}, context=RouterContext(dry_run=True)
    )
    t.wait_for_futures()
    trace = Trace(session)
    assert set(trace.children(trace.root)) == set(NODES)
    meta = trace.root["extra"]["metadata"]
    assert meta["smartroute_model"] == "o4-mini" and "smartroute_cost_usd" not in meta


def test_without_a_tracer_nothing_is_annotated() -> None:
    decision = math_router().route("What is 17% of 240?")
    assert annotate_router_run(decision) == 0  # outside a node
    assert annotate_router_run(decision, config={"callbacks": None}) == 0


def test_metadata_and_tags_of_a_decision() -> None:
    decision = math_router().route("What is 17% of 240?")
    meta = decision_metadata(decision, dry_run=True)
    assert meta["smartroute_dry_run"] is True and meta["smartroute_domain"] == "math"
    assert all(not isinstance(v, dict | list) for v in meta.values())  # filterable scalars
    tags = decision_tags(
        {"domain": "math", "complexity": "complex", "model": "x", "escalated": True}
    )
    assert tags == ["smartroute", "domain:math", "complexity:complex", "model:x", "escalated"]

    class Run:
        def __init__(self) -> None:
            self.extra: dict[str, Any] = {"metadata": {"keep": 1}}
            self.tags: list[str] = ["mine", "model:old"]

    run = Run()
    shared_extra, shared_tags = run.extra, run.tags
    annotate_run(run, {"domain": "math", "model": "new"})
    assert run.extra["metadata"] == {
        "keep": 1,
        "smartroute_domain": "math",
        "smartroute_model": "new",
    }
    assert run.tags == ["mine", "smartroute", "domain:math", "model:new"]
    # new containers: whatever shared the old ones is unchanged
    assert shared_extra == {"metadata": {"keep": 1}} and shared_tags == ["mine", "model:old"]
