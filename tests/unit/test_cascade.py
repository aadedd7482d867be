"""The confidence-gated cascade classifier."""

from __future__ import annotations

import json

import pytest

from smartroute_graph import SmartRouter
from smartroute_graph.classifiers import ClassifierRegistry
from smartroute_graph.classifiers.cascade import CascadeClassifier
from smartroute_graph.classifiers.llm import LLMClassifier
from smartroute_graph.core.catalog import preset_catalog
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.testing import FakeChatModel
from tests.support.classifiers import StubClassifier


class ByText(StubClassifier):
    """Sure of texts that start with "sure", unsure of the rest."""

    def classify(self, texts):  # type: ignore[no-untyped-def]
        return [
            StubClassifier("chat", "simple", 0.95, 0.95).classify([t])[0]
            if t.startswith("sure")
            else StubClassifier("chat", "simple", 0.5, 0.5).classify([t])[0]
            for t in texts
        ]


class Counting(StubClassifier):
    """Always math/complex; ``seen`` lists what it was asked."""

    def __init__(self) -> None:
        super().__init__("math", "complex", 0.9, 0.9)
        self.name = "second"


def test_only_unsure_queries_reach_the_second_classifier() -> None:
    second = Counting()
    cascade = CascadeClassifier(ByText("chat", "simple"), second, threshold=0.5)
    results = cascade.classify(["sure: hi", "what about this?", "sure: bye"])
    assert second.seen == ["what about this?"]
    assert [r.domain for r in results] == ["chat", "math", "chat"]
    assert results[1].backend == "stub→second" and "confidence 0.25 < 0.5" in (
        results[1].note or ""
    )
    assert results[0].backend == "stub" and cascade.name == "stub→second"


async def test_async_cascade_and_the_threshold_ends() -> None:
    second = Counting()
    results = await CascadeClassifier(ByText("chat", "simple"), second, threshold=0).aclassify(
        ["unsure", "sure"]
    )
    assert second.seen == [] and [r.backend for r in results] == ["stub", "stub"]
    always = CascadeClassifier(ByText("chat", "simple"), second, threshold=1)
    assert [r.domain for r in await always.aclassify(["sure: x"])] == ["math"]
    with pytest.raises(ConfigError, match=r"between 0 and 1, got 1\.5"):
        CascadeClassifier(ByText("chat", "simple"), second, threshold=1.5)


def test_registry_builds_the_cascade_on_its_own_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    import smartroute_graph.classifiers as classifiers

    encoder = StubClassifier("coding", "simple")
    registry = ClassifierRegistry({"encoder:accurate": encoder}, default="encoder:accurate")
    monkeypatch.setattr(classifiers, "load_classifier", lambda name: pytest.fail(name))
    cascade = registry["cascade"]
    assert isinstance(cascade, CascadeClassifier) and cascade.first is encoder


def test_router_with_a_cascade_pays_for_the_llm_only_when_unsure() -> None:
    label = {
        "domain": "math",
        "complexity": "complex",
        "confidence": 0.9,
        "complexity_confidence": 0.8,
        "rationale": "a proof",
    }
    llm_model = FakeChatModel(responses=[json.dumps(label)], model_name="gpt-4.1-nano")
    cascade = CascadeClassifier(
        ByText("chat", "simple"), LLMClassifier(llm_model, fallback=ByText("chat", "simple"))
    )
    answers = {n: FakeChatModel(responses=[f"from {n}"]) for n in preset_catalog("openai")}
    router = SmartRouter.from_preset("openai", models=answers, classifier=cascade)
    sure = router.route("sure: hello")
    unsure = router.route("prove it")
    assert (sure.classifier, sure.classifier_cost_usd) == ("stub", 0.0)
    assert unsure.classifier == "stub→llm" and unsure.classifier_cost_usd > 0
    assert (unsure.domain, unsure.model) == ("math", "o4-mini")
    assert llm_model.calls == 1
