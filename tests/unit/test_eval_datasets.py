"""Reading evaluation files: kinds, validation, prices, sampling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartroute_graph.evaluation.datasets import EvalDataError, load_dataset, subsample
from tests.support.eval_data import write_jsonl


def test_labels_file_and_corpus_history(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "probes.jsonl",
        [
            {"id": "a", "source": "s1", "prompt": "p1", "domain": "math"},
            {
                "id": "b",
                "prompt": "now in rust",
                "domain": "coding",
                "complexity": "simple",
                "lang": "en",
                "history": ["reverse a string in python"],
            },
        ],
    )
    ds = load_dataset(path)
    assert ds.kind == "labels" and ds.name == "probes" and len(ds.rows) == 2
    assert ds.rows[0].source == "s1" and ds.rows[0].complexity is None
    follow_up = ds.rows[1]
    assert follow_up.source == "lang:en"  # the corpus has no source: its language stands in
    assert follow_up.turns == ["reverse a string in python", "now in rust"]
    # what the router's classifier reads for a follow-up: current turn first
    assert follow_up.text.startswith("now in rust")
    assert "(previous message: reverse a string in python)" in follow_up.text


def test_corpus_folder_is_read_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_jsonl(folder / "b.jsonl", [{"prompt": "x", "domain": "chat", "complexity": "simple"}])
    write_jsonl(folder / "a.jsonl", [{"prompt": "y", "domain": "math", "complexity": "complex"}])
    ds = load_dataset(folder)
    assert [r.prompt for r in ds.rows] == ["y", "x"]
    assert ds.rows[0].id == "a-1"  # a row without id gets file-line


def test_strong_weak_detected_and_ordered_by_mean(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "sw.jsonl",
        [
            {"prompt": "q1", "scores": {"big": 1.0, "small": 0.0}},
            {"prompt": "q2", "scores": {"big": 1.0, "small": 1.0}},
        ],
    )
    ds = load_dataset(path)
    assert ds.kind == "strong-weak"
    assert (ds.weak, ds.strong) == ("small", "big")
    # naming one side overrides the means
    assert load_dataset(path, strong="small").strong == "small"
    with pytest.raises(EvalDataError, match="not in the table"):
        load_dataset(path, strong="gpt-9")


def test_multi_model_needs_prices(tmp_path: Path) -> None:
    rows = [{"prompt": "q", "scores": {"a": 1.0, "b": 0.0, "c": 0.5}}]
    path = write_jsonl(tmp_path / "mm.jsonl", rows)
    with pytest.raises(EvalDataError, match="needs prices"):
        load_dataset(path)
    prices = {m: {"input_per_1m": 1.0, "output_per_1m": 2.0} for m in "ab"}
    (tmp_path / "mm_prices.json").write_text(json.dumps(prices))
    with pytest.raises(EvalDataError, match="no prices for c"):
        load_dataset(path)
    prices["c"] = {"input_price_per_m": 3, "output_price_per_m": 4}  # catalog names work too
    (tmp_path / "mm_prices.json").write_text(json.dumps(prices))
    ds = load_dataset(path)
    assert ds.kind == "multi-model" and ds.models == ("a", "b", "c")
    assert ds.prices["c"].output_per_m == 4.0
    # per-row costs stand in for a prices file
    costed = write_jsonl(
        tmp_path / "costed.jsonl", [{**rows[0], "costs": {"a": 0.1, "b": 0.2, "c": 0.3}}]
    )
    assert load_dataset(costed).rows[0].costs == {"a": 0.1, "b": 0.2, "c": 0.3}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "q", "domain": "sports"}, r"rows\.jsonl:2: unknown domain 'sports'"),
        ({"prompt": "q", "complexity": "hard"}, r"rows\.jsonl:2: unknown complexity 'hard'"),
        ({"domain": "math"}, r'rows\.jsonl:2: needs a non-empty "prompt"'),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, row: dict[str, object], message: str) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [{"prompt": "ok", "domain": "math"}, row])
    with pytest.raises(EvalDataError, match=message):
        load_dataset(path)


def test_unlabelled_file_and_mixed_models_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EvalDataError, match="cannot tell what to evaluate"):
        load_dataset(write_jsonl(tmp_path / "raw.jsonl", [{"prompt": "hello"}]))
    mixed = write_jsonl(
        tmp_path / "mixed.jsonl",
        [{"prompt": "a", "scores": {"x": 1, "y": 0}}, {"prompt": "b", "scores": {"x": 1, "z": 0}}],
    )
    with pytest.raises(EvalDataError, match="same models"):
        load_dataset(mixed)
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"prompt": "a", "domain": "math"}\n{oops\n')
    with pytest.raises(EvalDataError, match=r"bad\.jsonl:2: not valid JSON"):
        load_dataset(bad_json)
    with pytest.raises(EvalDataError, match="does not exist"):
        load_dataset(tmp_path / "missing.jsonl")


def test_limit_takes_an_even_deterministic_sample(tmp_path: Path) -> None:
    assert subsample(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert subsample(list(range(3)), 10) == [0, 1, 2]
    path = write_jsonl(
        tmp_path / "many.jsonl", [{"prompt": f"p{i}", "domain": "math"} for i in range(100)]
    )
    ds = load_dataset(path, limit=4)
    assert [r.prompt for r in ds.rows] == ["p0", "p25", "p50", "p75"]
    assert ds.total_rows == 100
    with pytest.raises(EvalDataError, match="positive"):
        load_dataset(path, limit=0)


def test_unicode_line_separators_inside_strings_are_not_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    # json.dumps(ensure_ascii=False) leaves U+2028 and U+0085 raw inside the string
    rows = [
        {"prompt": "one\u2028two\x85three\x0cfour", "domain": "text"},
        {"prompt": "b", "domain": "math"},
    ]
    path.write_text("\r\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\r\n")
    ds = load_dataset(path)
    assert [r.prompt for r in ds.rows] == [rows[0]["prompt"], "b"]
