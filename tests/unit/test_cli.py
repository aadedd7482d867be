from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from smartroute_graph import SmartRouter, cli
from smartroute_graph.testing import FakeChatModel
from tests.support.fakes import OPENAI_MODELS


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_route_dry_run_prints_the_decision(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "route", "--dry-run", "Prove that sqrt(2) is irrational")
    assert code == 0
    for field in ("domain", "complexity", "confidence", "model", "reason", "est. cost"):
        assert field in out
    assert "o4-mini" in out


def test_route_takes_every_per_run_setting_as_a_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The flags come from RouterContext: a setting declared there is a flag here."""
    argv = ["route", "--json", "--dry-run", "--domain", "math", "--model", "gpt-4.1"]
    code, out, _ = run(capsys, *argv, "--budget-usd", "0.5", "hello there")
    decision = json.loads(out)["decision"]
    assert code == 0 and decision["domain"] == "math" and decision["model"] == "gpt-4.1"
    code, _, err = run(capsys, "route", "--json", "--dry-run", "--budget", "1e-9", "hello")
    assert code == 2 and "no model fits the budget" in err  # the old spelling still works
    with pytest.raises(SystemExit):
        cli.main(["route", "--timeout-s", "soon", "hi"])  # typed from the declaration
    assert "--timeout-s" in capsys.readouterr().err


def test_route_without_key_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "route", "hello there")
    assert code == 0
    assert "gpt-4.1-nano" in out
    assert "OPENAI_API_KEY not set" in err and "export OPENAI_API_KEY" in err


def test_route_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "route", "--json", "--dry-run", "write a poem about the sea")
    data = json.loads(out)
    assert code == 0 and data["dry_run"] is True
    assert data["decision"]["domain"] == "creative"


def test_route_streams_the_answer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real-0000000000")
    fakes = {n: FakeChatModel(responses=[f"streamed words from {n}"]) for n in OPENAI_MODELS}
    monkeypatch.setattr(
        cli, "_router", lambda args: SmartRouter.from_preset("openai", models=fakes)
    )
    code, out, err = run(capsys, "route", "hello")
    assert code == 0
    assert out.strip() == "streamed words from gpt-4.1-nano"
    assert "chat/simple → gpt-4.1-nano" in err
    assert "sk-test" not in out + err
    code, out, _ = run(capsys, "route", "--json", "hello")
    assert json.loads(out)["smartroute"]["model"] == "gpt-4.1-nano"


def test_classify_jsonl_and_plain_lines_in_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = [json.dumps({"id": i, "prompt": f"write a haiku number {i}"}) for i in range(100)]
    lines.insert(50, "")
    lines.append("plain text: hello!")
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, out, _ = run(capsys, "classify", str(path))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 101
    assert [r.get("id") for r in rows[:100]] == list(range(100))
    assert "id" not in rows[100]
    assert set(rows[0]) == {
        "id",
        "domain",
        "domain_probs",
        "complexity",
        "complexity_probs",
        "complexity_score",
        "confidence",
    }


def test_classify_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\nsolve 2x+3=7\n"))
    code, out, _ = run(capsys, "classify", "-")
    assert code == 0 and len(out.splitlines()) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prompt": "ok"}\n{bad json\n', "line 2: not valid JSON"),
        ('{"id": 1, "text": "x"}\n', 'line 1: a JSON line needs a non-empty "prompt" string'),
    ],
)
def test_classify_bad_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    code, _, err = run(capsys, "classify", str(path))
    assert code == 2 and message in err


def test_models_and_draw(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "--preset", "openrouter", "--json")
    assert code == 0 and len(json.loads(out)) == 5
    code, out, _ = run(capsys, "draw")
    assert code == 0 and "select_model" in out and "escalate" in out


def test_bad_config_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("preset: openai\npolicy: {max_attempts: 0}\n")
    code, _, err = run(capsys, "route", "--dry-run", "--config", str(path), "hi")
    assert code == 2 and "max_attempts: Input should be greater than or equal to 1" in err


def test_compare_asks_every_model_and_marks_the_pick(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # given models need no key
    fakes = {
        "gpt-4.1-nano": FakeChatModel(responses=["Paris."]),
        "gpt-4.1": FakeChatModel(responses=["The capital of France is Paris."]),
        "o4-mini": FakeChatModel(error=TimeoutError("upstream timed out")),
    }
    monkeypatch.setattr(
        cli, "_router", lambda args: SmartRouter.from_preset("openai", models=fakes)
    )
    code, out, _ = run(capsys, "compare", "--json", "hello there")
    report = json.loads(out)
    assert code == 0
    by_model = {r["model"]: r for r in report["results"]}
    assert by_model["o4-mini"]["ok"] is False and "timed out" in by_model["o4-mini"]["error"]
    assert by_model["gpt-4.1"]["ok"] and by_model["gpt-4.1"]["score"] is not None
    assert [r["model"] for r in report["results"] if r["selected"]] == [report["decision"]["model"]]
    code, out, _ = run(capsys, "compare", "--models", "gpt-4.1-nano,gpt-4.1", "hello there")
    assert code == 0 and "★" in out and "o4-mini" not in out and "best answer:" in out


def test_compare_errors_name_the_problem(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, _, err = run(capsys, "compare", "--models", "gpt-5-turbo", "hi")
    assert code == 2 and "unknown model(s) gpt-5-turbo" in err and "gpt-4.1-nano" in err
    code, _, err = run(capsys, "compare", "hi")
    assert code == 2 and "needs OPENAI_API_KEY" in err and "--dry-run" in err
