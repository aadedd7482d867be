"""The answer review cascade: score a cheap answer, re-ask a stronger model when it is weak."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage

from smartroute_graph import ConfigError, SmartRouter
from smartroute_graph.quality.review import logprob_confidence
from smartroute_graph.testing import FakeChatModel
from tests.support.classifiers import StubClassifier
from tests.support.openai import recording_openai_model

GOOD_LOGPROBS = [-0.05, -0.1, -0.02]  # confidence ≈ 0.94
POOR_LOGPROBS = [-2.0, -1.5, -2.5]  # confidence ≈ 0.14


def meta(message: AIMessage) -> dict[str, Any]:
    return message.response_metadata["smartroute"]


def chat_router(fakes: dict[str, FakeChatModel], **kwargs: Any) -> SmartRouter:
    return SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple"), **kwargs
    )


def test_logprob_confidence_reads_openai_shape() -> None:
    message = AIMessage(
        "x",
        response_metadata={
            "logprobs": {
                "content": [{"token": "a", "logprob": -0.1}, {"token": "b", "logprob": -0.3}]
            }
        },
    )
    assert logprob_confidence(message) == pytest.approx(0.8187, abs=1e-3)
    assert logprob_confidence(AIMessage("x")) is None


def test_low_logprob_confidence_escalates(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].logprobs = POOR_LOGPROBS
    fakes["gpt-4.1"].logprobs = GOOD_LOGPROBS
    answer = chat_router(fakes, review="logprobs", review_threshold=0.5).invoke("hello")
    info = meta(answer)
    assert answer.content.startswith("answer from gpt-4.1:")
    assert [r["model"] for r in info["reviews"]] == ["gpt-4.1-nano", "gpt-4.1"]
    assert [r["passed"] for r in info["reviews"]] == [False, True]
    assert info["escalated"] is True and info["model"] == "gpt-4.1"
    assert [a["model"] for a in info["attempts"]] == ["gpt-4.1-nano", "gpt-4.1"]
    # Both calls were paid for.
    assert info["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in info["attempts"]))


def test_high_confidence_does_not_escalate(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].logprobs = GOOD_LOGPROBS
    answer = chat_router(fakes, review="logprobs", review_threshold=0.5).invoke("hello")
    info = meta(answer)
    assert answer.content.startswith("answer from gpt-4.1-nano:")
    assert len(info["reviews"]) == 1 and info["reviews"][0]["passed"] is True
    assert fakes["gpt-4.1"].calls == 0 and info["escalated"] is False


def test_the_better_answer_is_kept_and_attempts_are_bounded(
    fakes: dict[str, FakeChatModel],
) -> None:
    fakes["gpt-4.1-nano"].logprobs = [-1.0]  # 0.37
    fakes["gpt-4.1"].logprobs = [-3.0]  # 0.05: worse than the cheap answer
    router = chat_router(fakes, review="logprobs", review_threshold=0.9, max_attempts=2)
    answer = router.invoke("hello")
    info = meta(answer)
    assert len(info["attempts"]) == 2 and fakes["o4-mini"].calls == 0
    assert answer.content.startswith("answer from gpt-4.1-nano:")
    assert info["model"] == "gpt-4.1-nano" and info["escalated"] is False


def test_no_logprobs_keeps_the_answer_with_a_note(fakes: dict[str, FakeChatModel]) -> None:
    info = meta(chat_router(fakes, review="logprobs").invoke("hello"))
    assert info["reviews"][0]["score"] is None
    assert "no log-probabilities" in info["reviews"][0]["note"]


def test_llm_judge_escalates_a_weak_answer(fakes: dict[str, FakeChatModel]) -> None:
    # The judge is the catalog's gpt-4.1-nano: scripted to answer first, then to judge twice.
    fakes["gpt-4.1-nano"].responses = [
        "answer from gpt-4.1-nano: meh",
        '{"score": 2, "reason": "misses the point"}',
        '{"score": 9, "reason": "complete"}',
    ]
    router = chat_router(fakes, review="judge", judge_model="gpt-4.1-nano")
    answer = router.invoke("hello")
    info = meta(answer)
    assert answer.content.startswith("answer from gpt-4.1:")
    assert [r["details"]["judge_score"] for r in info["reviews"]] == [2, 9]
    assert info["reviews"][0]["score"] == pytest.approx(1 / 9)
    assert fakes["gpt-4.1-nano"].calls == 3


def test_a_failing_judge_keeps_the_answer(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1"].error = TimeoutError("judge timed out")
    router = chat_router(fakes, review="judge", judge_model="gpt-4.1")
    info = meta(router.invoke("hello"))
    assert info["reviews"][0]["passed"] is True
    assert "the judge gpt-4.1 failed (TimeoutError" in info["reviews"][0]["details"]["note"]
    assert info["review_cost_usd"] == 0


def test_an_unparsable_verdict_keeps_the_answer_and_still_costs(
    fakes: dict[str, FakeChatModel],
) -> None:
    fakes["gpt-4.1-nano"].responses = ["answer from nano", "not json at all"]
    info = meta(chat_router(fakes, review="judge").invoke("hello"))
    review = info["reviews"][0]
    assert review["passed"] is True and review["score"] is None
    assert "gave no usable verdict" in review["details"]["note"]
    assert review["cost_usd"] > 0 and info["review_cost_usd"] == review["cost_usd"]


def test_judge_calls_count_in_the_cost(fakes: dict[str, FakeChatModel]) -> None:
    from smartroute_graph import CostTracker
    from smartroute_graph.core.catalog import preset_catalog
    from smartroute_graph.core.pricing import attempt_cost

    fakes["gpt-4.1-nano"].responses = ["answer from nano", '{"score": 8, "reason": "fine"}']
    tracker = CostTracker()
    answer = chat_router(fakes, review="judge").invoke("hello", {"callbacks": [tracker]})
    info = meta(answer)
    review = info["reviews"][0]
    tokens = review["details"]["judge_input_tokens"], review["details"]["judge_output_tokens"]
    judge_cost = attempt_cost(preset_catalog("openai")["gpt-4.1-nano"], *tokens)
    assert review["cost_usd"] == pytest.approx(judge_cost) and judge_cost > 0
    answer_cost = sum(a["cost_usd"] for a in info["attempts"])
    assert info["cost_usd"] == pytest.approx(answer_cost + judge_cost)
    assert tracker.total_cost_usd == pytest.approx(info["cost_usd"])
    assert tracker.calls == 2


def test_review_streams_the_kept_answer_only(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].logprobs = POOR_LOGPROBS
    fakes["gpt-4.1"].logprobs = GOOD_LOGPROBS
    chunks = list(chat_router(fakes, review="logprobs").stream("hello"))
    text = "".join(str(c.content) for c in chunks)
    assert text == "answer from gpt-4.1: all good here"
    assert chunks[-1].response_metadata["smartroute"]["escalated"] is True


async def test_async_review(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].logprobs = POOR_LOGPROBS
    answer = await chat_router(fakes, review="logprobs").ainvoke("hello")
    assert meta(answer)["escalated"] is True


def test_review_is_a_per_request_setting(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].logprobs = POOR_LOGPROBS
    router = chat_router(fakes)
    assert meta(router.invoke("hello"))["reviews"] == []
    assert meta(router.invoke("hello", review="logprobs"))["escalated"] is True


def test_bad_review_settings() -> None:
    with pytest.raises(ConfigError, match="review='vibes': Input should be 'off', 'scorer'"):
        SmartRouter.from_preset("openai", review="vibes")
    with pytest.raises(ConfigError, match="judge_model 'gpt-9' is not in the catalog"):
        SmartRouter.from_preset("openai", review="judge", judge_model="gpt-9")


# ChatOpenAI probes which TCP socket options exist by making (not connecting) a socket.
@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_logprobs_review_asks_an_openai_model_for_logprobs() -> None:
    # A real ChatOpenAI on an in-process transport: the request must carry logprobs=true,
    # and the confidence is read back from the provider's answer.
    nano, bodies = recording_openai_model(logprobs=[-0.1])
    router = SmartRouter.from_preset(
        "openai",
        models={"gpt-4.1-nano": nano},
        classifier=StubClassifier("chat", "simple"),
        review="logprobs",
        review_threshold=0.5,
    )
    info = meta(router.invoke("hello"))
    assert bodies and bodies[0]["logprobs"] is True
    assert info["model"] == "gpt-4.1-nano"
    assert info["reviews"][0]["score"] == pytest.approx(0.905, abs=0.001)
    assert nano.logprobs is None  # the caller's model is left as it was
