"""Add the sentence-embedding outputs to existing model folders (``model.onnx`` in place).

    python tools/add_embedding_outputs.py smartroute_graph/data/models/accurate [FOLDER ...]

Folders written by ``smartroute train`` since the outputs were added already have them. The
script checks that the logits are bit-identical before and after on a set of prompts run one
at a time and in a batch, and refuses to write otherwise. Needs ``onnx`` (the ``train`` extra).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartroute_graph.classifiers.encoder import EncoderClassifier
from smartroute_graph.training.export import add_embedding_outputs_to_file

PROMPTS = [
    "hi",
    "Prove that sqrt(2) is irrational.",
    "Write a Python function that merges two sorted lists and explain its complexity.",
    "Summarise the following text in two sentences: " + "The committee met on Tuesday. " * 40,
    "¿Cuál es la capital de Australia?",
    "Design a distributed rate limiter for a multi-region API gateway; discuss consistency.",
]


def _logits(folder: Path) -> list[np.ndarray]:
    clf = EncoderClassifier(folder, cache_size=0, threads=1)
    single = [clf.predict_logits([p]) for p in PROMPTS]
    dom, cx = clf.predict_logits(PROMPTS)
    return [np.concatenate([d for d, _ in single]), np.concatenate([c for _, c in single]), dom, cx]


def main(argv: list[str]) -> int:
    """Patch every folder named in ``argv``; exit status 1 if a check fails."""
    status = 0
    for name in argv:
        folder = Path(name)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / folder.name
            shutil.copytree(folder, work)
            if not add_embedding_outputs_to_file(work / "model.onnx"):
                print(f"{folder}: already has the embedding outputs")  # noqa: T201
                continue
            before, after = _logits(folder), _logits(work)
            if not all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
                print(f"{folder}: logits changed; not written")  # noqa: T201
                status = 1
                continue
            shutil.copyfile(work / "model.onnx", folder / "model.onnx")
            print(f"{folder}: embedding outputs added; logits bit-identical")  # noqa: T201
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
