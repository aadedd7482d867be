"""The learned policy on the public outcome tables, cross-fitted (issue 13's figures).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/eval_learned.py [--folds 2] [--only mtbench]
        [--model accurate] [--json out.json] [--limit N]

For each table of ``../shared/eval`` (RouteLLM's strong/weak MT-bench, GSM8K, MMLU; LLMRouter's
multi-model table with prices) every prompt is embedded and classified by the packaged encoder
(one pass per prompt), then :func:`smartroute_graph.evaluation.learned.evaluate_learned`
cross-fits the learned policy: learn from the other folds' outcomes, route the held-out fold,
so every row is routed by a policy that never saw it. Printed beside complexity_score, random,
the domain rule and the oracle (strong/weak), or the best single model on the same rows
(multi-model), with the learning curve (10%, 25%, 50% of the rows as feedback) and the issue's
targets. The policy fits its own knobs on the feedback rows only; nothing here is tuned on
these files. Skips cleanly when ``../shared/eval`` is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import EVAL_DIR, table

from smartroute_graph.evaluation.datasets import load_dataset
from smartroute_graph.evaluation.learned import evaluate_learned
from smartroute_graph.evaluation.metrics import apgr, cpt, oracle_scores, routing_curve

TABLES = {
    "mtbench": ("strong_weak_mtbench.jsonl", {"apgr": 0.80}),
    "gsm8k": ("strong_weak_gsm8k.jsonl", {"apgr": 0.65}),
    "mmlu": ("strong_weak_mmlu.jsonl", {"apgr": 0.66}),
    "llmrouter": (
        "multi_model_llmrouter.jsonl",
        {"quality_at_best_single_cost": 0.62, "cost_ratio_to_match_best_single": 0.15},
    ),
}


def _curve_row(name: str, score: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> list[Any]:
    curve = routing_curve(score.tolist(), weak.tolist(), strong.tolist())
    return [name, apgr(curve), f"{100 * cpt(curve, 0.5):.1f}%", f"{100 * cpt(curve, 0.8):.1f}%"]


def run_table(name: str, clf: Any, folds: int, limit: int | None) -> dict[str, Any]:
    """Embed, cross-fit and print one table; returns its figures."""
    file, targets = TABLES[name]
    dataset = load_dataset(EVAL_DIR / file, "auto", limit=limit)
    t0 = time.perf_counter()
    decisions, vectors = clf.classify_with_embeddings([r.text for r in dataset.rows])
    embed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    block = evaluate_learned(
        dataset,
        vectors,
        [d.domain for d in decisions],
        [d.complexity for d in decisions],
        folds=folds,
    )
    fit_s = time.perf_counter() - t0
    print(
        f"\n### {name} ({len(dataset.rows)} rows; {folds} folds; embedding {embed_s:.1f} s, "
        f"cross-fitting with the learning curve {fit_s:.1f} s)\n"
    )
    out: dict[str, Any] = {"rows": len(dataset.rows), "learned": block, "targets": targets}
    if dataset.kind == "strong-weak":
        weak = np.array([r.scores[dataset.weak] for r in dataset.rows], dtype=float)  # type: ignore[index]
        strong = np.array([r.scores[dataset.strong] for r in dataset.rows], dtype=float)  # type: ignore[index]
        rng = np.random.default_rng(0)
        randoms = [routing_curve(rng.random(weak.size).tolist(), weak, strong) for _ in range(20)]
        rule = np.array(
            [1.0 if d.domain in ("coding", "math", "reasoning") else 0.0 for d in decisions]
        )
        rows = [
            [
                "random (mean of 20)",
                float(np.mean([apgr(c) for c in randoms])),
                f"{100 * np.mean([cpt(c, 0.5) for c in randoms]):.1f}%",
                f"{100 * np.mean([cpt(c, 0.8) for c in randoms]):.1f}%",
            ],
            _curve_row(
                "complexity_score (prior)",
                np.array([d.complexity_score for d in decisions]),
                weak,
                strong,
            ),
            _curve_row("domain rule (code/math/reasoning → strong)", rule, weak, strong),
            [
                "**learned (held-out rows)**",
                block["apgr"],
                f"{100 * block['cpt50']:.1f}%",
                f"{100 * block['cpt80']:.1f}%",
            ],
            *[
                [
                    f"learned, {100 * c['feedback_fraction']:.0f}% of rows as feedback",
                    c["apgr"],
                    f"{100 * c['cpt50']:.1f}%",
                    f"{100 * c['cpt80']:.1f}%",
                ]
                for c in block["learning_curve"]
            ],
            _curve_row("oracle", oracle_scores(weak, strong), weak, strong),
        ]
        print(f"weak {weak.mean():.3f}, strong {strong.mean():.3f}\n")
        print(table(["router", "APGR", "CPT(50%)", "CPT(80%)"], rows))
        met = block["apgr"] >= targets["apgr"]
        print(f"\ntarget APGR >= {targets['apgr']}: {'met' if met else 'NOT met'}")
        out["baselines"] = {r[0]: r[1] for r in rows}
        out["met"] = met
        return out
    best = block["best_single_on_test"]
    rows = [
        [f"best single model ({best['model']})", f"${best['cost']:.7f}", best["quality"]],
        *[
            [f"learned, cost weight {p['cost_weight']:.3g}", f"${p['cost']:.7f}", p["quality"]]
            for p in block["points"][::4]
        ],
    ]
    print(table(["policy (held-out rows)", "$ / prompt", "quality"], rows))
    q_at, ratio = block["quality_at_best_single_cost"], block["cost_ratio_to_match_best_single"]
    print(
        f"\nlearned at the best single model's cost: {q_at:.3f} (target >= 0.62); reaches "
        f"its quality at {100 * ratio:.1f}% of its cost (target <= 15%)\n"
    )
    print(
        table(
            ["feedback", "quality at best single's cost", "cost to match it"],
            [
                [
                    f"{100 * c['feedback_fraction']:.0f}% ({c['feedback_rows']} rows)",
                    c["quality_at_best_single_cost"],
                    f"{100 * c['cost_ratio_to_match_best_single']:.1f}%"
                    if c["cost_ratio_to_match_best_single"] is not None
                    and np.isfinite(c["cost_ratio_to_match_best_single"])
                    else "never",
                ]
                for c in block["learning_curve"]
            ],
        )
    )
    out["met"] = bool(q_at >= 0.62 and ratio is not None and ratio <= 0.15)
    return out


def main(argv: list[str] | None = None) -> int:
    """Print every table's figures; ``--json`` writes them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="accurate", help="packaged encoder or model folder")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--only", action="append", choices=sorted(TABLES), default=None)
    parser.add_argument("--limit", type=int, default=None, help="an even sample of N rows")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not (EVAL_DIR / TABLES["mtbench"][0]).is_file():
        print(f"skipped: no evaluation data in {EVAL_DIR}")
        return 0
    from smartroute_graph.classifiers.encoder import EncoderClassifier

    clf = EncoderClassifier(args.model)
    report = {name: run_table(name, clf, args.folds, args.limit) for name in args.only or TABLES}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
