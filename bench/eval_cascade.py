"""Where would a cascade ask the LLM? The encoder's confidence against its accuracy.

    .venv/bin/python bench/eval_cascade.py [--model accurate] [--json out.json]

``classifier="cascade"`` keeps the encoder's decision when its confidence (domain x
complexity) is at or above a threshold and asks the LLM classifier otherwise. Offline we
cannot measure the LLM's answers, but we can measure what the cascade depends on: for each
threshold, the share of the domain probes (real prompts, never trained on) it would send to
the LLM, and the encoder's domain accuracy on the queries it keeps and on those it would
send. A useful threshold sends a small share that holds many of the encoder's errors.
Skips cleanly when ``../shared/eval`` is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import EVAL_DIR, load_classifier, read_jsonl, table

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def main(argv: list[str] | None = None) -> int:
    """Print the threshold table; ``--json`` writes it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="accurate", help="accurate | fast | model folder")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    path = EVAL_DIR / "domain_probes.jsonl"
    if not path.is_file():
        print(f"skipped: no evaluation data in {EVAL_DIR}")
        return 0
    rows = read_jsonl(path)
    clf = load_classifier(args.model)
    results = clf.classify([r["prompt"] for r in rows])
    right = [c.domain == r["domain"] for c, r in zip(results, rows, strict=True)]
    errors = len(right) - sum(right)
    out: list[dict[str, Any]] = []
    for t in THRESHOLDS:
        sent = [ok for c, ok in zip(results, right, strict=True) if c.confidence < t]
        kept = [ok for c, ok in zip(results, right, strict=True) if c.confidence >= t]
        out.append(
            {
                "threshold": t,
                "share_sent": len(sent) / len(right),
                "kept_accuracy": sum(kept) / len(kept) if kept else float("nan"),
                "sent_accuracy": sum(sent) / len(sent) if sent else float("nan"),
                "errors_sent": (len(sent) - sum(sent)) / errors if errors else 0.0,
            }
        )
    print(
        f"\n{clf.name} on {len(rows)} domain probes: domain accuracy {sum(right) / len(right):.3f}"
        f" ({errors} errors)\n"
    )
    print(
        table(
            [
                "threshold",
                "sent to the LLM",
                "encoder accuracy, kept",
                "encoder accuracy, sent",
                "share of its errors sent",
            ],
            [
                [
                    f"{o['threshold']:.1f}",
                    f"{100 * o['share_sent']:.1f}%",
                    f"{o['kept_accuracy']:.3f}",
                    f"{o['sent_accuracy']:.3f}",
                    f"{100 * o['errors_sent']:.1f}%",
                ]
                for o in out
            ],
        )
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"model": clf.name, "rows": out}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
