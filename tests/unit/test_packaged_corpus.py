"""The packaged training data: valid rows, the coverage LABELLING.md promises, and no prompt
taken from the public evaluation files (which must stay unseen by training)."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS
from smartroute_graph.evaluation.datasets import read_rows
from smartroute_graph.training.command import DEFAULT_CORPUS, DEFAULT_SUPPLEMENT
from smartroute_graph.training.data import load_examples

EVAL_DIR = Path(
    os.environ.get("SMARTROUTE_EVAL_DIR", Path(__file__).resolve().parents[3] / "shared" / "eval")
)
FIELDS = {"id", "prompt", "domain", "complexity", "lang", "history"}


def _rows() -> list[tuple[str, dict[str, object]]]:
    """``(file:line, row)`` of every packaged training row: the corpus, then the supplement."""
    return [
        (f"{Path(file).name}:{line}", row)
        for folder in (DEFAULT_CORPUS, DEFAULT_SUPPLEMENT)
        for file, line, row in read_rows(folder)
    ]


def _normalised(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def test_every_row_is_valid_and_unique() -> None:
    rows = _rows()
    for where, row in rows:
        assert set(row) <= FIELDS and {"id", "prompt", "domain", "complexity", "lang"} <= set(
            row
        ), where
        assert row["domain"] in DOMAINS and row["complexity"] in COMPLEXITIES, where
        assert isinstance(row["prompt"], str) and row["prompt"].strip(), where
    ids = Counter(row["id"] for _, row in rows)
    assert [i for i, n in ids.items() if n > 1] == []
    prompts = Counter(_normalised(str(row["prompt"])) for _, row in rows)
    assert [p[:80] for p, n in prompts.items() if n > 1] == []
    # The training loader reads every row (history joined the way the router joins turns).
    paths = [DEFAULT_CORPUS, DEFAULT_SUPPLEMENT]
    assert len(load_examples(paths)) == len(rows)


def test_corpus_covers_every_cell_with_100_rows() -> None:
    cells = Counter((row["domain"], row["complexity"]) for _, _, row in read_rows(DEFAULT_CORPUS))
    thin = {f"{d}/{c}": cells[(d, c)] for d in DOMAINS for c in COMPLEXITIES if cells[(d, c)] < 100}
    assert thin == {}


def test_no_training_prompt_comes_from_the_evaluation_files() -> None:
    if not (EVAL_DIR.is_dir() and any(EVAL_DIR.glob("*.jsonl"))):
        pytest.skip(f"no evaluation files at {EVAL_DIR} (set SMARTROUTE_EVAL_DIR)")
    held_out = {_normalised(row["prompt"]) for _, _, row in read_rows(EVAL_DIR)}
    # Exact matches after normalising case, spacing and punctuation; the 40-character floor
    # keeps two-word prompts that any corpus shares ("hello") from counting.
    leaked = [
        where
        for where, row in _rows()
        if len(text := _normalised(str(row["prompt"]))) >= 40 and text in held_out
    ]
    assert leaked == []
