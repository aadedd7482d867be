"""Wrapper augmentation (training) and the wrapper measurement script (bench)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from smartroute_graph.training.data import Example
from smartroute_graph.training.wrappers import FRAMES, wrap, wrap_examples

INNER = "What is the capital of Peru?"
BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_every_frame_keeps_the_inner_task(name: str) -> None:
    rng = random.Random(0)
    for _ in range(5):
        text = FRAMES[name](INNER, rng)
        assert text != INNER
        assert INNER in text or INNER in json.dumps(text), text


def test_wrap_draws_many_shapes() -> None:
    rng = random.Random(1)
    texts = {wrap(INNER, rng) for _ in range(200)}
    assert len(texts) > 150
    assert all(INNER in t or json.dumps(INNER)[1:-1] in t for t in texts)


def test_wrap_examples_keeps_labels_and_marks_copies() -> None:
    rows = [
        Example(text=f"Prove that {i} squared is non-negative", domain="math", complexity="simple")
        for i in range(50)
    ]
    noisy = Example(text="already a copy", domain="chat", complexity="simple", augmented=True)
    out = wrap_examples([*rows, noisy], factor=1.0, seed=0)
    assert out[:51] == [*rows, noisy]
    copies = out[51:]
    assert len(copies) == 50  # one per original; augmented rows are not wrapped again
    for copy, original in zip(copies, rows, strict=True):
        assert copy.augmented and copy.text != original.text
        assert (copy.domain, copy.complexity) == (original.domain, original.complexity)
    assert wrap_examples(rows, factor=0.0) == rows


def test_measurement_templates_wrap_and_differ_from_training_frames() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from eval_wrappers import TEMPLATES
    finally:
        sys.path.remove(str(BENCH))
    assert len(TEMPLATES) >= 10
    rng = random.Random(2)
    training = {wrap(INNER, rng) for _ in range(500)}
    for name, template in TEMPLATES.items():
        text = template(INNER)
        assert INNER in text, name
        assert text not in training, name


def test_heldout_set_is_labelled_and_not_in_the_training_data() -> None:
    from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS
    from smartroute_graph.training.command import DEFAULT_DATA
    from smartroute_graph.training.data import load_examples

    rows = [
        json.loads(line)
        for line in (BENCH / "data" / "heldout_fresh.jsonl").read_text("utf-8").splitlines()
    ]
    assert len(rows) >= 300
    assert {r["domain"] for r in rows} == set(DOMAINS)
    assert all(r["complexity"] in COMPLEXITIES for r in rows)
    seen = {ex.text.strip().lower() for ex in load_examples(DEFAULT_DATA)}
    assert not [r["prompt"] for r in rows if r["prompt"].strip().lower() in seen]


def test_eval_wrappers_script_runs_without_the_probes(tmp_path: Path) -> None:
    import importlib.util

    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_eval_wrappers", BENCH / "eval_wrappers.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    module.EVAL_DIR = tmp_path  # type: ignore[attr-defined]
    rows = [
        {"prompt": "write a python function that reverses a string", "domain": "coding",
         "complexity": "simple"},
        {"prompt": "hi! how are you today?", "domain": "chat", "complexity": "simple"},
    ]  # fmt: skip
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "figures.json"
    assert module.main(["--model", "fast", "--heldout", str(heldout), "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["fast"]
    assert set(figures) == {"heldout_fresh"}
    assert set(figures["heldout_fresh"]["templates"]) == set(module.TEMPLATES)
    assert 0.0 <= figures["heldout_fresh"]["complexity_accuracy"] <= 1.0
