"""``smartroute learn`` and ``smartroute eval --learn`` on small synthetic outcome tables."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from smartroute_graph.cli import main

PROMPTS = [
    "Write a Python function that reverses a linked list.",
    "Fix this SQL query: SELECT * FORM users",
    "Implement a thread-safe LRU cache in Java.",
    "Explain what a race condition is with a code example.",
    "hi there!",
    "thanks, that helped a lot",
    "good morning, how are you?",
    "tell me something fun to do this weekend",
]


def write_tables(folder: Path, n: int = 64) -> tuple[Path, Path]:
    rng = random.Random(0)
    sw, mm = folder / "sw.jsonl", folder / "mm.jsonl"
    with sw.open("w") as a, mm.open("w") as b:
        for i in range(n):
            prompt = f"{PROMPTS[i % len(PROMPTS)]} (case {i})"
            coding = i % len(PROMPTS) < 4
            weak = float(rng.random() < (0.1 if coding else 0.9))
            a.write(
                json.dumps(
                    {"id": f"r{i}", "prompt": prompt, "scores": {"weak-m": weak, "strong-m": 1.0}}
                )
                + "\n"
            )
            b.write(
                json.dumps(
                    {
                        "id": f"r{i}",
                        "prompt": prompt,
                        "scores": {"tiny": weak, "mid": float(rng.random() < 0.8), "big": 1.0},
                    }
                )
                + "\n"
            )
    prices = {
        "tiny": {"input_per_1m": 0.1, "output_per_1m": 0.4},
        "mid": {"input_per_1m": 1.0, "output_per_1m": 4.0},
        "big": {"input_per_1m": 10.0, "output_per_1m": 40.0},
    }
    (folder / "mm_prices.json").write_text(json.dumps(prices))
    return sw, mm


def test_learn_loads_inspects_and_resets_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, mm = write_tables(tmp_path, 16)
    store = tmp_path / "outcomes.db"
    assert main(["learn", str(mm), "--store", f"sqlite:///{store}", "--classifier", "fast"]) == 0
    out = capsys.readouterr().out
    assert "wrote 48 observations from 16 rows" in out
    assert "16 queries" in out and "encoder:fast" in out
    assert main(["learn", "--store", str(store), "--summary", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["store"]["observations"] == 48
    by_model = {r["model"]: r for r in result["summary"]}
    assert by_model["big"]["mean_score"] == 1.0 and by_model["big"]["mean_cost_usd"] > 0
    assert (
        main(
            [
                "learn",
                str(mm),
                "--store",
                str(store),
                "--source",
                "again",
                "--classifier",
                "fast",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["store"]["queries"] == 16  # same texts
    assert main(["learn", "--store", str(store), "--delete-source", "again"]) == 0
    assert "deleted 48 observations" in capsys.readouterr().out
    assert main(["learn", "--store", str(store), "--reset"]) == 0
    assert "0 observations" in capsys.readouterr().out
    assert main(["learn", "--store", str(store)]) == 2
    assert "learn needs" in capsys.readouterr().err


def test_learn_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"garbage" * 1000)
    assert main(["learn", "--store", str(broken), "--summary"]) == 2
    assert "not a readable SQLite database" in capsys.readouterr().err


def test_eval_learn_strong_weak_json_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    sw, _ = write_tables(tmp_path)
    out_json, out_png = tmp_path / "sw.json", tmp_path / "sw.png"
    code = main(
        [
            "eval",
            str(sw),
            "--classifier",
            "encoder:fast",
            "--learn",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
            "--quiet",
        ]
    )
    assert code == 0
    assert "learned policy" in capsys.readouterr().out
    block = json.loads(out_json.read_text())["learned"]
    assert {"apgr", "cpt50", "cpt80", "curve", "learning_curve"} <= set(block)
    assert block["folds"] == 2 and block["apgr"] > 0.6
    assert [c["feedback_fraction"] for c in block["learning_curve"]] == [0.1, 0.25, 0.5]
    assert out_png.stat().st_size > 10_000


def test_eval_learn_multi_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, mm = write_tables(tmp_path)
    out_json = tmp_path / "mm.json"
    code = main(
        [
            "eval",
            str(mm),
            "--classifier",
            "encoder:fast",
            "--learn",
            "--folds",
            "4",
            "--feedback-fraction",
            "0.5",
            "--json",
            str(out_json),
            "--quiet",
        ]
    )
    assert code == 0
    block = json.loads(out_json.read_text())["learned"]
    assert block["folds"] == 4 and block["feedback_fraction"] == 0.5
    assert all({"cost", "quality"} <= set(p) for p in block["points"])
    assert set(block["best_single_on_test"]) == {"model", "cost", "quality"}
    assert block["best_single_on_test"]["model"] == "big"
    assert block["quality_at_best_single_cost"] is not None
    capsys.readouterr()
    assert (
        main(
            [
                "eval",
                str(mm),
                "--classifier",
                "encoder:fast",
                "--learn",
                "--feedback-fraction",
                "0.9",
                "--quiet",
            ]
        )
        == 2
    )
    assert "feedback-fraction" in capsys.readouterr().err


def test_calibrate_reads_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sw, _ = write_tables(tmp_path, 48)
    store = tmp_path / "cal.db"
    assert main(["learn", str(sw), "--store", str(store), "--classifier", "fast"]) == 0
    capsys.readouterr()
    out_json = tmp_path / "cal.json"
    argv = ["calibrate", "--store", str(store), "--target", "strong-share<=0.6"]
    assert main([*argv, "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "on 48 stored queries: met" in out
    assert "operating point: quality_tolerance=" in out
    result = json.loads(out_json.read_text())
    assert result["met"] and result["strong_share"] <= 0.6 and result["knob"] == "tolerance"
    # no stored costs: the cost weight cannot be calibrated, and says why
    assert main([*argv[:3], "--target", "strong-share<=0.5", "--knob", "cost_weight"]) == 2
    assert "needs each model's cost" in capsys.readouterr().err
    assert main(["calibrate", "--target", "strong-share<=0.3"]) == 2
    assert "calibrate needs a FILE" in capsys.readouterr().err
