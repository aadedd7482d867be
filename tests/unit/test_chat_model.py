"""ChatSmartRouter and the model options of SmartRouter: tools reach the chosen model, tool
loops keep their model, agent noise is not the task, stop/max_tokens/temperature pass
through, structured output is the chosen model's, streams end with one last chunk, callbacks
see one chat-model run per call, and cache hits cost nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import BaseCallbackHandler, UsageMetadataCallbackHandler
from langchain_core.globals import set_llm_cache
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from smartroute_graph import CostTracker, SmartRouter
from smartroute_graph.chat_model import ChatSmartRouter
from smartroute_graph.core.agent_turns import is_harness_noise, latest_request, loop_model
from smartroute_graph.core.catalog import preset_catalog
from smartroute_graph.core.inputs import classification_text
from smartroute_graph.core.pricing import attempt_cost
from smartroute_graph.testing import FakeChatModel
from tests.support.fakes import fake_models
from tests.support.scripted_tools import ToolCallingFake


@tool
def get_weather(location: str) -> str:
    """The weather at a place."""
    return f"sunny in {location}"


class Joke(BaseModel):
    setup: str
    punchline: str


@pytest.fixture
def tool_fakes() -> dict[str, ToolCallingFake]:
    return fake_models(ToolCallingFake)


@pytest.fixture
def chat(tool_fakes: dict[str, ToolCallingFake]) -> ChatSmartRouter:
    return ChatSmartRouter(router=SmartRouter.from_preset("openai", models=tool_fakes))


def meta(message: Any) -> dict[str, Any]:
    return dict(message.response_metadata["smartroute"])


def answering(fakes: dict[str, Any]) -> str:
    (name,) = [n for n, f in fakes.items() if f.calls]
    return name


def test_bound_tools_reach_the_chosen_model(
    chat: ChatSmartRouter, tool_fakes: dict[str, ToolCallingFake]
) -> None:
    reply = chat.bind_tools([get_weather], tool_choice="any").invoke("Weather in 'Paris'?")
    chosen = meta(reply)["model"]
    assert tool_fakes[chosen].last_kwargs["tools"][0]["function"]["name"] == "get_weather"
    assert tool_fakes[chosen].last_kwargs["tool_choice"] == "any"
    assert reply.tool_calls[0]["name"] == "get_weather"
    assert reply.tool_calls[0]["args"] == {"location": "Paris"}


def test_a_tool_loop_keeps_its_model_and_a_new_request_reroutes(chat: ChatSmartRouter) -> None:
    tools = chat.bind_tools([get_weather])
    question = HumanMessage("What is the weather in 'Paris'?")
    first = tools.invoke([question], model="o4-mini")  # the loop starts on o4-mini
    assert meta(first)["model"] == "o4-mini" and first.tool_calls
    result = get_weather.invoke(first.tool_calls[0])
    second = tools.invoke([question, first, result])
    assert meta(second)["model"] == "o4-mini"
    assert meta(second)["reason"].startswith("tool loop: o4-mini")
    assert "the tool said sunny in Paris" in second.text
    # A harness nudge after the tool result is still the same task.
    nudged = tools.invoke([question, first, result, HumanMessage("continue")])
    assert meta(nudged)["model"] == "o4-mini"
    # A new user request is routed on its own: a greeting goes to the cheap model.
    third = tools.invoke([question, first, result, second, HumanMessage("thanks, hi!")])
    assert meta(third)["model"] == "gpt-4.1-nano"
    assert "tool loop" not in meta(third)["reason"]


def test_the_task_is_the_latest_real_request_not_harness_noise() -> None:
    request = HumanMessage("Write a Python function that reverses a linked list in place")
    call = AIMessage("", tool_calls=[{"name": "run", "args": {}, "id": "c1"}])
    messages = [
        SystemMessage("You are a coding agent with a shell."),
        request,
        call,
        ToolMessage("ok", tool_call_id="c1"),
        HumanMessage([{"type": "tool_result", "tool_use_id": "c1", "content": "ok"}]),
        HumanMessage("continue"),
    ]
    assert is_harness_noise(messages[-1]) and is_harness_noise(messages[-2])
    assert not is_harness_noise(request)
    assert latest_request(messages) == 1
    text = classification_text(messages, [])
    assert text.startswith(request.text) and "coding agent" in text
    assert classification_text(messages, [], with_context=False) == request.text
    assert loop_model(messages) is None  # the AI message carries no routing metadata
    router = SmartRouter.from_preset("openai", models=fake_models())
    assert router.route(messages).domain == "coding"
    assert router.route([HumanMessage("continue")]).domain != "coding"


def test_stop_max_tokens_and_temperature_reach_the_chosen_model(
    fakes: dict[str, FakeChatModel],
) -> None:
    chat = ChatSmartRouter(router=SmartRouter.from_preset("openai", models=fakes))
    reply = chat.invoke("hello!", stop=["all good"], max_tokens=50)
    name = answering(fakes)
    assert fakes[name].last_kwargs["stop"] == ["all good"]
    assert fakes[name].last_kwargs["max_tokens"] == 50
    assert reply.text == f"answer from {name}: "
    short = chat.invoke("hello!", max_tokens=2)
    assert short.response_metadata["finish_reason"] == "length"
    # The temperature is set on (a copy of) the chosen model, and recorded on the attempt.
    warm = ChatSmartRouter(router=chat.router, temperature=0.3).invoke("hello!")
    assert meta(warm)["attempts"][0]["temperature"] == 0.3
    # SmartRouter takes the same options (no "unknown router setting").
    router = SmartRouter.from_preset("openai", models=fake_models())
    assert router.invoke("hello!", stop="all").text.endswith(": ")


def test_bad_model_options_say_what_is_wrong(chat: ChatSmartRouter) -> None:
    with pytest.raises(ValueError, match="max_tokens must be a positive integer"):
        chat.invoke("hi", max_tokens=0)
    with pytest.raises(ValueError, match="stop must be a string or a list of strings"):
        chat.invoke("hi", stop=[1])


def test_structured_output_uses_the_chosen_models_own(
    chat: ChatSmartRouter, tool_fakes: dict[str, ToolCallingFake]
) -> None:
    joke = chat.with_structured_output(Joke).invoke("Tell a joke about 'cats'")
    assert joke == Joke(setup="cats", punchline="cats")
    chosen = answering(tool_fakes)
    assert tool_fakes[chosen].last_kwargs["response_format"]["type"] == "json_schema"
    raw = chat.with_structured_output(Joke, include_raw=True).invoke("Tell a joke")
    assert raw["parsing_error"] is None and isinstance(raw["parsed"], Joke)
    assert meta(raw["raw"])["model"] == chosen
    broken = ChatSmartRouter(router=SmartRouter.from_preset("openai", models=fake_models()))
    failed = broken.with_structured_output(Joke, include_raw=True).invoke("Tell a joke")
    assert failed["parsed"] is None and "did not match the schema" in str(failed["parsing_error"])


def test_the_last_streamed_chunk_carries_position_usage_and_metadata(
    chat: ChatSmartRouter,
) -> None:
    chunks = list(chat.stream("hello!"))
    assert chunks[-1].chunk_position == "last"
    assert [c for c in chunks if "smartroute" in c.response_metadata] == [chunks[-1]]
    assert chunks[-1].usage_metadata and chunks[-1].response_metadata["model_name"]
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert full.text.startswith("answer from") and meta(full)["model"] in full.text
    calls = list(chat.bind_tools([get_weather]).stream("Weather in 'Oslo'?"))
    merged = calls[0]
    for chunk in calls[1:]:
        merged = merged + chunk
    assert merged.tool_calls[0]["args"] == {"location": "Oslo"}
    assert calls[-1].chunk_position == "last"


class _Starts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.starts.append(kwargs)


def test_callbacks_and_tags_reach_the_chosen_models_one_run(chat: ChatSmartRouter) -> None:
    starts, usage = _Starts(), UsageMetadataCallbackHandler()
    config: Any = {"callbacks": [starts, usage], "tags": ["mine"], "metadata": {"who": "me"}}
    reply = chat.invoke("hello!", config=config)
    assert len(starts.starts) == 1
    assert "mine" in starts.starts[0]["tags"] and starts.starts[0]["metadata"]["who"] == "me"
    (counted,) = usage.usage_metadata.values()
    assert counted["output_tokens"] == reply.usage_metadata["output_tokens"]  # once, not twice


def test_stream_events_v3(chat: ChatSmartRouter) -> None:
    stream = chat.stream_events("hello!", version="v3")
    events = list(stream)
    assert events and stream.output.text.startswith("answer from")


@pytest.fixture
def llm_cache() -> Iterator[None]:
    set_llm_cache(InMemoryCache())
    yield
    set_llm_cache(None)


def test_a_cache_hit_costs_nothing_and_is_counted_once(llm_cache: None) -> None:
    router = SmartRouter.from_preset("openai", models=fake_models())
    tracker = CostTracker()
    first = router.invoke("hello!", config={"callbacks": [tracker]})
    second = router.invoke("hello!", config={"callbacks": [tracker]})
    assert meta(first)["cost_usd"] > 0 and meta(first)["cache_hit"] is False
    assert meta(second)["cost_usd"] == 0 and meta(second)["cache_hit"] is True
    assert meta(second)["attempts"][0]["cache_hit"] is True
    assert tracker.calls == 1 and tracker.cache_hits == 1
    assert tracker.total_cost_usd == meta(first)["cost_usd"]


def test_cached_input_tokens_are_priced_from_the_catalog() -> None:
    usage: Any = {
        "input_tokens": 1000,
        "output_tokens": 10,
        "total_tokens": 1010,
        "input_token_details": {"cache_read": 800},
    }
    scripted = AIMessage("answer from the cache-aware model", usage_metadata=usage)
    models = fake_models(per_model={"gpt-4.1-nano": {"responses": [scripted]}})
    router = SmartRouter.from_preset("openai", models=models)
    attempt = meta(router.invoke("hello!"))["attempts"][0]
    spec = preset_catalog("openai")["gpt-4.1-nano"]
    expected = (200 * 0.10 + 800 * 0.025 + 10 * 0.40) / 1_000_000
    assert attempt["cost_usd"] == pytest.approx(expected)
    assert attempt_cost(spec, 1000, 10, 800) < attempt_cost(spec, 1000, 10)


def test_the_router_as_an_agents_model(tool_fakes: dict[str, ToolCallingFake]) -> None:
    from langchain.agents import create_agent

    chat = ChatSmartRouter(router=SmartRouter.from_preset("openai", models=tool_fakes))
    agent = create_agent(chat, tools=[get_weather], system_prompt="You are a travel agent.")
    result = agent.invoke({"messages": [("user", "What is the weather in 'Rome'?")]})
    kinds = [m.type for m in result["messages"]]
    assert kinds == ["human", "ai", "tool", "ai"]
    assert result["messages"][2].text == "sunny in Rome"
    first, last = meta(result["messages"][1]), meta(result["messages"][3])
    assert last["model"] == first["model"] and last["reason"].startswith("tool loop")
    # With subgraphs=True the chosen model's tokens stream out of the agent as they come.
    tokens = [
        chunk.text
        for _, (chunk, info) in agent.stream(
            {"messages": [("user", "What is the weather in 'Rome'?")]},
            stream_mode="messages",
            subgraphs=True,
        )
        if info.get("langgraph_node") in tool_fakes and chunk.text
    ]
    assert len(tokens) > 3 and "".join(tokens).endswith("sunny in Rome")
