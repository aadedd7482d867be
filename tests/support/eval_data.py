"""Helpers of the evaluation tests: a classifier scripted per prompt, and file writers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from smartroute_graph.classifiers.base import Classification
from smartroute_graph.core.taxonomy import DOMAINS


class ScriptedClassifier:
    """Answers ``script[text] = (domain, complexity_score, domain_p)`` for each text.

    The complexity distribution puts ``1 - score`` on simple and ``score`` on complex, so the
    classification's ``complexity_score`` is exactly ``score``.
    """

    name = "scripted"

    def __init__(self, script: Mapping[str, tuple[str, float, float]]) -> None:
        self.script = dict(script)
        self.calls: list[int] = []

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        self.calls.append(len(texts))
        out = []
        for text in texts:
            domain, score, domain_p = self.script[text]
            rest = (1 - domain_p) / (len(DOMAINS) - 1)
            dprobs = {d: domain_p if d == domain else rest for d in DOMAINS}
            cprobs = {"simple": 1 - score, "moderate": 0.0, "complex": score}
            out.append(
                Classification.from_probs(dprobs, {d: cprobs for d in DOMAINS}, backend="scripted")
            )
        return out


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
