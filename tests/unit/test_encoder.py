"""The encoder classifier on the shipped model (ONNX Runtime only: no torch needed)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from smartroute_graph.classifiers.base import Classification, Classifier
from smartroute_graph.classifiers.encoder import EncoderClassifier
from smartroute_graph.classifiers.model_folder import (
    ModelFolderError,
    available_models,
    resolve_model_dir,
)
from smartroute_graph.core.errors import ConfigError, SmartRouteError
from smartroute_graph.core.taxonomy import DOMAINS

TEXTS = [
    "Write a Python function that merges two sorted lists.",
    "What is 17% of 240?",
    "hi! how's it going?",
    "Write a limerick about a cat who loves lasagna.",
    "Summarise this paragraph: The council approved the new park after months of debate.",
    "Who was the first emperor of Rome?",
    "If Anna is taller than Ben and Ben is taller than Carl, who is shortest?",
]


@pytest.fixture(scope="module")
def clf() -> EncoderClassifier:
    return EncoderClassifier("fast")


def test_default_model_ships_and_loads_without_torch(clf: EncoderClassifier) -> None:
    assert {"accurate", "fast"} <= set(available_models())
    assert isinstance(clf, Classifier)
    assert clf.name.startswith("encoder:")
    size_mb = (resolve_model_dir("fast") / "model.onnx").stat().st_size / 1e6
    assert size_mb < 60


def test_classify_batch_in_order_with_valid_fields(clf: EncoderClassifier) -> None:
    out = clf.classify(TEXTS)
    assert len(out) == len(TEXTS)
    for c in out:
        assert isinstance(c, Classification)
        assert c.domain in DOMAINS and 0.0 <= c.complexity_score <= 1.0
        assert sum(c.domain_probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert set(c.complexity_by_domain) == set(DOMAINS)
        assert c.backend == clf.name
    assert clf.classify([]) == []


def test_obvious_domains(clf: EncoderClassifier) -> None:
    expected = ["coding", "math", "chat", "creative", "text", "knowledge", "reasoning"]
    domains = [c.domain for c in clf.classify(TEXTS)]
    assert sum(d == e for d, e in zip(domains, expected, strict=True)) >= 6


def test_batched_equals_one_at_a_time(clf: EncoderClassifier) -> None:
    fresh = EncoderClassifier("fast", cache_size=0)
    batched = fresh.predict_probs(TEXTS)[0]
    single = np.vstack([fresh.predict_probs([t])[0] for t in TEXTS])
    # fixed activation scales: a batch neighbour moves nothing (tests/unit/test_batch_invariance.py)
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_decision_cache_returns_the_same_decision(clf: EncoderClassifier) -> None:
    first = clf.classify(["cache me: what is a monad?"])[0]
    again = clf.classify(["cache me: what is a monad?", "cache me: what is a monad?"])
    assert again[0] is first and again[1] is first
    small = EncoderClassifier("fast", cache_size=2)
    small.classify(["a", "b", "c"])
    assert len(small._cache) == 2
    small.clear_cache()
    assert len(small._cache) == 0


def test_long_and_odd_inputs(clf: EncoderClassifier) -> None:
    long_text = "Summarise the report below.\n" + "The quarterly numbers rose. " * 3000
    out = clf.classify([long_text, "", "   ", "🙂", "日本の首都はどこですか？"])
    assert len(out) == 5


def _copy_default(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(resolve_model_dir("fast"), dst)
    return dst


def test_missing_folder_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="does not exist"):
        EncoderClassifier(tmp_path / "nope")
    with pytest.raises(ModelFolderError, match="no packaged encoder model named 'huge'"):
        EncoderClassifier("huge")


@pytest.mark.parametrize("missing", ["model.onnx", "tokenizer.json", "labels.json"])
def test_incomplete_folder(tmp_path: Path, missing: str) -> None:
    folder = _copy_default(tmp_path)
    (folder / missing).unlink()
    with pytest.raises(ModelFolderError, match=f"missing {missing}") as info:
        EncoderClassifier(folder)
    assert isinstance(info.value, SmartRouteError) and isinstance(info.value, ValueError)
    assert "smartroute train" in str(info.value)


def test_corrupt_model_onnx(tmp_path: Path) -> None:
    folder = _copy_default(tmp_path)
    (folder / "model.onnx").write_bytes(b"\x00not an onnx model" * 10)
    with pytest.raises(ModelFolderError, match="cannot load"):
        EncoderClassifier(folder)


def test_corrupt_tokenizer_and_labels(tmp_path: Path) -> None:
    folder = _copy_default(tmp_path)
    (folder / "tokenizer.json").write_text("{broken")
    with pytest.raises(ModelFolderError, match=r"tokenizer\.json"):
        EncoderClassifier(folder)
    folder = _copy_default(tmp_path / "b")
    (folder / "labels.json").write_text("not json")
    with pytest.raises(ModelFolderError, match="not valid JSON"):
        EncoderClassifier(folder)
    spec = json.loads((resolve_model_dir("fast") / "labels.json").read_text())
    spec["domains"] = ["a", "b"]
    (folder / "labels.json").write_text(json.dumps(spec))
    with pytest.raises(ModelFolderError, match="expected the taxonomy"):
        EncoderClassifier(folder)


def test_labels_that_do_not_match_the_model(tmp_path: Path) -> None:
    folder = _copy_default(tmp_path)
    spec = json.loads((folder / "labels.json").read_text())
    spec["complexities"] = ["simple", "moderate", "complex"]
    spec["domains"] = [*DOMAINS]
    spec["temperatures"] = {"domain": -1.0, "complexity": 1.0}
    (folder / "labels.json").write_text(json.dumps(spec))
    with pytest.raises(ModelFolderError, match="temperature"):
        EncoderClassifier(folder)


def _runtime_settings(clf: EncoderClassifier) -> tuple[int, str]:
    options = clf._session.get_session_options()
    return options.intra_op_num_threads, options.get_session_config_entry(
        "session.intra_op.allow_spinning"
    )


def test_threads_and_spinning_from_arguments_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from smartroute_graph.classifiers.encoder import SPINNING_ENV, THREADS_ENV

    assert _runtime_settings(EncoderClassifier("fast", threads=1, spinning=False)) == (1, "0")
    monkeypatch.setenv(THREADS_ENV, "2")
    monkeypatch.setenv(SPINNING_ENV, "0")
    assert _runtime_settings(EncoderClassifier("fast")) == (2, "0")
    with pytest.raises(ConfigError, match="threads must be 1 or more, got 0"):
        EncoderClassifier("fast", threads=0)
    # Arguments win over the environment.
    assert _runtime_settings(EncoderClassifier("fast", threads=1, spinning=True)) == (1, "1")


@pytest.mark.parametrize(
    ("name", "value"),
    [("SMARTROUTE_ENCODER_THREADS", "two"), ("SMARTROUTE_ENCODER_SPINNING", "maybe")],
)
def test_bad_runtime_environment_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"{name} must be .*got '{value}'"):
        EncoderClassifier("fast")


def test_server_settings_do_not_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from smartroute_graph.classifiers.encoder import SPINNING_ENV, THREADS_ENV
    from smartroute_graph.serving.command import use_server_encoder_settings

    monkeypatch.setenv(SPINNING_ENV, "1")  # recorded, so the setting below is undone
    monkeypatch.delenv(SPINNING_ENV)
    monkeypatch.setenv(THREADS_ENV, "3")
    use_server_encoder_settings()
    assert os.environ[THREADS_ENV] == "3" and os.environ[SPINNING_ENV] == "0"
