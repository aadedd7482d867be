from __future__ import annotations

import pytest

from smartroute_graph import SmartRouter
from smartroute_graph.core.errors import UnknownModelError
from smartroute_graph.testing import FakeChatModel
from tests.support.classifiers import StubClassifier


def length_scorer(query: str, answer: str, domain: str) -> float:
    return min(1.0, len(answer) / 100)


def test_compare_runs_every_model_and_marks_the_pick(fakes: dict[str, FakeChatModel]) -> None:
    fakes["o4-mini"].responses = ["a much longer and therefore better scored answer " * 3]
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    report = router.compare("hello there", scorer=length_scorer)
    assert [r.model for r in report.results] == ["gpt-4.1-nano", "gpt-4.1", "o4-mini"]
    assert all(r.ok and r.cost_usd > 0 and r.latency_ms >= 0 for r in report.results)
    assert [r.selected for r in report.results] == [True, False, False]
    assert report.decision.model == "gpt-4.1-nano"
    assert report.best_model == "o4-mini"
    assert report.cheapest_good_model == "o4-mini"


def test_compare_with_one_model_failing(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1"].error = ConnectionError("connection reset, key sk-secret1234567890")
    router = SmartRouter.from_preset("openai", models=fakes)
    report = router.compare("hello", scorer=length_scorer)
    failed = [r for r in report.results if not r.ok]
    assert [r.model for r in failed] == ["gpt-4.1"]
    assert failed[0].error_kind == "connection"
    assert "sk-secret" not in (failed[0].error or "")
    assert {r.model for r in report.results if r.ok} == {"gpt-4.1-nano", "o4-mini"}


def test_compare_subset_timeout_and_unknown(fakes: dict[str, FakeChatModel]) -> None:
    fakes["o4-mini"].delay_s = 1.0
    router = SmartRouter.from_preset("openai", models=fakes)
    report = router.compare(
        "hello", models=["gpt-4.1-nano", "o4-mini"], timeout_s=0.05, scorer=length_scorer
    )
    assert [(r.model, r.error_kind) for r in report.results] == [
        ("gpt-4.1-nano", None),
        ("o4-mini", "timeout"),
    ]
    with pytest.raises(UnknownModelError, match="unknown model 'gpt-5'"):
        router.compare("hello", models=["gpt-5"])
