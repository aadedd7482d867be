"""The training pipeline: data loading and its errors; a tiny end-to-end training run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smartroute_graph.core.errors import SmartRouteError
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS
from smartroute_graph.training.calibration import fit_temperature
from smartroute_graph.training.command import DEFAULT_CORPUS, add_parser
from smartroute_graph.training.data import (
    Example,
    TrainingDataError,
    augment,
    auto_label,
    check_labelled,
    load_examples,
    stratified_split,
)

TEMPLATES = {
    "coding": "write a python function that {} and add unit tests",
    "math": "solve for x: {} x + 3 = 17, show the steps",
    "reasoning": "logic puzzle: if every {} is a bloop, which statement must be true?",
    "creative": "write a short poem about {} in the style of a sonnet",
    "knowledge": "explain the history of {} and why it matters",
    "text": "summarise this paragraph in one sentence: {} was discussed at length.",
    "chat": "hey there! how is your day going, any thoughts on {}?",
}
WORDS = ["apples", "rivers", "sorting", "graphs", "mountains", "coffee", "trains", "stars"]


def _write_corpus(folder: Path, per_pair: int = 4) -> Path:
    """A small labelled corpus slice: the real corpus when present, else templated rows."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    real = sorted(DEFAULT_CORPUS.glob("*.jsonl"))
    if len({p.stem for p in real}) == len(DOMAINS):
        for path in real:
            counts: dict[str, int] = {}
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                if counts.get(row["complexity"], 0) < per_pair:
                    counts[row["complexity"]] = counts.get(row["complexity"], 0) + 1
                    rows.append(row)
    else:
        for d, template in TEMPLATES.items():
            for c in COMPLEXITIES:
                for i in range(per_pair):
                    word = WORDS[(i + len(c)) % len(WORDS)]
                    rows.append(
                        {"prompt": template.format(word) + " " + c, "domain": d, "complexity": c}
                    )
    path = folder / "slice.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_loads_corpus_rows_with_history(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        json.dumps(
            {
                "id": "x",
                "prompt": "now in Rust",
                "domain": "coding",
                "complexity": "simple",
                "lang": "en",
                "history": ["sort a list in Go"],
            }
        )
        + "\n\n",
        encoding="utf-8",
    )
    (ex,) = load_examples(path)
    assert ex.text == "now in Rust\n\n(previous message: sort a list in Go)"
    assert (ex.domain, ex.complexity, ex.lang) == ("coding", "simple", "en")


def test_loads_older_shapes(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(
        '{"text": "hi", "label": "chat"}\n{"text": "2+2", "label": "math/simple"}\n'
        '{"text": "prove it", "label": "hard"}\n',
        encoding="utf-8",
    )
    (tmp_path / "b.csv").write_text("Prompt,Label\nwrite a haiku,creative\n", encoding="utf-8")
    (tmp_path / "c.json").write_text('[{"query": "x", "label": "o4-mini"}]', encoding="utf-8")
    got = [(e.domain, e.complexity) for e in load_examples(tmp_path)]
    assert got == [
        ("chat", None),
        ("math", "simple"),
        (None, "complex"),
        ("creative", None),
        (None, "complex"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "bad.jsonl",
            '{"prompt": "ok", "domain": "math"}\n{not json\n',
            "line 2 is not valid JSON",
        ),
        ("bad.jsonl", '{"prompt": "x", "domain": "cooking"}\n', "unknown domain 'cooking'"),
        ("bad.jsonl", '{"prompt": "x", "label": "banana"}\n', "label 'banana'"),
        ("bad.jsonl", '{"domain": "math"}\n', "no prompt text"),
        ("bad.csv", "a,b\n1,2\n", "needs a prompt column"),
        ("bad.txt", "hello\n", "unsupported file type"),
        ("bad.jsonl", '{"prompt": "x", "complexity": "extreme"}\n', "unknown complexity"),
    ],
)
def test_bad_training_files_give_clear_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TrainingDataError, match=message) as info:
        load_examples(path)
    assert isinstance(info.value, SmartRouteError) and isinstance(info.value, ValueError)


