"""Does a prompt's classification depend on its batch? And the accuracy it comes with.

    .venv/bin/python bench/bench_batch_invariance.py [--model accurate ...] [--in-repo]

Classifies the domain probes (``../shared/eval/domain_probes.jsonl``; ``--in-repo`` or an
absent folder: the packaged corpus instead, with no accuracy) three ways with the decision
cache off: one prompt at a time, in file order in batches of 64, and shuffled in one batch of
512. Reports the largest probability difference against one-at-a-time, how many prompts
changed domain or complexity, and domain accuracy / macro-F1 (one at a time) on the probes.
Measured, never tuned on.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import EVAL_DIR, read_jsonl, table

from smartroute_graph.classifiers.encoder import EncoderClassifier
from smartroute_graph.core.taxonomy import DOMAINS
from smartroute_graph.evaluation.metrics import accuracy, macro_f1


def _probs(clf: EncoderClassifier, texts: list[str], order: list[int], batch: int) -> Any:
    clf.batch_size = batch
    dom, cx = clf.predict_probs([texts[i] for i in order])
    back = np.argsort(order)
    return dom[back], cx[back]


def measure(model: str, texts: list[str], gold: list[str] | None) -> list[Any]:
    """One table row for ``model``."""
    clf = EncoderClassifier(model, cache_size=0)
    n = len(texts)
    alone_d = np.zeros((n, len(clf.spec.domains)))
    alone_c = np.zeros((n, len(clf.spec.domains), len(clf.spec.complexities)))
    for i, text in enumerate(texts):
        d, c = clf.predict_probs([text])
        alone_d[i], alone_c[i] = d[0], c[0]
    shuffled = list(range(n))
    random.Random(0).shuffle(shuffled)
    worst, changed = 0.0, 0
    pick = alone_d.argmax(1)
    for order, batch in ((list(range(n)), 64), (shuffled, 512)):
        d, c = _probs(clf, texts, order, batch)
        worst = max(worst, float(np.abs(d - alone_d).max()), float(np.abs(c - alone_c).max()))
        rows = np.arange(n)
        moved = (d.argmax(1) != pick) | (c[rows, pick].argmax(1) != alone_c[rows, pick].argmax(1))
        changed = max(changed, int(moved.sum()))
    row: list[Any] = [clf.name, Path(model).name, n, f"{worst:.2e}", changed]
    if gold is not None:
        pred = [clf.spec.domains[j] for j in pick]
        present = [d for d in DOMAINS if d in set(gold)]
        row += [accuracy(gold, pred), macro_f1(gold, pred, present)]
    return row


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="accurate, fast or a model folder")
    parser.add_argument("--in-repo", action="store_true", help="the packaged corpus, not probes")
    parser.add_argument("--limit", type=int, default=0, help="first N prompts only")
    args = parser.parse_args(argv)
    probes = EVAL_DIR / "domain_probes.jsonl"
    gold: list[str] | None = None
    if args.in_repo or not probes.is_file():
        from smartroute_graph.training.invariant import calibration_texts

        texts = calibration_texts(limit=640, seed=1)
        source = "packaged corpus (640 prompts)"
    else:
        rows = read_jsonl(probes)
        texts, gold = [r["prompt"] for r in rows], [r["domain"] for r in rows]
        source = f"{probes.name} ({len(rows)} probes)"
    if args.limit:
        texts = texts[: args.limit]
        gold = gold[: args.limit] if gold else None
    headers = ["classifier", "folder", "prompts", "max |Δp| vs alone", "changed"]
    if gold is not None:
        headers += ["domain acc.", "macro-F1"]
    print(f"source: {source}")
    print(table(headers, [measure(m, texts, gold) for m in args.model or ["accurate", "fast"]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
