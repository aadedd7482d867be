"""Sentence embeddings from the classifier's own forward pass (the learned policy's keys)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from smartroute_graph.classifiers.encoder import EncoderClassifier
from smartroute_graph.classifiers.model_folder import ModelFolderError, resolve_model_dir

TEXTS = [
    "Write a Python function that merges two sorted lists.",
    "What is 17% of 240?",
    "hi! how's it going?",
    "Summarise this paragraph: The council approved the new park after months of debate. " * 8,
]


@pytest.fixture(scope="module")
def clf() -> EncoderClassifier:
    return EncoderClassifier("fast", cache_size=0)


@pytest.mark.parametrize("name", ["accurate", "fast"])
def test_packaged_models_export_both_embeddings(name: str) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(resolve_model_dir(name) / "model.onnx"))
    outputs = [o.name for o in session.get_outputs()]
    assert outputs == ["domain_logits", "complexity_logits", "embedding", "embedding_mid"]


def test_embeddings_are_unit_and_batch_independent(clf: EncoderClassifier) -> None:
    assert clf.embedding_dim == 2 * 384
    together = clf.embed(TEXTS)
    assert together.shape == (len(TEXTS), 768) and together.dtype == np.float32
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    alone = np.stack([clf.embed([t])[0] for t in TEXTS])
    assert np.array_equal(together, alone)  # each prompt runs alone: same key every time
    assert np.array_equal(clf.embed(list(reversed(TEXTS)))[::-1], together)
    sims = together @ together.T
    assert np.all(sims[~np.eye(len(TEXTS), dtype=bool)] < 0.99)


def test_classification_comes_from_the_same_pass(clf: EncoderClassifier) -> None:
    decisions, _ = clf.classify_with_embeddings(TEXTS)
    for text, decision in zip(TEXTS, decisions, strict=True):
        assert decision == clf.classify([text])[0]
        dom, _ = clf.predict_logits([text])
        assert decision.domain == clf.spec.domains[int(dom[0].argmax())]


def test_embedding_cache_returns_the_same_vector() -> None:
    cached = EncoderClassifier("fast")
    first = cached.embed(TEXTS[:1])
    assert np.array_equal(cached.embed(TEXTS[:1]), first)
    cached.clear_cache()
    assert np.array_equal(cached.embed(TEXTS[:1]), first)


def test_folder_without_embeddings_still_classifies_and_says_what_to_do(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from smartroute_graph.training.export import add_embedding_outputs_to_file

    folder = tmp_path / "old"
    shutil.copytree(resolve_model_dir("fast"), folder)
    model = onnx.load(str(folder / "model.onnx"))
    keep = [o for o in model.graph.output if o.name in ("domain_logits", "complexity_logits")]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    onnx.save(model, str(folder / "model.onnx"))
    old = EncoderClassifier(folder, cache_size=0)
    assert old.embedding_dim is None
    assert old.classify(TEXTS[:1])
    with pytest.raises(ModelFolderError, match="add_embedding_outputs"):
        old.embed(TEXTS[:1])
    logits_before = old.predict_logits(TEXTS)
    assert add_embedding_outputs_to_file(folder / "model.onnx")
    assert not add_embedding_outputs_to_file(folder / "model.onnx")  # already there
    new = EncoderClassifier(folder, cache_size=0)
    assert new.embedding_dim == 768
    for a, b in zip(logits_before, new.predict_logits(TEXTS), strict=True):
        assert np.array_equal(a, b)  # bit-identical logits
