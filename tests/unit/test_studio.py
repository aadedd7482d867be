"""The Studio graphs (graphs/langgraph.json): they compile, draw, dry-run without keys, and
run for real when a model or a key is there; and draw_png renders without the network."""

from __future__ import annotations

import json
import logging
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph
from pydantic import SecretStr

from smartroute_graph.classifiers import ClassifierRegistry
from smartroute_graph.core.catalog import PRESETS, Catalog, ModelSpec
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.core.providers import ModelProvider
from smartroute_graph.graph import studio
from smartroute_graph.graph.build import API_KEYS_CONFIG_KEY, NODE_NAMES, build_graph
from smartroute_graph.graph.nodes import RouterNodes
from smartroute_graph.graph.studio import (
    NO_PNG_RENDERER,
    build_router_graph,
    draw_png,
    is_keyless_dry_run,
)
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.policy import Policy
from smartroute_graph.testing import FakeChatModel

ROOT = Path(__file__).resolve().parents[2]
SQRT2 = "Prove that sqrt(2) is irrational"
# Every model of the two presets: each is a node of the Studio graphs.
PRESET_MODELS = tuple(spec.name for specs in PRESETS.values() for spec in specs)
FAKE_KEY = "sk-test-0123456789abcdefghij"


class KeyedProvider(ModelProvider):
    """Resolves keys like the real provider but builds a scripted model instead of
    ChatOpenAI, so the path "a key is there → call the model" runs offline."""

    def __init__(self) -> None:
        super().__init__()
        self.built: list[tuple[str, str]] = []

    def _build(self, spec: ModelSpec, key: SecretStr) -> FakeChatModel:
        self.built.append((spec.name, key.get_secret_value()))
        return FakeChatModel(responses=[f"answer from {spec.name}"], model_name=spec.name)


@pytest.fixture(scope="module")
def graph() -> Any:
    return build_router_graph()


@pytest.fixture(scope="module")
def support_app() -> Any:
    from graphs import support_app

    return support_app


# --- the router graph -------------------------------------------------------------------


def test_router_graph_compiles_without_checkpointer_with_every_model_and_knob(graph: Any) -> None:
    assert isinstance(graph, CompiledStateGraph)
    assert graph.checkpointer is None  # `langgraph dev` refuses a graph with one
    nodes = set(graph.get_graph().nodes)
    assert {*NODE_NAMES, *PRESET_MODELS} <= nodes
    context = graph.get_context_jsonschema()
    assert {
        "preset",
        "classifier",
        "confidence_threshold",
        "budget_usd",
        "dry_run",
        "model",
    } <= set(context["properties"])


def test_router_graph_draws_every_node_and_the_fallback_edges(graph: Any) -> None:
    drawable = graph.get_graph()
    mermaid = drawable.draw_mermaid()
    for node in (*NODE_NAMES, *PRESET_MODELS):
        assert f"({node})" in mermaid, node
    edges = {(e.source, e.target) for e in drawable.edges}
    for model in PRESET_MODELS:
        assert {("select_model", model), (model, "review"), ("escalate", model)} <= edges
    assert {("review", "escalate"), ("select_model", "__end__")} <= edges


def test_dry_run_without_a_key_keeps_the_decision_and_says_why(graph: Any) -> None:
    out = graph.invoke({"query": SQRT2})
    decision = out["decision"]
    assert decision.model == "o4-mini"
    assert decision.preset == "openai"
    assert decision.reason.endswith("; no API key for openai: dry run")
    assert is_keyless_dry_run(decision)
    assert out["attempts"] == []
    assert [m.type for m in out["messages"]] == ["human"]  # no model answered


async def test_dry_run_without_a_key_async_and_with_the_other_preset(graph: Any) -> None:
    out = await graph.ainvoke({"query": SQRT2}, context=RouterContext(preset="openrouter"))
    assert out["decision"].model == "deepseek-r1"
    assert out["decision"].reason.endswith("; no API key for openrouter: dry run")
    nodes = [
        next(iter(update))
        async for update in graph.astream(
            {"query": SQRT2}, context={"preset": "openrouter"}, stream_mode="updates"
        )
    ]
    assert nodes == ["prepare", "classify_domain", "assess_complexity", "learned", "select_model"]


def test_a_requested_dry_run_is_not_blamed_on_keys(graph: Any) -> None:
    out = graph.invoke({"query": SQRT2}, context=RouterContext(dry_run=True))
    assert out["decision"].model == "o4-mini"
    assert "no API key" not in out["decision"].reason
    assert not is_keyless_dry_run(out["decision"])


def test_a_forced_model_without_a_key_is_a_dry_run_too(graph: Any) -> None:
    out = graph.invoke({"query": "hi"}, context={"model": "gpt-4.1"})
    assert out["decision"].model == "gpt-4.1"
    assert out["decision"].reason == "gpt-4.1 requested explicitly; no API key for openai: dry run"


