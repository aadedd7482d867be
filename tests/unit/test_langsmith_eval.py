"""The evaluation as a LangSmith experiment: offline with no request, and the dataset upload
as the requests it would make (mocked session)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langsmith import Client

from smartroute_graph import SmartRouter
from smartroute_graph.evaluation import langsmith_eval
from smartroute_graph.evaluation.datasets import load_dataset
from smartroute_graph.evaluation.langsmith_eval import (
    LangSmithOfflineError,
    dataset_from_file,
    example_id,
    offline_client,
    run_experiment,
    to_examples,
)
from tests.unit.eval_stubs import ScriptedClassifier, write_jsonl
from tests.unit.langsmith_stubs import RecordingSession, recording_client

SCRIPT = {
    "p1": ("creative", 0.9, 0.9),
    "p2": ("math", 0.8, 0.9),
    "p3": ("math", 0.2, 0.9),
    "p4": ("chat", 0.1, 0.9),
    "p4\n\n(previous message: earlier)": ("chat", 0.1, 0.9),
}


def router() -> SmartRouter:
    return SmartRouter.from_preset("openai", classifier=ScriptedClassifier(SCRIPT))


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "labels.jsonl",
        [
            {"id": "a", "prompt": "p1", "domain": "creative", "complexity": "complex"},
            {"id": "b", "prompt": "p2", "domain": "math", "complexity": "moderate"},
            {"id": "c", "prompt": "p3", "domain": "coding", "complexity": "simple"},
            {"id": "d", "prompt": "p4", "domain": "chat", "history": ["earlier"]},
        ],
    )


@pytest.fixture
def strong_weak(tmp_path: Path) -> Path:
    weak, strong = [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]
    return write_jsonl(
        tmp_path / "sw.jsonl",
        [
            {"id": f"r{i}", "prompt": f"p{i + 1}", "scores": {"big": s, "small": w}}
            for i, (w, s) in enumerate(zip(weak, strong, strict=True))
        ],
    )


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> RecordingSession:
    """The offline client, with a session that records instead of refusing."""
    session = RecordingSession()
    monkeypatch.setattr(langsmith_eval, "offline_client", lambda: recording_client(session))
    return session


def test_offline_experiment_on_labels(labels: Path, recorded: RecordingSession) -> None:
    summary = run_experiment(load_dataset(labels), router(), experiment_prefix="unit")
    assert summary.uploaded is False and summary.examples == 4 and summary.url is None
    assert summary.experiment_name.startswith("unit")
    # p3 is coding but classified math; p4 has no complexity label
    assert summary.feedback["domain_correct"] == pytest.approx(0.75)
    assert summary.feedback["complexity_correct"] == pytest.approx(2 / 3)
    assert summary.feedback["cost"] > 0
    assert summary.summary["macro_f1"] == pytest.approx((1 + 2 / 3 + 0 + 1) / 4)
    assert summary.summary["strong_share"] == 0.5
    assert summary.summary["total_cost"] == pytest.approx(summary.feedback["cost"] * 4)
    assert recorded.calls == []  # not one request, not even a refused one


def test_offline_experiment_on_a_strong_weak_table(
    strong_weak: Path, recorded: RecordingSession
) -> None:
    summary = run_experiment(load_dataset(strong_weak), router())
    assert summary.summary["apgr"] == pytest.approx(1.375)  # as computed by hand in the runner
    assert summary.summary["cpt50"] == pytest.approx(0.125)
    assert summary.feedback["chose_strong"] == 0.5
    # p1, p2 go strong (1, 1); p3, p4 stay weak (1, 1)
    assert summary.feedback["routed_score"] == 1.0
    assert recorded.calls == []
    assert summary.to_dict()["summary"]["apgr"] == pytest.approx(1.375)


def test_offline_is_the_default_without_an_api_key(labels: Path) -> None:
    # conftest removes LANGSMITH_API_KEY; sockets are off: any request would fail the test
    summary = run_experiment(load_dataset(labels), router())
    assert summary.uploaded is False and summary.examples == 4


def test_offline_client_refuses_every_request() -> None:
    with pytest.raises(LangSmithOfflineError, match="offline evaluation tried to call"):
        offline_client().session.get("http://localhost/info")


def test_examples_have_stable_ids_and_references(labels: Path, strong_weak: Path) -> None:
    dataset = load_dataset(labels)
    first, again = to_examples(dataset), to_examples(load_dataset(labels))
    assert [e.id for e in first] == [e.id for e in again]
    assert len({e.id for e in first}) == 4
    assert first[0].inputs == {"prompt": "p1"}
    assert first[0].outputs == {"domain": "creative", "complexity": "complex"}
    assert first[3].inputs == {"prompt": "p4", "history": ["earlier"]}
    assert first[3].outputs == {"domain": "chat"}
    table = to_examples(load_dataset(strong_weak))[0]
    assert table.outputs == {
        "scores": {"big": 1.0, "small": 0.0},
        "weak_model": "small",
        "strong_model": "big",
    }


def test_dataset_from_file_makes_the_expected_requests(labels: Path) -> None:
    session = RecordingSession()
    client = recording_client(session)
    created = dataset_from_file(labels, client, "my-probes")
    assert created.name == "my-probes"
    # writes only (the client may also read, e.g. GET /sessions for the tenant of a link)
    writes = [call for call in session.calls if call[0] != "GET"]
    (m1, u1, dataset_body), (m2, u2, examples_body) = writes
    assert (m1, u1) == ("POST", "http://localhost:1984/datasets")
    assert dataset_body["name"] == "my-probes"
    assert "labels evaluation set from labels.jsonl (4 rows)" in dataset_body["description"]
    assert dataset_body["extra"]["metadata"]["smartroute_kind"] == "labels"
    assert (m2, u2) == ("POST", "http://localhost:1984/examples/bulk")
    assert [e["id"] for e in examples_body] == [
        str(example_id("my-probes", row)) for row in load_dataset(labels).rows
    ]
    assert {e["dataset_id"] for e in examples_body} == {str(created.id)}
    assert examples_body[1]["inputs"] == {"prompt": "p2"}
    assert examples_body[1]["outputs"] == {"domain": "math", "complexity": "moderate"}
    assert examples_body[1]["metadata"]["row_id"] == "b"


def test_eval_command_with_langsmith_offline(
    labels: Path, capsys: pytest.CaptureFixture[str], recorded: RecordingSession
) -> None:
    from smartroute_graph.evaluation.command import main

    assert main(["eval", str(labels), "--langsmith", "--experiment-prefix", "cli"]) == 0
    out = capsys.readouterr().out
    assert "LangSmith experiment cli" in out and "offline, not uploaded" in out
    assert "domain_correct" in out and "macro_f1" in out
    assert recorded.calls == []


def test_upload_path_creates_the_dataset_and_tags_each_target_run(
    labels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Online, with langsmith.evaluate replaced by a stand-in that traces the target into a
    recording client (no network): the dataset is created once, results are uploaded, and the
    target's run carries the decision."""
    from langsmith.run_helpers import tracing_context
    from langsmith.run_trees import RunTree

    session = RecordingSession()
    client = recording_client(session)
    monkeypatch.setattr(Client, "has_dataset", lambda self, dataset_name: False)
    seen: dict[str, Any] = {}
    target_runs: list[RunTree] = []

    class Results:
        experiment_name = "online-1234"
        url = "http://localhost:1984/o/x/datasets/y/compare?selectedSessions=z"

        def __iter__(self) -> Any:
            return iter(seen["rows"])

    def fake_evaluate(target: Any, **kwargs: Any) -> Results:
        seen.update(kwargs)
        seen["rows"] = []
        for prompt in ("p1", "p3"):
            run = RunTree(name="target", inputs={"prompt": prompt}, ls_client=client)
            with tracing_context(parent=run, client=client):
                outputs = target({"prompt": prompt})
            target_runs.append(run)
            seen["rows"].append(
                {
                    "run": type("R", (), {"error": None, "outputs": outputs})(),
                    "example": None,
                    "evaluation_results": {"results": []},
                }
            )
        return Results()

    monkeypatch.setattr(langsmith_eval, "evaluate", fake_evaluate)
    summary = run_experiment(load_dataset(labels), router(), client=client, upload=True)
    assert summary.uploaded is True and summary.experiment_name == "online-1234"
    assert summary.url and summary.url.startswith("http://localhost:1984/")
    assert seen["upload_results"] is True and seen["data"] == "smartroute-labels"
    writes = [(m, u.rsplit("/", 1)[-1]) for m, u, _ in session.calls if m != "GET"]
    assert writes[:2] == [("POST", "datasets"), ("POST", "bulk")]
    first, second = target_runs
    assert first.extra["metadata"]["smartroute_domain"] == "creative"
    assert second.extra["metadata"]["smartroute_domain"] == "math"
    assert {"domain:math", "dry-run", "model:gpt-4.1-nano"} <= set(second.tags or [])
