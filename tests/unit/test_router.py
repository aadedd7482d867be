from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from smartroute_graph import (
    AllModelsFailedError,
    ConfigError,
    CostTracker,
    EmptyQueryError,
    MissingAPIKeyError,
    SmartRouter,
    StreamInterruptedError,
    UnknownModelError,
)
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS
from smartroute_graph.routing.policy import PRESET_TABLES
from smartroute_graph.testing import FakeChatModel
from tests.support.classifiers import StubClassifier
from tests.support.openai import recording_openai_model


class APIStatusError(Exception):
    """Shaped like the OpenAI SDK's status errors."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def meta(message: AIMessage) -> dict[str, Any]:
    return message.response_metadata["smartroute"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_domain_then_complexity_then_model_for_every_domain(
    domain: str, fakes: dict[str, FakeChatModel]
) -> None:
    for level in COMPLEXITIES:
        router = SmartRouter.from_preset(
            "openai", models=fakes, classifier=StubClassifier(domain, level)
        )
        nodes = [
            next(iter(update))
            for update in router.graph.stream({"query": "some question"}, stream_mode="updates")
        ]
        expected = PRESET_TABLES["openai"][domain][level]
        assert nodes == [
            "prepare",
            "classify_domain",
            "assess_complexity",
            "learned",
            "select_model",
            expected,
        ]
        answer = router.invoke("some question")
        assert answer.content == f"answer from {expected}: all good here"
        info = meta(answer)
        assert (info["domain"], info["complexity"], info["model"]) == (domain, level, expected)
        assert info["escalated"] is False and len(info["attempts"]) == 1


def test_rules_classifier_routes_obvious_prompts(router: SmartRouter) -> None:
    cases = {
        "hi there! how are you?": ("chat", "gpt-4.1-nano"),
        "Prove that there are infinitely many primes, rigorously.": ("math", "o4-mini"),
        "Summarize the following text: The board met on Monday and agreed to the budget.": (
            "text",
            "gpt-4.1-nano",
        ),
    }
    for query, (domain, model) in cases.items():
        decision = router.route(query)
        assert (decision.domain, decision.model) == (domain, model), decision.reason


@pytest.mark.parametrize(
    "value",
    [
        "What is the capital of Peru?",
        [HumanMessage("What is the capital of Peru?")],
        [("human", "What is the capital of Peru?")],
        {"query": "What is the capital of Peru?"},
        {"messages": [{"role": "user", "content": "What is the capital of Peru?"}]},
        ChatPromptTemplate.from_template("What is the capital of {c}?").invoke({"c": "Peru"}),
    ],
)
def test_every_input_type_gets_an_answer(router: SmartRouter, value: Any) -> None:
    answer = router.invoke(value)
    assert isinstance(answer, AIMessage)
    assert answer.content.startswith("answer from")
    assert meta(answer)["domain"] == "knowledge"


def test_metadata_and_usage(router: SmartRouter) -> None:
    answer = router.invoke("hello!")
    info = meta(answer)
    for key in (
        "domain",
        "complexity",
        "complexity_score",
        "confidence",
        "domain_probs",
        "complexity_probs",
        "model",
        "reason",
        "attempts",
        "escalated",
        "cost_usd",
    ):
        assert key in info
    assert abs(sum(info["domain_probs"].values()) - 1) < 1e-3
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["output_tokens"] == info["attempts"][0]["output_tokens"]
    assert info["cost_usd"] > 0


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TimeoutError("read timed out"), "timeout"),
        (APIStatusError("rate limited", 429), "rate_limit"),
        (APIStatusError("bad gateway", 502), "server_error"),
        (ConnectionError("connection refused"), "connection"),
    ],
)
def test_provider_errors_fall_back_to_the_next_model(
    fakes: dict[str, FakeChatModel], error: Exception, kind: str
) -> None:
    fakes["gpt-4.1-nano"].error = error
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    answer = router.invoke("hello")
    info = meta(answer)
    assert answer.content.startswith("answer from gpt-4.1:")
    assert [a["model"] for a in info["attempts"]] == ["gpt-4.1-nano", "gpt-4.1"]
    assert info["attempts"][0]["ok"] is False and info["attempts"][0]["error_kind"] == kind
    assert info["escalated"] is True and info["model"] == "gpt-4.1"
    assert info["selected_model"] == "gpt-4.1-nano"


def test_failure_goes_through_review_and_escalate(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].error = TimeoutError("slow")
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    nodes = [next(iter(u)) for u in router.graph.stream({"query": "hello"}, stream_mode="updates")]
    assert nodes[5:] == ["gpt-4.1-nano", "review", "escalate", "gpt-4.1"]


def test_router_timeout_falls_back(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].delay_s = 0.5
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    answer = router.invoke("hello", timeout_s=0.05)
    attempts = meta(answer)["attempts"]
    assert attempts[0]["error_kind"] == "timeout" and "0.05 s" in attempts[0]["error"]
    assert answer.content.startswith("answer from gpt-4.1:")


async def test_async_timeout_falls_back(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].delay_s = 0.5
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    answer = await router.ainvoke("hello", timeout_s=0.05)
    assert [a["error_kind"] for a in meta(answer)["attempts"]] == ["timeout", None]


def test_stream_broken_before_first_token_falls_back(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].error_after_tokens = 0
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    chunks = list(router.stream("hello"))
    text = "".join(str(c.content) for c in chunks)
    assert text == "answer from gpt-4.1: all good here"
    attempts = chunks[-1].response_metadata["smartroute"]["attempts"]
    assert attempts[0]["error_kind"] == "connection" and attempts[0]["model"] == "gpt-4.1-nano"


def test_stream_broken_after_tokens_raises(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].error_after_tokens = 3
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    received: list[str] = []
    with pytest.raises(StreamInterruptedError, match="stream broke after part of the answer"):
        for chunk in router.stream("hello"):
            received.append(str(chunk.content))
    assert "".join(received) == "answer from gpt-4.1-nano:"[: len("".join(received))]


def test_broken_stream_in_invoke_mode_falls_back(fakes: dict[str, FakeChatModel]) -> None:
    # invoke() does not stream to the caller, so a mid-stream failure can still fall back.
    fakes["gpt-4.1-nano"].error = ConnectionError("reset")
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    assert router.invoke("hello").content.startswith("answer from gpt-4.1:")


def test_all_models_failing_names_each_attempt(fakes: dict[str, FakeChatModel]) -> None:
    for i, fake in enumerate(fakes.values()):
        fake.error = APIStatusError(f"upstream failure {i}", 503)
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    with pytest.raises(AllModelsFailedError) as info:
        router.invoke("hello")
    text = str(info.value)
    assert "every model failed (the attempt limit is 3)" in text
    for name in ("gpt-4.1-nano", "gpt-4.1", "o4-mini"):
        assert name in text
    assert [a["model"] for a in info.value.attempts] == ["gpt-4.1-nano", "gpt-4.1", "o4-mini"]


def test_attempts_are_bounded(fakes: dict[str, FakeChatModel]) -> None:
    for fake in fakes.values():
        fake.error = TimeoutError("slow")
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    with pytest.raises(AllModelsFailedError) as info:
        router.invoke("hello", max_attempts=2)
    assert len(info.value.attempts) == 2
    assert fakes["o4-mini"].calls == 0


def test_auth_errors_are_not_retried(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].error = APIStatusError(
        "Incorrect API key provided: sk-abcdef1234567890", 401
    )
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    with pytest.raises(AllModelsFailedError, match="auth errors are not retried") as info:
        router.invoke("hello")
    assert "sk-abcdef1234567890" not in str(info.value)
    assert "sk-***" in str(info.value)
    assert fakes["gpt-4.1"].calls == 0


def test_cost_sums_across_attempts(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].error = TimeoutError()
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    tracker = CostTracker()
    answer = router.invoke("hello", config={"callbacks": [tracker]})
    info = meta(answer)
    assert info["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in info["attempts"]))
    assert tracker.calls == 1 and tracker.total_cost_usd == pytest.approx(info["cost_usd"])
    assert set(tracker.by_model) == {"gpt-4.1"}


def test_cost_of_several_successful_attempts_is_summed(fakes: dict[str, FakeChatModel]) -> None:
    router = SmartRouter.from_preset("openai", models=fakes)
    tracker = CostTracker()
    first = router.invoke("hello", config={"callbacks": [tracker]})
    second = router.invoke(
        "Prove Fermat's little theorem rigorously", config={"callbacks": [tracker]}
    )
    assert tracker.calls == 2
    assert tracker.total_cost_usd == pytest.approx(
        meta(first)["cost_usd"] + meta(second)["cost_usd"]
    )


def test_streaming_through_a_chain_yields_many_chunks(router: SmartRouter) -> None:
    chain = ChatPromptTemplate.from_template("Say hi to {name}") | router | StrOutputParser()
    chunks = list(chain.stream({"name": "Ada"}))
    assert len([c for c in chunks if c]) > 1
    assert "".join(chunks).startswith("answer from")
    assert chain.invoke({"name": "Ada"}) == "".join(chunks)


async def test_async_streaming_and_events(router: SmartRouter) -> None:
    chain = ChatPromptTemplate.from_template("Say hi to {name}") | router | StrOutputParser()
    chunks = [c async for c in chain.astream({"name": "Ada"})]
    assert len([c for c in chunks if c]) > 1
    kinds = {e["event"] async for e in chain.astream_events({"name": "Ada"}, version="v2")}
    assert {"on_chat_model_stream", "on_parser_stream"} <= kinds


def test_streamed_chunks_merge_into_the_message(router: SmartRouter) -> None:
    chunks = list(router.stream("hello"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert isinstance(merged, AIMessageChunk)
    assert merged.content == router.invoke("hello").content
    assert merged.response_metadata["smartroute"]["model"] == "gpt-4.1-nano"
    assert merged.usage_metadata and merged.usage_metadata["output_tokens"] > 0


def test_batch_and_abatch_keep_order(router: SmartRouter) -> None:
    queries = ["hello", "Prove that sqrt(2) is irrational rigorously", "hi again"]
    answers = router.batch(queries)
    assert [meta(a)["model"] for a in answers] == [router.route(q).model for q in queries]
    async_answers = asyncio.run(router.abatch(queries))
    assert [a.content for a in async_answers] == [a.content for a in answers]


def test_route_calls_no_model_and_needs_no_key() -> None:
    router = SmartRouter.from_preset("openai")  # no models, no key
    decision = router.route("Write a haiku about autumn")
    assert decision.domain == "creative" and decision.model in router.catalog
    assert router.invoke("hi", dry_run=True).response_metadata["smartroute"]["dry_run"] is True


def test_missing_key_is_a_clear_error() -> None:
    router = SmartRouter.from_preset("openai")
    with pytest.raises(MissingAPIKeyError, match="set OPENAI_API_KEY"):
        router.invoke("hi")


def test_forced_model_and_unknown_model(router: SmartRouter) -> None:
    answer = router.invoke("hi", model="o4-mini")
    assert meta(answer)["model"] == "o4-mini"
    assert meta(answer)["reason"] == "o4-mini requested explicitly"
    with pytest.raises(UnknownModelError, match="unknown model 'gpt-5'"):
        router.invoke("hi", model="gpt-5")


def test_forced_domain_reconditions_complexity(fakes: dict[str, FakeChatModel]) -> None:
    router = SmartRouter.from_preset("openai", models=fakes)
    decision = router.route("hello", domain="math")
    assert decision.domain == "math"
    with pytest.raises(ValueError, match="unknown domain 'cooking'"):
        router.route("hello", domain="cooking")


def test_complexity_cutoffs_move_the_level(router: SmartRouter) -> None:
    assert router.route("hello", complexity_cutoffs=(0.0, 0.0)).complexity == "complex"
    assert router.route("hello", complexity_cutoffs=(1.0, 1.0)).complexity == "simple"


def test_empty_and_unknown_settings(router: SmartRouter) -> None:
    with pytest.raises(EmptyQueryError):
        router.invoke("   ")
    with pytest.raises(TypeError, match=r"unknown router setting\(s\) \['temprature'\]"):
        router.invoke("hi", temprature=0.2)


def test_messages_input_appends_answer_in_graph_output(router: SmartRouter) -> None:
    out = router.graph.invoke({"messages": [HumanMessage("hello")]})
    assert [m.type for m in out["messages"]] == ["human", "ai"]
    assert out["response"].content == out["messages"][-1].content


def test_constructor_timeout_applies_to_given_models(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].delay_s = 0.5
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple"), timeout_s=0.05
    )
    assert [a["error_kind"] for a in meta(router.invoke("hello"))["attempts"]] == ["timeout", None]


def test_forced_model_respects_the_budget(router: SmartRouter) -> None:
    from smartroute_graph import BudgetError

    with pytest.raises(BudgetError, match="requested model o4-mini is estimated at"):
        router.invoke("hi", model="o4-mini", budget_usd=1e-7)


def test_classifier_can_be_chosen_per_request(fakes: dict[str, FakeChatModel]) -> None:
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("math", "complex")
    )
    assert router.route("hello").classifier == "stub"
    assert router.route("hello", classifier="rules").classifier == "rules"
    with pytest.raises(Exception, match="unknown classifier 'magic'"):
        router.route("hello", classifier="magic")
    # "default" is the router's own classifier, not a second load of the packaged one.
    assert router.route("hello", classifier="default").classifier == "stub"


def test_encoder_alias_reuses_the_loaded_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import smartroute_graph.classifiers as classifiers

    registry = classifiers.ClassifierRegistry(
        {"encoder:accurate": StubClassifier("math", "complex")}, default="encoder:accurate"
    )
    monkeypatch.setattr(classifiers, "load_classifier", lambda name: pytest.fail(name))
    assert registry["encoder"] is registry["encoder:accurate"] is registry["default"]
    assert "encoder" in registry and list(registry).count("encoder:accurate") == 1
    assert "encoder" not in list(registry)


def test_from_config_keywords_override_the_file() -> None:
    router = SmartRouter.from_config({"preset": "openai", "budget_usd": 0.5}, budget_usd=0.01)
    assert router.defaults.budget_usd == 0.01


def test_a_follow_up_is_read_with_the_previous_turn_only_when_unclear(
    fakes: dict[str, FakeChatModel],
) -> None:
    from langchain_core.messages import AIMessage as AI

    class ByText(StubClassifier):
        """Sure of "hi!" alone, unsure of "now in Rust" alone, coding with context."""

        def classify(self, texts: Any) -> Any:
            out = []
            for text in texts:
                if text == "hi!":
                    out += StubClassifier("chat", "simple", 0.99, 0.99).classify([text])
                elif text == "now in Rust":
                    out += StubClassifier("chat", "simple", 0.5, 0.5).classify([text])
                else:
                    out += StubClassifier("coding", "moderate", 0.95, 0.95).classify([text])
            return out

    router = SmartRouter.from_preset("openai", models=fakes, classifier=ByText("x", "simple"))
    history = [HumanMessage("write a quicksort in Python"), AI("def qs...")]
    assert router.route([*history, HumanMessage("hi!")]).domain == "chat"
    follow_up = router.route([*history, HumanMessage("now in Rust")])
    assert (follow_up.domain, follow_up.model) == ("coding", "gpt-4.1")


# ChatOpenAI probes which TCP socket options exist by making (not connecting) a socket.
@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_temperature_reaches_the_answering_model_and_is_checked() -> None:
    nano, bodies = recording_openai_model()
    router = SmartRouter.from_preset(
        "openai", models={"gpt-4.1-nano": nano}, classifier=StubClassifier("chat", "simple")
    )
    router.invoke("hello", temperature=0.25)
    router.invoke("hello")
    assert bodies[0]["temperature"] == 0.25 and "temperature" not in bodies[1]
    assert nano.temperature is None  # the caller's model is left as it was
    with pytest.raises(ConfigError, match="temperature=3: Input should be less than or equal to 2"):
        router.invoke("hello", temperature=3)


def test_registry_default_given_as_encoder_loads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import smartroute_graph.classifiers as classifiers
    from smartroute_graph.classifiers.cascade import CascadeClassifier

    loads: list[str] = []

    def load(name: str) -> Any:
        loads.append(name)
        return StubClassifier("coding", "simple")

    monkeypatch.setattr(classifiers, "load_classifier", load)
    registry = classifiers.ClassifierRegistry(default="encoder")  # as Studio builds it
    assert registry["default"] is registry["encoder"] is registry["encoder:accurate"]
    assert loads == ["encoder:accurate"] and list(registry).count("encoder") == 0
    # A router whose classifier is a cascade serves its encoder to requests that name it.
    cascade = CascadeClassifier(StubClassifier("math", "simple"), StubClassifier("chat", "simple"))
    routed = classifiers.ClassifierRegistry({cascade.name: cascade}, default=cascade.name)
    assert routed["stub"] is cascade.first and routed["default"] is cascade


def test_a_model_without_a_temperature_setting_records_none() -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    router = SmartRouter.from_preset(
        "openai",
        models={"gpt-4.1-nano": FakeListChatModel(responses=["ok"])},
        classifier=StubClassifier("chat", "simple"),
    )
    meta = router.invoke("hello", temperature=0.4).response_metadata["smartroute"]
    assert meta["attempts"][0]["temperature"] is None  # kept its own: the server warns
