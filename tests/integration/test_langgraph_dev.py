"""`langgraph dev` serves graphs/langgraph.json: both graphs load, Studio's graph endpoint
shows every model node and fallback edge, and runs without keys end as dry runs.

Starts the real server (offline, no provider keys) on a free local port from the repo root.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smartroute_graph.core.catalog import PRESETS
from smartroute_graph.graph.build import API_KEYS_CONFIG_KEY

httpx = pytest.importorskip("httpx")

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "graphs/langgraph.json"
SQRT2 = "Prove that sqrt(2) is irrational"
# Every model of the two presets: each is a node of the Studio graphs.
PRESET_MODELS = tuple(spec.name for specs in PRESETS.values() for spec in specs)
STARTUP_TIMEOUT_S = 120.0


def _langgraph_cli() -> str | None:
    beside_python = Path(sys.executable).parent / "langgraph"
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("langgraph")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.base_url = base_url
        self.process = process
        self.log = log
        self.startup_s = 0.0
        self.client = httpx.Client(base_url=base_url, timeout=60.0)
        self._assistants: dict[str, str] = {}

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def assistant(self, graph_id: str) -> str:
        if not self._assistants:
            found = self.client.post("/assistants/search", json={"limit": 100}).json()
            self._assistants = {a["graph_id"]: a["assistant_id"] for a in found}
        return self._assistants[graph_id]

    def wait_run(self, body: dict[str, Any]) -> Any:
        response = self.client.post("/runs/wait", json=body)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cli = _langgraph_cli()
    if cli is None:
        pytest.skip('the `langgraph` CLI is not installed: pip install "langgraph-cli[inmem]"')
    import importlib.util

    if importlib.util.find_spec("langgraph_api") is None:
        pytest.skip('`langgraph dev` needs langgraph-api: pip install "langgraph-cli[inmem]"')
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "LANGSMITH_API_KEY")
    }
    env.update(
        LANGGRAPH_CLI_NO_ANALYTICS="1",
        LANGGRAPH_NO_VERSION_CHECK="true",
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
    )
    log = tmp_path_factory.mktemp("langgraph-dev") / "server.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            # --no-reload: other edits in the checkout must not restart the server mid-test.
            [cli, "dev", "--no-browser", "--no-reload", "--port", str(port), "--config", CONFIG],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the worker processes end with it
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = started + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"langgraph dev exited with {process.returncode}:\n{server.log_tail()}")
            try:
                if server.client.get("/ok", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() > deadline:
                pytest.fail(f"langgraph dev did not answer /ok within {STARTUP_TIMEOUT_S:g} s")
            time.sleep(0.1)
        server.startup_s = time.perf_counter() - started
        print(f"\nlanggraph dev answered /ok after {server.startup_s:.2f} s")
        yield server
    finally:
        server.client.close()
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    # Ctrl-C is what `langgraph dev` shuts down on; it may sit through SIGTERM.
    for sig, wait_s in ((signal.SIGINT, 15.0), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue


def _sse(response: Any) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    event, data = "", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].strip())
        elif not line and event:
            events.append((event, json.loads("\n".join(data)) if data else None))
            event, data = "", []
    return events


def test_both_graphs_are_registered(server: Server) -> None:
    found = server.client.post("/assistants/search", json={"limit": 100}).json()
    assert {a["graph_id"] for a in found} >= {"smartroute", "support_app"}
    assert server.startup_s < STARTUP_TIMEOUT_S


def test_router_graph_has_every_model_node_and_fallback_edge(server: Server) -> None:
    graph = server.client.get(f"/assistants/{server.assistant('smartroute')}/graph").json()
    nodes = {n["id"] for n in graph["nodes"]}
    assert {"prepare", "classify_domain", "assess_complexity", "learned", "select_model"} <= nodes
    assert {"review", "escalate", *PRESET_MODELS} <= nodes
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    for model in PRESET_MODELS:
        assert ("select_model", model) in edges
        assert (model, "review") in edges
        assert ("escalate", model) in edges
    assert ("review", "escalate") in edges
    assert ("select_model", "__end__") in edges


def test_studio_offers_the_router_knobs_as_context(server: Server) -> None:
    schemas = server.client.get(f"/assistants/{server.assistant('smartroute')}/schemas").json()
    knobs = set(schemas["context_schema"]["properties"])
    assert {"preset", "classifier", "confidence_threshold", "budget_usd", "dry_run"} <= knobs
    assert {"model", "max_attempts", "review"} <= knobs
    assert {"query", "messages", "attachments"} <= set(schemas["input_schema"]["properties"])


def test_a_run_without_keys_is_a_dry_run_with_the_decision(server: Server) -> None:
    assistant = server.assistant("smartroute")
    out = server.wait_run({"assistant_id": assistant, "input": {"query": SQRT2}})
    decision = out["decision"]
    assert decision["model"] == "o4-mini"
    assert decision["domain"] == "math"
    assert decision["reason"].endswith("; no API key for openai: dry run")
    assert out["attempts"] == []
    assert [m["type"] for m in out["messages"]] == ["human"]


def test_the_run_context_picks_the_preset(server: Server) -> None:
    body = {
        "assistant_id": server.assistant("smartroute"),
        "input": {"query": SQRT2},
        "context": {"preset": "openrouter"},
    }
    decision = server.wait_run(body)["decision"]
    assert decision["model"] == "deepseek-r1"
    assert decision["reason"].endswith("; no API key for openrouter: dry run")
    # langgraph-api refuses context and configurable in one run (per-request keys travel
    # in configurable) ...
    keys = {"configurable": {API_KEYS_CONFIG_KEY: {"openrouter": "sk-or-not-a-real-key"}}}
    both = server.client.post("/runs/wait", json={**body, "config": keys})
    assert both.status_code == 400 and "both configurable and context" in both.text
    # ... but without a context field it reads the knobs from configurable.
    body.pop("context")
    body["config"] = {"configurable": {"preset": "openrouter"}}
    assert server.wait_run(body)["decision"]["model"] == "deepseek-r1"


def test_the_graph_id_works_as_assistant_id(server: Server) -> None:
    out = server.wait_run({"assistant_id": "smartroute", "input": {"query": SQRT2}})
    assert out["decision"]["model"] == "o4-mini"


@pytest.mark.parametrize(
    ("preset", "model"), [("openai", "o4-mini"), ("openrouter", "deepseek-r1")]
)
def test_streaming_a_dry_run_stops_after_select_model(
    server: Server, preset: str, model: str
) -> None:
    body = {
        "assistant_id": server.assistant("smartroute"),
        "input": {"query": SQRT2},
        "context": {"preset": preset},
        "stream_mode": ["updates", "values"],
    }
    with server.client.stream("POST", "/runs/stream", json=body) as response:
        assert response.status_code == 200
        events = _sse(response)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "metadata" and "error" not in kinds
    steps = [next(iter(data)) for kind, data in events if kind == "updates"]
    assert steps == ["prepare", "classify_domain", "assess_complexity", "learned", "select_model"]
    select = next(
        data["select_model"]
        for kind, data in events
        if kind == "updates" and "select_model" in data
    )
    assert select["decision"]["model"] == model
    final = [data for kind, data in events if kind == "values"][-1]
    assert final["decision"]["reason"].endswith(f"no API key for {preset}: dry run")
    assert final["attempts"] == []


def test_support_app_runs_the_router_as_a_node(server: Server) -> None:
    assistant = server.assistant("support_app")
    graph = server.client.get(f"/assistants/{assistant}/graph", params={"xray": "true"}).json()
    nodes = {n["id"] for n in graph["nodes"]}
    assert {"guard", "finish", "router:select_model", "router:o4-mini"} <= nodes
    assert {"router:deepseek-r1", "router:review", "router:escalate"} <= nodes
    message = {"type": "human", "content": SQRT2}
    out = server.wait_run({"assistant_id": assistant, "input": {"messages": [message]}})
    assert out["status"] == "dry_run"
    assert out["decision"]["model"] == "o4-mini"
    assert "no API key is set" in out["messages"][-1]["content"]
    out = server.wait_run(
        {
            "assistant_id": assistant,
            "input": {"messages": [message]},
            "context": {"preset": "openrouter", "dry_run": True},
        }
    )
    assert out["decision"]["model"] == "deepseek-r1"
    assert "asked for a dry run" in out["messages"][-1]["content"]


def test_support_app_keeps_a_conversation_in_a_thread(server: Server) -> None:
    assistant = server.assistant("support_app")
    thread = server.client.post("/threads", json={}).json()["thread_id"]
    statuses = []
    for text in (SQRT2, "   ", "hi!"):
        response = server.client.post(
            f"/threads/{thread}/runs/wait",
            json={
                "assistant_id": assistant,
                "input": {"messages": [{"type": "human", "content": text}]},
            },
        )
        assert response.status_code == 200, response.text
        statuses.append(response.json()["status"])
    assert statuses == ["dry_run", "rejected", "dry_run"]
    state = server.client.get(f"/threads/{thread}/state").json()
    assert len(state["values"]["messages"]) == 6
    assert state["values"]["decision"]["model"] == "gpt-4.1-nano"


def test_the_same_server_answers_the_openai_compatible_api(server: Server) -> None:
    """langgraph.json mounts the HTTP app (``http.app``): the graphs and /v1 on one port."""
    health = server.client.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok" and health.json()["preset"] == "openai"
    models = server.client.get("/v1/models").json()
    assert {"smartroute", *(spec for spec in PRESET_MODELS if spec.startswith(("gpt", "o4")))} <= {
        m["id"] for m in models["data"]
    }
    decision = server.client.post("/test-selection", json={"query": SQRT2}).json()["decision"]
    # The HTTP app and the graph decide alike.
    graph_decision = server.wait_run({"assistant_id": "smartroute", "input": {"query": SQRT2}})
    assert decision["model"] == graph_decision["decision"]["model"] == "o4-mini"
    # LangGraph keeps /metrics for its own; the router's are at /smartroute/metrics.
    assert "smartroute_decisions_total" in server.client.get("/smartroute/metrics").text
    # No keys on this server: a chat completion needs one, and says so.
    body = {"model": "smartroute", "messages": [{"role": "user", "content": SQRT2}]}
    refused = server.client.post("/v1/chat/completions", json=body)
    assert refused.status_code == 401 and "OPENAI_API_KEY" in refused.text
    # LangGraph's own API is still there.
    assert server.client.get("/ok").status_code == 200
