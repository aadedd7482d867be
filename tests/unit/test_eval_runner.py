"""The evaluation runner, its figures and the `eval` command, on tiny hand-made sets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smartroute_graph import SmartRouter
from smartroute_graph.evaluation.analysis import analyse, score_multi_model
from smartroute_graph.evaluation.command import main
from smartroute_graph.evaluation.datasets import EvalDataError, load_dataset
from smartroute_graph.evaluation.metrics import expected_calibration_error
from smartroute_graph.evaluation.report import print_report, to_jsonable, write_plot
from smartroute_graph.evaluation.runner import RouteSettings, route_dataset
from tests.support.eval_data import ScriptedClassifier, write_jsonl

# prompt -> (domain the classifier says, complexity_score, domain probability)
SCRIPT = {
    "p1": ("creative", 0.9, 0.9),
    "p2": ("math", 0.8, 0.9),
    "p3": ("math", 0.2, 0.9),
    "p4": ("chat", 0.1, 0.9),
}


def router_for(script: dict[str, tuple[str, float, float]]) -> SmartRouter:
    return SmartRouter.from_preset("openai", classifier=ScriptedClassifier(script))


@pytest.fixture
def strong_weak(tmp_path: Path) -> Path:
    weak = [0.0, 0.0, 1.0, 1.0]
    strong = [1.0, 1.0, 1.0, 0.0]
    return write_jsonl(
        tmp_path / "sw.jsonl",
        [
            {"id": f"r{i}", "prompt": f"p{i + 1}", "scores": {"big": s, "small": w}}
            for i, (w, s) in enumerate(zip(weak, strong, strict=True))
        ],
    )


def test_strong_weak_figures_by_hand(strong_weak: Path) -> None:
    classifier = ScriptedClassifier(SCRIPT)
    router = SmartRouter.from_preset("openai", classifier=classifier)
    run = route_dataset(load_dataset(strong_weak), router, batch_size=3)
    report = analyse(run)
    sw = report["strong_weak"]
    assert (sw["weak_model"], sw["strong_model"]) == ("small", "big")
    assert (sw["weak"], sw["strong"]) == (0.5, 0.75)
    rows = {r["name"]: r for r in sw["rows"]}
    # complexity order p1 p2 p3 p4 is the oracle's: PGR 0, 1, 2, 2, 1 at shares 0 .. 1
    complexity = rows["router: complexity_score"]
    assert complexity["apgr"] == pytest.approx(1.375)
    assert complexity["cpt50"] == pytest.approx(0.125)
    assert complexity["primary"] is True
    # domain-aware: + P(coding|math|reasoning) = .933 for math, .05 otherwise -> p2 p3 p1 p4
    assert rows["router: domain-aware score"]["apgr"] == pytest.approx(1.125)
    assert rows["oracle"]["apgr"] == pytest.approx(1.375)
    assert 0.3 < rows["random (mean of 20)"]["apgr"] < 0.7
    # the openai policy: p1 creative/complex -> gpt-4.1, p2 math/complex -> o4-mini (strong);
    # p3 math/simple and p4 chat/simple -> gpt-4.1-nano
    policy = next(r for r in sw["rows"] if r["kind"] == "policy")
    assert policy["share"] == 0.5 and policy["quality"] == 1.0 and policy["pgr"] == 2.0
    traffic = report["traffic"]
    assert traffic["models"]["gpt-4.1-nano"]["count"] == 2
    assert traffic["strong_share"] == 0.5
    assert traffic["estimated_cost_usd"] == pytest.approx(
        sum(d.estimated_cost_usd for d in run.decisions)
    )
    assert traffic["latency_ms"]["median"] > 0 and traffic["latency_ms"]["mode"] == "batch"
    assert run.routed[0].classification is not None
    # batches of 3: the classifier saw 3 then 1 prompts
    assert classifier.calls == [3, 1]


def test_per_query_routing_matches_batch(strong_weak: Path) -> None:
    dataset = load_dataset(strong_weak)
    router = router_for(SCRIPT)
    for settings in (RouteSettings(), RouteSettings((0.15, 0.85), 0.5)):
        batch = route_dataset(dataset, router, settings=settings)
        single = route_dataset(dataset, router, settings=settings, per_query=True)
        assert [d.model for d in batch.decisions] == [d.model for d in single.decisions]
        assert [d.complexity for d in batch.decisions] == [d.complexity for d in single.decisions]
        assert [d.reason for d in batch.decisions] == [d.reason for d in single.decisions]
        assert single.mode == "per-query" and single.routed[0].classification is None
    # the cut-offs move p3 (.2) to moderate -> math/moderate -> o4-mini
    cut = route_dataset(dataset, router, settings=RouteSettings((0.15, 0.85)))
    assert cut.decisions[2].complexity == "moderate" and cut.decisions[2].model == "o4-mini"


def test_labels_figures_by_hand(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "labels.jsonl",
        [
            {"prompt": "p1", "domain": "creative", "complexity": "complex", "source": "x"},
            {"prompt": "p2", "domain": "math", "complexity": "complex", "source": "x"},
            {"prompt": "p3", "domain": "coding", "complexity": "simple", "source": "y"},
            {"prompt": "p4", "domain": "chat", "complexity": "moderate", "source": "y"},
        ],
    )
    run = route_dataset(load_dataset(path), router_for(SCRIPT))
    labels = analyse(run)["labels"]
    domain = labels["domain"]
    assert domain["accuracy"] == 0.75
    assert domain["per_source"] == {"x": {"n": 2, "accuracy": 1.0}, "y": {"n": 2, "accuracy": 0.5}}
    # coding was predicted as math: F1 coding 0, math 2/3, creative 1, chat 1
    assert domain["macro_f1"] == pytest.approx((0 + 2 / 3 + 1 + 1) / 4)
    assert domain["per_class"]["math"]["precision"] == 0.5
    confusion = domain["confusion"]
    assert confusion["rows"] == ["coding", "math", "creative", "chat"]
    assert confusion["matrix"][0][confusion["cols"].index("math")] == 1
    assert domain["ece"] == pytest.approx(
        expected_calibration_error([0.9] * 4, [True, True, False, True])
    )
    complexity = labels["complexity"]
    assert complexity["accuracy"] == 0.75  # p4 is moderate, predicted simple
    assert complexity["accuracy_given_gold_domain"] == 0.75
    vs_gold = labels["routing_vs_gold"]
    # gold picks: creative/complex gpt-4.1 (same), math/complex o4-mini (same),
    # coding/simple nano vs nano (same), chat/moderate nano vs nano (same)
    assert vs_gold["same_model"] == 1.0 and vs_gold["under_routed"] == 0.0


def multi_model_table(tmp_path: Path) -> Path:
    costs = {"a": 0.1, "b": 0.2, "c": 0.4}
    scores = [
        {"a": 1.0, "b": 1.0, "c": 1.0},
        {"a": 0.0, "b": 1.0, "c": 1.0},
        {"a": 0.0, "b": 0.0, "c": 1.0},
        {"a": 0.0, "b": 0.0, "c": 0.0},
    ]
    return write_jsonl(
        tmp_path / "mm.jsonl",
        [{"prompt": f"q{i + 1}", "scores": s, "costs": costs} for i, s in enumerate(scores)],
    )


MM_SCRIPT = {
    "q1": ("knowledge", 0.1, 0.9),
    "q2": ("knowledge", 0.4, 0.9),
    "q3": ("knowledge", 0.9, 0.9),
    "q4": ("knowledge", 0.6, 0.9),
}


def test_multi_model_figures_by_hand(tmp_path: Path) -> None:
    run = route_dataset(load_dataset(multi_model_table(tmp_path)), router_for(MM_SCRIPT))
    mm = analyse(run)["multi_model"]
    baselines = {b["name"]: b for b in mm["baselines"]}
    assert baselines["always cheapest (a)"] == {
        "name": "always cheapest (a)",
        "cost": pytest.approx(0.1),
        "quality": 0.25,
    }
    assert baselines["best single model (c)"]["quality"] == 0.75
    assert baselines["always most expensive (c)"]["cost"] == pytest.approx(0.4)
    oracle = baselines["oracle (cheapest best model per prompt)"]
    # q1 -> a, q2 -> b, q3 -> c, q4 (all zero) -> a
    assert oracle["quality"] == 0.75 and oracle["cost"] == pytest.approx(0.2)
    ladder = mm["ladder"]
    assert ladder["models"] == ["a", "b", "c"]
    # ranks by score: q1 0, q2 .25, q4 .5, q3 .75 -> bands a, a, b, c at alpha .5
    op = ladder["operating_point"]
    assert op["quality"] == 0.5 and op["cost"] == pytest.approx(0.2)
    assert op["shares"] == {"a": 0.5, "b": 0.25, "c": 0.25}
    curve = ladder["curve"]
    assert (curve["x"][0], curve["y"][0]) == (pytest.approx(0.1), 0.25)  # alpha 0: all a
    assert (curve["x"][-1], curve["y"][-1]) == (pytest.approx(0.4), 0.75)  # alpha 1: all c
    assert mm["random_mix_hull"]["x"] == pytest.approx([0.1, 0.2, 0.4])
    assert "policy_table" not in mm  # 4 rows are too few to fit a table on


def test_policy_table_is_fitted_on_one_part_and_measured_on_the_other(tmp_path: Path) -> None:
    rows, script = [], {}
    for i in range(40):
        coding = i % 2 == 0
        prompt = f"{'code' if coding else 'chat'}{i}"
        script[prompt] = ("coding" if coding else "chat", 0.9, 0.9)
        scores = {"a": 0.0 if coding else 1.0, "b": 1.0, "c": 1.0}
        rows.append({"prompt": prompt, "scores": scores, "costs": {"a": 0.1, "b": 0.2, "c": 0.4}})
    dataset = load_dataset(write_jsonl(tmp_path / "t.jsonl", rows))
    run = route_dataset(dataset, router_for(script))
    table = score_multi_model(run, fit_fraction=0.5, seed=1)["policy_table"]
    assert table["fit_rows"] == 20 and table["test_rows"] == 20
    strict = table["points"][0]
    assert strict["tolerance"] == 0.0
    # coding -> b (a fails there), chat -> a: full quality, cheaper than the best single (b)
    assert strict["quality"] == 1.0
    assert set(m for m, v in strict["shares"].items() if v) == {"a", "b"}
    assert table["best_single_on_test"]["model"] == "b"
    assert table["quality_at_best_single_cost"] == 1.0
    assert table["cost_ratio_to_match_best_single"] < 1.0
    with pytest.raises(EvalDataError, match="fit fraction"):
        score_multi_model(run, fit_fraction=1.0)


def test_report_prints_and_plots_every_kind(strong_weak: Path, tmp_path: Path) -> None:
    import io

    pytest.importorskip("matplotlib")
    labels = write_jsonl(tmp_path / "l.jsonl", [{"prompt": "p1", "domain": "creative"}])
    for path, script in (
        (strong_weak, SCRIPT),
        (labels, SCRIPT),
        (multi_model_table(tmp_path), MM_SCRIPT),
    ):
        report = analyse(route_dataset(load_dataset(path), router_for(script)))
        out = io.StringIO()
        print_report(report, out)
        text = out.getvalue()
        assert "router's picks" in text and "decision latency median" in text
        png = write_plot(report, tmp_path / f"{path.stem}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        json.dumps(to_jsonable(report), allow_nan=False)  # strict JSON


def test_eval_command_writes_json_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    path = write_jsonl(
        tmp_path / "probes.jsonl",
        [
            {"prompt": "Write a Python function that reverses a list", "domain": "coding"},
            {"prompt": "What is 17% of 240?", "domain": "math"},
            {"prompt": "Write a short poem about the sea", "domain": "creative"},
        ],
    )
    out_json, out_png = tmp_path / "r" / "report.json", tmp_path / "r" / "plot.png"
    code = main(
        [
            "eval",
            str(path),
            "--classifier",
            "rules",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "accuracy" in printed and "macro-F1" in printed and f"wrote {out_json}" in printed
    report = json.loads(out_json.read_text())
    assert report["dataset"]["kind"] == "labels" and report["labels"]["domain"]["n"] == 3
    assert report["router"]["classifier"] == "rules"
    assert out_png.stat().st_size > 1000


def test_eval_command_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "nope.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    mm = write_jsonl(tmp_path / "mm.jsonl", [{"prompt": "q", "scores": {"a": 1, "b": 0, "c": 1}}])
    assert main(["eval", str(mm)]) == 2
    assert "--prices" in capsys.readouterr().err
    labels = write_jsonl(tmp_path / "l.jsonl", [{"prompt": "q", "domain": "math"}])
    assert main(["eval", str(labels), "--cutoffs", "0.9,0.1"]) == 2
    assert "LOW <= HIGH" in capsys.readouterr().err
    assert main(["eval", str(labels), "--classifier", "no-such-backend"]) == 2
    assert "no-such-backend" in capsys.readouterr().err


def test_plotting_is_imported_lazily() -> None:
    code = (
        "import sys, smartroute_graph.evaluation.command, smartroute_graph.evaluation.report, "
        "smartroute_graph.evaluation.analysis; print('matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