def test_missing_path_and_unlabelled_rows(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="does not exist"):
        load_examples(tmp_path / "nope.jsonl")
    with pytest.raises(TrainingDataError, match="--auto-label"):
        check_labelled([Example(text="hello")] * 10)


def test_auto_label_with_rules_fills_only_missing_labels() -> None:
    from smartroute_graph.classifiers.rules import RulesClassifier

    rows = [
        Example(text="def f(x): return x  # fix this python bug"),
        Example(text="write a poem", domain="creative"),
    ]
    out = auto_label(rows, RulesClassifier())
    assert all(e.domain in DOMAINS and e.complexity in COMPLEXITIES for e in out)
    assert out[1].domain == "creative"


def test_stratified_split_keeps_every_group() -> None:
    rows = [
        Example(text=f"{d}{c}{i}", domain=d, complexity=c)
        for d in DOMAINS
        for c in COMPLEXITIES
        for i in range(10)
    ]
    train, val = stratified_split(rows, 0.2, seed=1)
    assert len(val) == 42 and len(train) == 168
    assert {(e.domain, e.complexity) for e in val} == {(e.domain, e.complexity) for e in rows}
    assert not {e.text for e in train} & {e.text for e in val}


def test_augment_adds_marked_copies() -> None:
    rows = [
        Example(
            text="Hello there, what is the capital of Peru?",
            domain="knowledge",
            complexity="simple",
        )
    ] * 20
    out = augment(rows, factor=1.0, seed=0)
    assert len(out) > 20 and all(e.augmented for e in out[20:])


def test_temperature_fit_recovers_overconfidence() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 3000)
    true_logits = rng.normal(size=(3000, 3))
    true_logits[np.arange(3000), labels] += 1.0
    t = fit_temperature(true_logits * 4.0, labels)  # 4x overconfident
    assert t == pytest.approx(4.0, rel=0.15)


def test_train_command_reports_bad_data_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "domain": "cooking"}\n', encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", str(bad), "--out", str(tmp_path / "m")])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "unknown domain 'cooking'" in err and "Traceback" not in err


