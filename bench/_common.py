"""Shared helpers of the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

EVAL_DIR = Path(
    os.environ.get("SMARTROUTE_EVAL_DIR", Path(__file__).resolve().parents[2] / "shared" / "eval")
)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON Lines file."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table with right-aligned numbers."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    out = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for r in cells:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + " |")
    return "\n".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def load_classifier(spec: str) -> Any:
    """``rules``, a packaged encoder name (``accurate``/``fast``) or a model folder."""
    if spec == "rules":
        from smartroute_graph.classifiers.rules import RulesClassifier

        return RulesClassifier()
    from smartroute_graph.classifiers.encoder import EncoderClassifier

    return EncoderClassifier(spec)
