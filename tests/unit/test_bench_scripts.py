"""The benchmark scripts run end to end on tiny settings (their figures are not checked:
timings belong to bench/, not to tests)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_llm_classifier_bench_writes_its_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "llm.json"
    assert load("bench_llm_classifier").main(["--calls", "20", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["decision, cache hit"]["median_ms"] < figures["decision, cache off"]["median_ms"]
    assert "the classifier's own overhead" in capsys.readouterr().out


def test_llm_classifier_bench_real_row_needs_a_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert load("bench_llm_classifier").main(["--calls", "5", "--real"]) == 0
    assert "--real needs OPENAI_API_KEY" in capsys.readouterr().out


def test_graph_overhead_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    load("bench_graph_overhead").main(["--calls", "5", "--warmup", "2", "--json", str(out)])
    assert out.is_file() and json.loads(out.read_text())


def test_learned_overhead_bench_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "learned.json"
    args = ["--outcomes", "600", "--decisions", "5", "--writes", "5", "--corpus", "40"]
    assert load("bench_learned").main([*args, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["decision"]["median_ms"] > 0 and figures["sqlite_write"]["median_ms"] > 0
    assert "SQLite store write" in capsys.readouterr().out


def test_learned_eval_skips_without_the_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load("eval_learned")
    module.EVAL_DIR = tmp_path  # type: ignore[attr-defined]
    assert module.main([]) == 0
    assert "skipped" in capsys.readouterr().out


def test_telemetry_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "telemetry.json"
    args = ["--requests", "8", "--block", "4", "--concurrency", "4", "--json", str(out)]
    assert load("bench_telemetry").main(args) == 0
    figures = json.loads(out.read_text())
    assert figures["/route with telemetry"]["requests"] == 8
    assert figures["/test-selection ratio"]["cpu"] > 0
