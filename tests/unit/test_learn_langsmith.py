"""``smartroute learn --langsmith-project``: runs and feedback through a ``langsmith.Client``
whose HTTP session is a mock (no network)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from smartroute_graph.classifiers.encoder import EncoderClassifier
from smartroute_graph.cli import main
from smartroute_graph.evaluation.learn_langsmith import load_langsmith, run_text
from smartroute_graph.routing.stores import open_outcome_store
from tests.support.langsmith import RecordingSession, recording_client

PROJECT = "my-router"
PROJECT_ID = str(uuid.UUID(int=5))
RUNS = [str(uuid.UUID(int=100 + i)) for i in range(4)]


def _run(i: int, inputs: dict[str, Any], model: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"smartroute_cost_usd": 0.001 * (i + 1)}
    if model:
        metadata["smartroute_model"] = model
    return {
        "id": RUNS[i],
        "name": "smartroute",
        "run_type": "chain",
        "start_time": "2025-01-01T00:00:00",
        "end_time": "2025-01-01T00:00:01.500000",
        "trace_id": RUNS[i],
        "dotted_order": f"20250101T000000000000Z{RUNS[i]}",
        "inputs": inputs,
        "extra": {"metadata": metadata},
        "tags": ["smartroute"],
        "session_id": PROJECT_ID,
    }


LC_HUMAN = {
    "lc": 1,
    "type": "constructor",
    "id": ["langchain", "schema", "messages", "HumanMessage"],
    "kwargs": {"content": "Write a Python function that reverses a string.", "type": "human"},
}
RUN_ROWS = [
    _run(0, {"messages": [LC_HUMAN], "attachments": []}, "gpt-4.1-nano"),
    _run(1, {"query": "Hi! How are you doing today?"}, "gpt-4.1-nano"),
    _run(
        2,
        {"messages": [{"role": "user", "content": "Prove that sqrt(2) is irrational."}]},
        "o4-mini",
    ),
    _run(3, {"query": "no model recorded"}, None),
]


def _feedback(i: int, run: int, score: Any, key: str = "user_score") -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=200 + i)),
        "run_id": RUNS[run],
        "trace_id": RUNS[run],
        "key": key,
        "score": score,
        "created_at": "2025-01-01T00:00:02",
        "modified_at": "2025-01-01T00:00:02",
    }


FEEDBACK = [
    _feedback(0, 0, 0.0),
    _feedback(1, 1, True),
    _feedback(2, 2, 1),
    _feedback(3, 2, 7, key="stars"),  # not in [0, 1]: skipped
    _feedback(4, 3, 1.0),  # the run has no model: skipped
]


class LangSmithSession(RecordingSession):
    """Answers the project, run and feedback reads like LangSmith; records every call (with
    its query parameters)."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        path = str(url).split("?")[0]
        data = kwargs.get("data")
        body = json.loads(data) if isinstance(data, str | bytes) and data else None
        params = kwargs.get("params") or {}
        self.calls.append((str(method), path, body or params))
        payload: Any = {}
        if path.endswith("/sessions"):
            payload = [
                {
                    "id": PROJECT_ID,
                    "name": PROJECT,
                    "tenant_id": str(uuid.UUID(int=1)),
                    "start_time": "2025-01-01T00:00:00",
                    "reference_dataset_id": None,
                }
            ]
        elif path.endswith("/runs/query"):
            payload = {"runs": RUN_ROWS, "cursors": {"next": None}}
        elif path.endswith("/feedback"):
            keys = params.get("key")
            payload = [f for f in FEEDBACK if not keys or f["key"] in keys]
            payload = payload if not params.get("offset") else []
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(payload).encode()
        return response


def test_runs_with_feedback_become_observations(tmp_path: Path) -> None:
    session = LangSmithSession()
    store = open_outcome_store(tmp_path / "ls.db")
    counts = load_langsmith(store, EncoderClassifier(), recording_client(session), PROJECT)
    assert counts == {"runs": 4, "feedback": 5, "written": 3, "skipped": 2}
    rows = {(r["model"], r["source"]): r for r in store.summary()}
    assert set(rows) == {("gpt-4.1-nano", "langsmith"), ("o4-mini", "langsmith")}
    assert rows[("gpt-4.1-nano", "langsmith")]["n"] == 2
    assert rows[("gpt-4.1-nano", "langsmith")]["mean_score"] == 0.5
    assert rows[("o4-mini", "langsmith")]["mean_cost_usd"] == pytest.approx(0.003)
    assert rows[("o4-mini", "langsmith")]["mean_latency_ms"] == pytest.approx(1500.0)
    query = next(c for c in session.calls if c[1].endswith("/runs/query"))[2]
    assert query["session"] == [PROJECT_ID] and query["is_root"] is True
    assert 'has(tags, "smartroute")' in query["filter"]
    store.close()


def test_feedback_key_and_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    session = LangSmithSession()
    monkeypatch.setattr("langsmith.Client", lambda *a, **k: recording_client(session))
    store = tmp_path / "cmd.db"
    argv = ["learn", "--langsmith-project", PROJECT, "--feedback-key", "stars"]
    assert main([*argv, "--store", str(store), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["langsmith"] == {"runs": 4, "feedback": 1, "written": 0, "skipped": 1}
    feedback_reads = [c for c in session.calls if c[1].endswith("/feedback")]
    assert feedback_reads and all(c[2]["key"] == ["stars"] for c in feedback_reads)
    assert main(["learn", "--langsmith-project", PROJECT, "--store", str(store)]) == 0
    assert "LangSmith: 4 runs, 5 feedback, wrote 3 observations" in capsys.readouterr().out


def test_run_text_reads_the_shapes_runs_have() -> None:
    assert run_text({"query": " hello "}) == "hello"
    assert run_text({"messages": [LC_HUMAN]}) == "Write a Python function that reverses a string."
    assert run_text({"messages": [{"type": "human", "content": "hi"}]}) == "hi"
    assert run_text({}) is None and run_text(None) is None
    assert run_text({"messages": [{"weird": 1}]}) is None
