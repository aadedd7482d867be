"""Accuracy of a classifier on the public evaluation data (measured, never trained on).

    .venv/bin/python bench/eval_classifier.py [--model accurate|fast|rules|FOLDER ...]

1. Domain probes (``domain_probes.jsonl``): accuracy and macro-F1 over the domains present,
   per-source accuracy, confusion matrix.
2. Strong/weak routing (``strong_weak_{mtbench,gsm8k,mmlu}.jsonl``, RouteLLM's tables): route
   by ``complexity_score`` (higher → strong model) swept over every cut point; APGR, CPT(50%),
   CPT(80%) beside random (mean of 20 draws), the oracle, all-weak and all-strong, and a
   domain rule (coding/math/reasoning → strong) from the same classifier.

Skips cleanly when ``../shared/eval`` is absent (set SMARTROUTE_EVAL_DIR to point elsewhere).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import EVAL_DIR, load_classifier, read_jsonl, table

from smartroute_graph.core.taxonomy import DOMAINS
from smartroute_graph.evaluation.metrics import (
    accuracy,
    apgr,
    confusion_matrix,
    cpt,
    macro_f1,
    oracle_scores,
    per_class_f1,
    routing_curve,
)

STRONG, WEAK = "gpt-4-1106-preview", "mixtral-8x7b-instruct"
FILES = ("mtbench", "gsm8k", "mmlu")


def eval_domains(clf: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Domain-probe figures for one classifier."""
    decisions = clf.classify([r["prompt"] for r in rows])
    gold = [r["domain"] for r in rows]
    pred = [d.domain for d in decisions]
    present = [d for d in DOMAINS if d in set(gold)]
    by_source: dict[str, list[bool]] = defaultdict(list)
    for r, p in zip(rows, pred, strict=False):
        by_source[r["source"]].append(p == r["domain"])
    return {
        "n": len(rows),
        "accuracy": accuracy(gold, pred),
        "macro_f1": macro_f1(gold, pred, present),
        "per_class_f1": per_class_f1(gold, pred, present),
        "per_source": {s: (float(np.mean(v)), len(v)) for s, v in sorted(by_source.items())},
        "confusion": {
            "rows": present,
            "cols": list(DOMAINS),
            "matrix": [
                r
                for r, d in zip(confusion_matrix(gold, pred, DOMAINS), DOMAINS, strict=True)
                if d in present
            ],
        },
    }


def routing_rows(name: str, scores: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> list[Any]:
    """One table row: name, APGR, CPT(50%), CPT(80%)."""
    curve = routing_curve(scores, weak, strong)
    return [name, apgr(curve), f"{100 * cpt(curve, 0.5):.1f}%", f"{100 * cpt(curve, 0.8):.1f}%"]


def eval_routing(clf: Any, rows: list[dict[str, Any]], seeds: int = 20) -> dict[str, Any]:
    """Routing figures on one strong/weak table."""
    decisions = clf.classify([r["prompt"] for r in rows])
    weak = np.array([r["scores"][WEAK] for r in rows], dtype=float)
    strong = np.array([r["scores"][STRONG] for r in rows], dtype=float)
    score = np.array([d.complexity_score for d in decisions])
    rule = np.array(
        [1.0 if d.domain in ("coding", "math", "reasoning") else 0.0 for d in decisions]
    )
    rng = np.random.default_rng(0)
    rand = [routing_curve(rng.random(len(rows)), weak, strong) for _ in range(seeds)]
    out_rows = [
        ["all weak", 0.0, "-", "-"],
        ["all strong", 1.0, "-", "-"],
        [
            f"random (mean of {seeds})",
            float(np.mean([apgr(c) for c in rand])),
            f"{100 * np.mean([cpt(c, 0.5) for c in rand]):.1f}%",
            f"{100 * np.mean([cpt(c, 0.8) for c in rand]):.1f}%",
        ],
        routing_rows("oracle", oracle_scores(weak, strong), weak, strong),
        routing_rows("domain rule (code/math/reasoning→strong)", rule, weak, strong),
        routing_rows(f"{clf.name} complexity_score", score, weak, strong),
    ]
    return {
        "n": len(rows),
        "weak": float(weak.mean()),
        "strong": float(strong.mean()),
        "rows": out_rows,
        "complexity_mix": {
            c: int(sum(d.complexity == c for d in decisions))
            for c in ("simple", "moderate", "complex")
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Print the tables for each ``--model``; ``--json`` writes every figure to a file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        help="accurate | fast | rules | a model folder (repeatable)",
    )
    parser.add_argument("--json", default=None, help="write the figures to this JSON file")
    parser.add_argument("--skip-routing", action="store_true")
    args = parser.parse_args(argv)
    if not (EVAL_DIR / "domain_probes.jsonl").is_file():
        print(f"skipped: no evaluation data in {EVAL_DIR}")
        return 0
    models = args.model or ["accurate", "fast"]
    probes = read_jsonl(EVAL_DIR / "domain_probes.jsonl")
    report: dict[str, Any] = {}
    for spec in models:
        clf = load_classifier(spec)
        t0 = time.perf_counter()
        dom = eval_domains(clf, probes)
        print(f"\n## {clf.name}: domain probes (n={dom['n']}, {time.perf_counter() - t0:.1f} s)\n")
        print(
            f"accuracy {dom['accuracy']:.3f}   macro-F1 (domains present) {dom['macro_f1']:.3f}\n"
        )
        print(table(["domain", "F1"], [[d, f] for d, f in dom["per_class_f1"].items()]))
        print()
        print(
            table(
                ["source", "n", "accuracy"], [[s, n, a] for s, (a, n) in dom["per_source"].items()]
            )
        )
        print("\nconfusion (rows gold, columns predicted)\n")
        conf = dom["confusion"]
        print(
            table(
                ["gold \\ pred", *conf["cols"]],
                [[g, *row] for g, row in zip(conf["rows"], conf["matrix"], strict=False)],
            )
        )
        report[spec] = {"domain_probes": dom}
        if args.skip_routing:
            continue
        for name in FILES:
            path = EVAL_DIR / f"strong_weak_{name}.jsonl"
            if not path.is_file():
                continue
            t0 = time.perf_counter()
            res = eval_routing(clf, read_jsonl(path))
            print(
                f"\n### {clf.name}: strong_weak_{name} (n={res['n']}, weak {res['weak']:.3f}, "
                f"strong {res['strong']:.3f}, {time.perf_counter() - t0:.1f} s; predicted "
                f"complexity mix {res['complexity_mix']})\n"
            )
            print(table(["router", "APGR", "CPT(50%)", "CPT(80%)"], res["rows"]))
            report[spec][name] = res
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
