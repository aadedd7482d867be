"""A prompt's classification does not depend on its batch (issue 14, item 1)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from smartroute_graph.classifiers.encoder import EncoderClassifier
from smartroute_graph.training.invariant import calibration_texts

TOLERANCE = 1e-4
EVAL_DIR = Path(
    os.environ.get("SMARTROUTE_EVAL_DIR", Path(__file__).resolve().parents[3] / "shared" / "eval")
)


def assert_invariant(clf: EncoderClassifier, texts: list[str]) -> None:
    """Probabilities of ``texts`` one at a time, in order, shuffled and in odd batch sizes."""
    alone = [clf.predict_probs([t]) for t in texts]
    dom_alone = np.vstack([d for d, _ in alone])
    cx_alone = np.vstack([c for _, c in alone])
    rng = random.Random(0)
    for batch_size, batch_tokens in ((64, 10**9), (7, 2048), (512, 10**9), (256, 1024)):
        order = list(range(len(texts)))
        rng.shuffle(order)
        clf.batch_size, clf.batch_tokens = batch_size, batch_tokens
        dom, cx = clf.predict_probs([texts[i] for i in order])
        back = np.argsort(order)
        np.testing.assert_allclose(dom[back], dom_alone, atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(cx[back], cx_alone, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", ["accurate", "fast"])
def test_packaged_models_are_batch_invariant_on_corpus_prompts(name: str) -> None:
    clf = EncoderClassifier(name, cache_size=0, threads=1)
    assert clf.batch_invariant
    texts = calibration_texts(limit=120, seed=7)  # short and long, several languages
    texts += ["hi", "Summarise this: " + "The committee met on Tuesday. " * 80]
    assert_invariant(clf, texts)


def test_batched_embeddings_equal_one_at_a_time() -> None:
    texts = calibration_texts(limit=40, seed=3)
    together = EncoderClassifier("accurate", cache_size=0, threads=1).classify_with_embeddings(
        texts
    )
    alone = [
        EncoderClassifier("accurate", cache_size=0, threads=1).classify_with_embeddings([t])
        for t in texts[:8]
    ]
    for i, (decisions, vectors) in enumerate(alone):
        np.testing.assert_allclose(together[1][i], vectors[0], atol=TOLERANCE)
        assert together[0][i].domain == decisions[0].domain


@pytest.mark.skipif(
    not (EVAL_DIR / "domain_probes.jsonl").is_file(),
    reason=f"public probes not found at {EVAL_DIR} (set SMARTROUTE_EVAL_DIR); measured only",
)
@pytest.mark.parametrize("name", ["accurate", "fast"])
def test_packaged_models_are_batch_invariant_on_the_public_probes(name: str) -> None:
    rows = [json.loads(line) for line in (EVAL_DIR / "domain_probes.jsonl").open() if line.strip()]
    assert_invariant(EncoderClassifier(name, cache_size=0), [r["prompt"] for r in rows])
