"""Threshold calibration: targets, the fit/held-out split, the config it writes."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import yaml

from smartroute_graph import SmartRouter, load_config
from smartroute_graph.core.taxonomy import DOMAINS
from smartroute_graph.evaluation.calibrate import (
    CalibrationError,
    _Problem,
    calibrate,
    parse_target,
    write_config,
)
from smartroute_graph.evaluation.command import main
from smartroute_graph.evaluation.datasets import load_dataset
from smartroute_graph.evaluation.runner import RouteSettings, decide
from tests.support.eval_data import ScriptedClassifier, write_jsonl


def test_parse_target() -> None:
    target = parse_target("strong-share<=0.3")
    assert (target.metric, target.op, target.value) == ("strong-share", "<=", 0.3)
    assert parse_target(" quality >= 95% ").value == pytest.approx(0.95)
    assert parse_target("under_routed<=0.05").metric == "under-routed"
    assert target.met(0.3) and not target.met(0.31)
    assert str(target) == "strong-share<=0.3"
    for bad, message in (
        ("strong-share < 0.3", "cannot read target"),
        ("latency<=0.3", "unknown target metric"),
        ("quality>=1.5", r"\[0, 1\]"),
    ):
        with pytest.raises(CalibrationError, match=message):
            parse_target(bad)


def gain_table(tmp_path: Path, n: int = 80) -> tuple[Path, dict[str, tuple[str, float, float]]]:
    """Prompts whose complexity score says how much the strong model gains on them."""
    rows, script = [], {}
    rng = np.random.default_rng(3)
    for i in range(n):
        score = (i + 0.5) / n
        prompt = f"q{i}"
        script[prompt] = (DOMAINS[i % 5], score, float(rng.uniform(0.5, 1.0)))
        weak = 1.0 if rng.random() > score else 0.0  # harder prompts: the weak model fails
        rows.append({"id": prompt, "prompt": prompt, "scores": {"strong": 1.0, "weak": weak}})
    return write_jsonl(tmp_path / "gain.jsonl", rows), script


def test_fast_model_of_the_policy_matches_the_real_one(tmp_path: Path) -> None:
    path, script = gain_table(tmp_path)
    dataset = load_dataset(path)
    router = SmartRouter.from_preset("openai", classifier=ScriptedClassifier(script))
    classifications = router.classifier.classify([r.text for r in dataset.rows])
    problem = _Problem(router, dataset, classifications)
    idx = np.arange(len(dataset.rows))
    ladder = list(router.catalog.ladder)
    for cutoffs, threshold in itertools.product(
        [None, (0.0, 1.0), (0.3, 0.6), (0.5, 0.5), (1.0, 1.0)], [0.0, 0.35, 0.7]
    ):
        settings = RouteSettings(cutoffs, threshold)
        real = [
            ladder.index(decide(router, row, c, settings)[0].model)
            for row, c in zip(dataset.rows, classifications, strict=True)
        ]
        assert problem.ranks(idx, cutoffs, threshold).tolist() == real, (cutoffs, threshold)


def test_strong_share_budget_is_met_held_out(tmp_path: Path) -> None:
    path, script = gain_table(tmp_path, n=200)
    router = SmartRouter.from_preset("openai", classifier=ScriptedClassifier(script))
    result = calibrate(router, load_dataset(path), parse_target("strong-share<=0.3"), seed=0)
    assert result.fit_rows == 100 and result.held_out_rows == 100
    assert result.feasible_on_fit and result.fit["strong-share"] <= 0.3
    assert result.met_on_held_out
    # within the budget it keeps quality well above always-weak's on the held-out rows
    weak_only = 1 - np.mean([(i + 0.5) / 200 for i in range(200)])
    assert result.held_out["quality"] > weak_only
    assert result.complexity_cutoffs is not None
    assert not result.notes  # the real policy agreed with the fast model
    data = result.to_dict()
    assert data["met_on_held_out"] is True and data["target"] == "strong-share<=0.3"


def test_quality_target_on_labels_minimises_strong_calls(tmp_path: Path) -> None:
    rows, script = [], {}
    for i in range(60):
        complexity = ("simple", "moderate", "complex")[i % 3]
        prompt = f"l{i}"
        score = {"simple": 0.1, "moderate": 0.55, "complex": 0.9}[complexity] + (i % 7) / 100
        script[prompt] = ("knowledge", score, 0.95)
        rows.append({"prompt": prompt, "domain": "knowledge", "complexity": complexity})
    path = write_jsonl(tmp_path / "labels.jsonl", rows)
    router = SmartRouter.from_preset("openai", classifier=ScriptedClassifier(script))
    dataset = load_dataset(path)
    # fitted right at the edge, 1 of 30 fit rows may be under-routed: held out it misses
    edge = calibrate(router, dataset, parse_target("quality>=0.95"))
    assert edge.fit["under-routed"] > 0 and not edge.met_on_held_out
    # with a margin the fit leaves no prompt under-routed, and the held-out rows meet it
    result = calibrate(router, dataset, parse_target("quality>=0.95"), margin=0.05)
    assert result.fit["under-routed"] == 0.0
    assert result.met_on_held_out
    assert result.held_out["under-routed"] <= 0.05
    # simple prompts (a third) can stay on the cheapest model
    assert result.held_out["strong-share"] < 0.8


def test_targets_the_data_cannot_measure(tmp_path: Path) -> None:
    domain_only = write_jsonl(
        tmp_path / "d.jsonl", [{"prompt": f"x{i}", "domain": "math"} for i in range(10)]
    )
    router = SmartRouter.from_preset(
        "openai", classifier=ScriptedClassifier({f"x{i}": ("math", 0.5, 0.9) for i in range(10)})
    )
    with pytest.raises(CalibrationError, match="cannot be measured"):
        calibrate(router, load_dataset(domain_only), parse_target("quality>=0.9"))
    with pytest.raises(CalibrationError, match="strong/weak outcome table"):
        calibrate(router, load_dataset(domain_only), parse_target("pgr>=0.5"))
    # a strong-share budget works on domain-only labels (it spends up to the budget)
    result = calibrate(router, load_dataset(domain_only), parse_target("strong-share<=0.5"))
    assert result.fit["strong-share"] <= 0.5
    mm = write_jsonl(
        tmp_path / "mm.jsonl",
        [{"prompt": "x0", "scores": {"a": 1, "b": 0, "c": 1}, "costs": {"a": 1, "b": 1, "c": 1}}],
    )
    with pytest.raises(CalibrationError, match="multi-model"):
        calibrate(router, load_dataset(mm), parse_target("strong-share<=0.5"))
    tiny = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "x0", "domain": "math"}] * 3)
    with pytest.raises(CalibrationError, match="too few"):
        calibrate(router, load_dataset(tiny), parse_target("strong-share<=0.5"))


def test_written_config_loads_and_keeps_the_base(tmp_path: Path) -> None:
    path, script = gain_table(tmp_path)
    router = SmartRouter.from_preset("openai", classifier=ScriptedClassifier(script))
    result = calibrate(router, load_dataset(path), parse_target("strong-share<=0.4"))
    base = tmp_path / "base.yaml"
    base.write_text(
        yaml.safe_dump({"preset": "openai", "timeout_s": 30, "policy": {"max_attempts": 2}})
    )
    out = write_config(result, tmp_path / "out" / "router.yaml", base=base)
    text = out.read_text()
    assert text.startswith("# written by `smartroute calibrate` for target strong-share<=0.4")
    config = load_config(out)
    assert config.settings["timeout_s"] == 30 and config.settings["max_attempts"] == 2
    assert config.settings["confidence_threshold"] == pytest.approx(result.confidence_threshold)
    assert config.settings["complexity_cutoffs"] == result.complexity_cutoffs


def test_calibrate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"prompt": p, "domain": d, "complexity": c}
        for p, d, c in [
            ("hi there!", "chat", "simple"),
            ("What is the capital of France?", "knowledge", "simple"),
            ("Write a Python function to reverse a list", "coding", "simple"),
            ("Prove that there are infinitely many primes", "math", "complex"),
            ("Design a distributed rate limiter for 1M requests per second", "coding", "complex"),
            ("Summarise this paragraph: the cat sat on the mat all day.", "text", "simple"),
            ("Write a haiku about autumn", "creative", "simple"),
            ("Explain how vaccines train the immune system", "knowledge", "moderate"),
        ]
    ] * 3
    path = write_jsonl(tmp_path / "mine.jsonl", rows)
    out = tmp_path / "router.yaml"
    code = main(
        [
            "calibrate",
            str(path),
            "--classifier",
            "rules",
            "--target",
            "strong-share<=0.5",
            "--out",
            str(out),
            "--json",
            str(tmp_path / "cal.json"),
        ]
    )
    printed = capsys.readouterr().out
    assert code in (0, 1)  # 1 = the held-out rows missed the target; said in the output
    assert "held-out check: strong-share<=0.5" in printed and f"wrote {out}" in printed
    assert load_config(out).classifier == "rules"
    assert main(["calibrate", str(path), "--target", "speed>=1"]) == 2
    assert "unknown target metric" in capsys.readouterr().err