def test_a_given_model_runs_for_real_without_a_key() -> None:
    fake = FakeChatModel(responses=["sqrt(2) = p/q leads to a contradiction"], model_name="o4")
    graph = build_router_graph(provider=ModelProvider({"o4-mini": fake}))
    out = graph.invoke({"query": SQRT2})
    assert out["response"].content == "sqrt(2) = p/q leads to a contradiction"
    assert out["decision"].model == "o4-mini"
    assert "dry run" not in out["decision"].reason
    assert [a.model for a in out["attempts"]] == ["o4-mini"] and out["attempts"][0].ok
    assert fake.calls == 1


def test_a_key_in_the_environment_runs_for_real(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    provider = KeyedProvider()
    graph = build_router_graph(provider=provider)
    out = graph.invoke({"query": SQRT2})
    assert out["response"].content == "answer from o4-mini"
    assert provider.built == [("o4-mini", FAKE_KEY)]
    assert FAKE_KEY not in json.dumps(out["decision"].model_dump())
    # The openrouter preset still has no key: that run stays a dry run.
    out = graph.invoke({"query": SQRT2}, context={"preset": "openrouter"})
    assert out["decision"].reason.endswith("no API key for openrouter: dry run")
    assert "response" not in out or out["response"] is None


async def test_a_key_sent_with_the_request_runs_for_real() -> None:
    provider = KeyedProvider()
    graph = build_router_graph(provider=provider)
    config = {"configurable": {API_KEYS_CONFIG_KEY: {"openrouter": FAKE_KEY}}}
    out = await graph.ainvoke({"query": SQRT2}, config, context={"preset": "openrouter"})
    assert out["response"].content == "answer from deepseek-r1"
    assert provider.built == [("deepseek-r1", FAKE_KEY)]
    # The same graph without the request's key is back to a dry run.
    out = await graph.ainvoke({"query": SQRT2}, context={"preset": "openrouter"})
    assert is_keyless_dry_run(out["decision"])


def test_a_custom_model_without_a_chat_model_is_a_dry_run() -> None:
    spec = ModelSpec(
        name="local-llm",
        input_price_per_m=0.0,
        output_price_per_m=0.0,
        context_window=8_000,
        tier=1,
    )
    policy = Policy(Catalog([spec]), None, name="local")
    provider = ModelProvider()
    builder = build_graph(
        RouterNodes(
            policies={"local": policy},
            classifiers=ClassifierRegistry(),
            provider=provider,
            default_preset="local",
            default_classifier="rules",
            keyless_dry_run=True,
        )
    )
    graph = builder.compile()
    out = graph.invoke({"query": "hello"})
    assert out["decision"].reason.endswith("; no chat model for local-llm: dry run")
    assert is_keyless_dry_run(out["decision"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"presets": ()}, "at least one preset"),
        ({"default_classifier": "nope"}, "unknown classifier 'nope'"),
        ({"presets": ("openai",), "default_preset": "openrouter"}, "default preset"),
    ],
)
def test_build_router_graph_rejects_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_router_graph(**kwargs)


# --- langgraph.json and the support app ----------------------------------------------------


def test_langgraph_json_points_at_compiled_graphs_without_checkpointer() -> None:
    import importlib

    config = json.loads((ROOT / "graphs" / "langgraph.json").read_text())
    assert config["dependencies"] == [".."]
    assert set(config["graphs"]) == {"smartroute", "support_app"}
    for entry in config["graphs"].values():
        module_name, _, variable = entry["path"].partition(":")
        graph = getattr(importlib.import_module(module_name), variable)
        assert isinstance(graph, CompiledStateGraph)
        assert graph.checkpointer is None


def test_support_app_draws_every_node_with_the_router_inside(support_app: Any) -> None:
    drawable = support_app.graph.get_graph(xray=True)
    mermaid = drawable.draw_mermaid()
    for node in ("guard", "finish", *NODE_NAMES, *PRESET_MODELS):
        assert f"({node})" in mermaid, node
    edges = {(e.source, e.target, e.conditional) for e in drawable.edges}
    assert ("guard", "router:prepare", True) in edges
    assert ("guard", "__end__", True) in edges
    assert ("router:__end__", "finish", False) in edges
    schemas = support_app.graph.get_input_jsonschema(), support_app.graph.get_output_jsonschema()
    assert set(schemas[0]["properties"]) == {"messages"}
    assert set(schemas[1]["properties"]) == {"messages", "decision", "status"}
    assert "budget_usd" in support_app.graph.get_context_jsonschema()["properties"]