def test_train_tiny_model_end_to_end_save_reload_same_predictions(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from smartroute_graph.classifiers.encoder import EncoderClassifier
    from smartroute_graph.training.trainer import TrainConfig, train

    data = _write_corpus(tmp_path / "data")
    result = train(
        TrainConfig(
            data=[str(data)],
            out=str(tmp_path / "model"),
            base="scratch",
            layers=1,
            hidden=32,
            vocab_size=400,
            max_len=48,
            epochs=2,
            batch_size=16,
            augment=0.0,
            quantize=False,
            val_fraction=0.25,
            name="tiny",
            threads=1,
            keep_fp32=str(tmp_path / "fp32" / "model_fp32.onnx"),
        )
    )
    folder = result.folder
    # --keep-fp32 writes the float32 graph as well (here model.onnx is float32 too: the same)
    import onnxruntime as ort

    feed = {
        "input_ids": np.array([[2, 5, 7, 3]], dtype=np.int64),
        "attention_mask": np.ones((1, 4), dtype=np.int64),
    }
    kept = ort.InferenceSession(str(tmp_path / "fp32" / "model_fp32.onnx")).run(None, feed)
    shipped = ort.InferenceSession(str(folder / "model.onnx")).run(None, feed)
    for a, b in zip(kept, shipped, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for name in ("model.onnx", "tokenizer.json", "labels.json", "metrics.json", "MODEL_CARD.md"):
        assert (folder / name).is_file(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0.0 <= metrics["validation"]["domain_macro_f1"] <= 1.0
    assert metrics["temperatures"]["domain"] > 0

    texts = [
        "write a python function to sort a list",
        "hi, how are you?",
        "solve 3x + 2 = 11",
        "summarise this: the meeting moved to Friday.",
    ]
    reloaded = EncoderClassifier(folder, cache_size=0)
    dom, cx = reloaded.predict_logits(texts)
    from smartroute_graph.classifiers.encoder import encode_texts
    from smartroute_graph.training.trainer import _pad

    ids = encode_texts(reloaded._tokenizer, texts, reloaded.spec)
    result.model.eval()
    with torch.inference_mode():
        for i, row in enumerate(ids):
            d, c = result.model(*_pad(torch, [row], reloaded.spec.pad_id))
            np.testing.assert_allclose(d.numpy()[0], dom[i], atol=1e-4)
            np.testing.assert_allclose(c.numpy()[0], cx[i], atol=1e-4)
    again = EncoderClassifier(folder).classify(texts)
    assert [c.to_json_dict() for c in again] == [c.to_json_dict() for c in reloaded.classify(texts)]


# -- labels from outcomes ------------------------------------------------------------------


def _outcome_rows(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "outcomes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_outcome_rows_get_complexity_from_the_score_gap(tmp_path: Path) -> None:
    from smartroute_graph.training.data import OutcomeLabels

    path = _outcome_rows(
        tmp_path,
        [
            {"prompt": "weak did as well", "scores": {"big": 0.9, "small": 0.9}},
            {"prompt": "weak did better", "scores": {"big": 0.2, "small": 0.6}},
            {"prompt": "a small gap", "scores": {"big": 0.8, "small": 0.75}},
            {"prompt": "a large gap", "scores": {"big": 1, "small": 0}},
            {
                "prompt": "labelled rows keep their label",
                "complexity": "moderate",
                "scores": {"big": 1, "small": 0},
                "domain": "math",
            },
        ],
    )
    examples = load_examples(path, OutcomeLabels(strong="big", weak="small", margin=0.1))
    assert [ex.complexity for ex in examples] == [
        "simple",
        "simple",
        "moderate",
        "complex",
        "moderate",
    ]
    assert examples[-1].domain == "math" and examples[0].domain is None  # auto-label fills it
    # Without outcome labels the scores are ignored.
    assert load_examples(path)[0].complexity is None


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ({"big": 1.0}, "no numeric score for 'small' (the row scores 'big')"),
        ({"big": 1.0, "small": "good"}, "no numeric score for 'small'"),
        ([1, 0], "'scores' must be an object"),
        ({"big": float("nan"), "small": 0.0}, "score for 'big' must be in [0, 1]"),
        ({"big": 7, "small": 3}, "score for 'big' must be in [0, 1], got 7"),
    ],
)
def test_bad_outcome_rows_name_the_line(tmp_path: Path, scores: Any, message: str) -> None:
    from smartroute_graph.training.data import OutcomeLabels

    path = _outcome_rows(tmp_path, [{"prompt": "q", "scores": scores}])
    with pytest.raises(TrainingDataError, match="line 1") as info:
        load_examples(path, OutcomeLabels(strong="big", weak="small"))
    assert message in str(info.value)


def test_train_command_checks_the_outcome_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _outcome_rows(tmp_path, [{"prompt": "q", "scores": {"big": 1, "small": 0}}])
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    out = str(tmp_path / "m")
    args = parser.parse_args(["train", str(path), "--out", out, "--strong", "big"])
    assert args.func(args) == 2
    assert "need both --strong and --weak" in capsys.readouterr().err
    args = parser.parse_args(["train", str(path), "--out", out, "--strong", "a", "--weak", "a"])
    assert args.func(args) == 2
    assert "strong and weak are both 'a'" in capsys.readouterr().err
    args = parser.parse_args(["train", str(path), "--out", out, "--outcome-margin", "0.3"])
    assert args.func(args) == 2
    assert "--outcome-margin needs --strong and --weak" in capsys.readouterr().err


def test_training_data_from_outcomes_with_auto_labelled_domains(tmp_path: Path) -> None:
    from smartroute_graph.training.data import OutcomeLabels
    from smartroute_graph.training.trainer import TrainConfig, _prepare_data

    rows = [
        {"prompt": f"{template.format(i=i)}", "scores": {"big": gap, "small": 0.0}}
        for i in range(12)
        for template, gap in (
            ("Write a Python function that reverses list number {i}", 0.0),
            ("Prove that there are infinitely many primes of the form 4k+{i}", 1.0),
        )
    ]
    config = TrainConfig(
        data=[str(_outcome_rows(tmp_path, rows))],
        out=str(tmp_path / "m"),
        outcomes=OutcomeLabels(strong="big", weak="small"),
        auto_label="rules",
        val_fraction=0.25,
    )
    examples, train_set, val_set = _prepare_data(config)
    assert len(examples) == 24 and train_set and val_set
    assert all(ex.domain is not None for ex in examples)
    for ex in examples:
        expected = "simple" if ex.text.startswith("Write a Python") else "complex"
        assert ex.complexity == expected, ex.text


# -- the second older router's label files ------------------------------------------------

# Its files label each prompt with the model that should answer it (its five OpenRouter names).
SECOND_SYSTEM_ROWS = [
    (f"hi there, how is your day going {i}?", "mistral-small") for i in range(6)
] + [
    (f"what is the capital of country number {i}?", "gemini-flash") for i in range(6)
] + [
    (f"write a python function that parses log file format {i} and add tests", "qwen")
    for i in range(6)
] + [
    (f"summarise this report {i} in three bullet points: sales rose, costs fell.", "llama-3.3")
    for i in range(6)
] + [
    (f"prove that the sum of the first {i} odd numbers is a square, by induction", "deepseek-r1")
    for i in range(6)
]  # fmt: skip


def _second_system_file(tmp_path: Path) -> Path:
    path = tmp_path / "second_system.jsonl"
    path.write_text(
        "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in SECOND_SYSTEM_ROWS),
        encoding="utf-8",
    )
    return path


def test_model_labels_map_to_their_tier_on_the_preset_ladder(tmp_path: Path) -> None:
    from smartroute_graph.training.data import model_label_complexities

    openrouter = model_label_complexities("openrouter")
    assert openrouter["mistral-small"] == openrouter["gemini-flash"] == "simple"
    assert openrouter["qwen"] == openrouter["llama-3.3"] == openrouter["qwen-2.5-72b"] == "moderate"
    assert openrouter["deepseek-r1"] == openrouter["deepseek/deepseek-r1"] == "complex"
    assert "o4-mini" not in openrouter
    assert model_label_complexities()["o4-mini"] == "complex"  # any preset's, by default
    examples = load_examples(_second_system_file(tmp_path), preset="openrouter")
    expected = {"mistral-small": "simple", "gemini-flash": "simple", "qwen": "moderate",
                "llama-3.3": "moderate", "deepseek-r1": "complex"}  # fmt: skip
    assert [ex.complexity for ex in examples] == [expected[lb] for _, lb in SECOND_SYSTEM_ROWS]
    assert all(ex.domain is None for ex in examples)  # the domain comes from --auto-label
    with pytest.raises(TrainingDataError, match=r"label 'mistral-small'.*model name"):
        load_examples(_second_system_file(tmp_path), preset="openai")
    with pytest.raises(TrainingDataError, match="unknown preset"):
        load_examples(_second_system_file(tmp_path), preset="azure")


def test_smartroute_train_learns_from_a_second_system_label_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    parser = argparse.ArgumentParser(prog="smartroute")
    add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "model"
    flags = ["--base", "scratch", "--layers", "1", "--hidden", "32", "--vocab-size", "400",
             "--max-len", "32", "--epochs", "2", "--batch-size", "16", "--augment", "0",
             "--no-quantize", "--val-fraction", "0.25", "--threads", "1"]  # fmt: skip
    data = str(_second_system_file(tmp_path))
    # Without --auto-label its rows have no domain: a clear error, not a crash.
    args = parser.parse_args(["train", data, "--out", str(out), "--preset", "openrouter", *flags])
    assert args.func(args) == 2
    assert "no domain label" in capsys.readouterr().err
    args = parser.parse_args(
        ["train", data, "--out", str(out), "--preset", "openrouter", "--auto-label", "rules",
         *flags]
    )  # fmt: skip
    assert args.func(args) == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "model.onnx").is_file() and metrics["validation"]["n"] > 0
    assert metrics["config"]["preset"] == "openrouter"
    # Every row was used, with the complexity its model label stands for.
    assert metrics["data"]["n_examples"] == len(SECOND_SYSTEM_ROWS)
    counts = metrics["data"]["counts"]["domain_complexity"]
    by_complexity = {
        c: sum(n for k, n in counts.items() if k.endswith("/" + c)) for c in COMPLEXITIES
    }
    assert by_complexity == {"simple": 12, "moderate": 12, "complex": 6}