def test_support_app_explains_a_dry_run_in_the_chat(support_app: Any) -> None:
    out = support_app.graph.invoke({"messages": [HumanMessage(f"  {SQRT2}\r\n")]})
    assert out["status"] == "dry_run"
    assert out["decision"].model == "o4-mini"
    human, reply = out["messages"]
    assert human.content == SQRT2  # tidied in place: same message, no copy
    assert isinstance(reply, AIMessage) and reply.name == "smartroute"
    assert "no API key is set" in reply.content and "o4-mini" in reply.content
    out = support_app.graph.invoke(
        {"messages": [HumanMessage(SQRT2)]}, context={"preset": "openrouter", "dry_run": True}
    )
    assert out["decision"].model == "deepseek-r1"
    assert "this run asked for a dry run" in out["messages"][-1].content


@pytest.mark.parametrize(
    ("messages", "said"),
    [
        ([HumanMessage("   ")], "empty"),
        ([SystemMessage("be brief")], "as a user message"),
        ([], "as a user message"),
        ([HumanMessage("x" * 40_000)], "the limit is 32,000"),
    ],
)
def test_support_app_guard_turns_bad_messages_away(
    support_app: Any, messages: list[Any], said: str
) -> None:
    out = support_app.graph.invoke({"messages": messages})
    assert out["status"] == "rejected"
    assert out.get("decision") is None  # the router never ran
    assert out["messages"][-1].name == "guard" and said in out["messages"][-1].content


def test_support_app_answers_with_a_model_and_keeps_turns_apart(
    support_app: Any, fakes: dict[str, FakeChatModel]
) -> None:
    router = build_router_graph(name="router", provider=ModelProvider(fakes))
    # A checkpointer here (not in Studio, which brings its own) to run several turns.
    app = support_app.build_support_app(router).compile(checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "t1"}}
    out = app.invoke({"messages": [HumanMessage(SQRT2)]}, thread)
    assert out["status"] == "answered"
    assert out["messages"][-1].content == "answer from o4-mini: all good here"
    assert [m.type for m in out["messages"]] == ["human", "ai"]
    out = app.invoke({"messages": [HumanMessage("   ")]}, thread)
    assert out["status"] == "rejected" and out.get("decision") is None
    out = app.invoke({"messages": [HumanMessage("hi!")]}, thread, context={"dry_run": True})
    assert out["status"] == "dry_run"  # not the first turn's stale "answered"
    assert out["decision"].model == "gpt-4.1-nano"
    assert len(out["messages"]) == 6


# --- draw_png ---------------------------------------------------------------------------


def test_draw_png_renders_locally_with_matplotlib(
    graph: Any, support_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("grandalf")
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(studio, "_renderers", lambda: ["matplotlib"])
    for name, target in (("router", graph), ("app", support_app.graph)):
        path = tmp_path / f"{name}.png"
        assert draw_png(target, path)  # sockets are off in unit tests: no network used
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert studio.png_renderer() is not None


def test_draw_png_says_why_when_no_renderer_is_installed(
    graph: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(studio, "_renderers", lambda: [])
    with caplog.at_level(logging.WARNING, logger="smartroute_graph.graph.studio"):
        assert draw_png(graph, tmp_path / "g.png") is False
    assert NO_PNG_RENDERER in caplog.text
    assert not (tmp_path / "g.png").exists()
    assert studio.png_renderer() is None


def test_draw_png_tries_the_next_renderer_when_one_fails(
    graph: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(drawable: Any, path: Path) -> None:
        raise OSError("renderer crashed")

    def fine(drawable: Any, path: Path) -> None:
        path.write_bytes(b"\x89PNG\r\n\x1a\n")

    monkeypatch.setattr(studio, "_renderers", lambda: ["mmdc", "pygraphviz"])
    monkeypatch.setitem(studio._RENDER, "mmdc", broken)
    monkeypatch.setitem(studio._RENDER, "pygraphviz", fine)
    with caplog.at_level(logging.WARNING, logger="smartroute_graph.graph.studio"):
        assert draw_png(graph, tmp_path / "g.png")
    assert "mmdc PNG renderer failed (OSError: renderer crashed)" in caplog.text
    monkeypatch.setitem(studio._RENDER, "pygraphviz", broken)
    assert draw_png(graph, tmp_path / "h.png") is False


def test_draw_png_hands_mermaid_to_mmdc_when_it_is_on_path(
    graph: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in mmdc that copies its mermaid input to the output: checks the handover.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mmdc = bin_dir / "mmdc"
    mmdc.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "args = sys.argv[1:]\n"
        "src, out = args[args.index('-i') + 1], args[args.index('-o') + 1]\n"
        "open(out, 'w').write(open(src).read())\n"
    )
    mmdc.chmod(mmdc.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert studio.png_renderer() == "mmdc"
    path = tmp_path / "g.png"
    assert draw_png(graph, path)
    assert "select_model" in path.read_text() and "graph TD" in path.read_text()
