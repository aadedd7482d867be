"""Tool calling through ``/v1/chat/completions`` on a real local server: the ``openai``
client's own tool-calling loop (call → tool result → answer), streamed tool-call deltas, and
``max_tokens``/``stop``/``response_format`` reaching the chosen (scripted) model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from smartroute_graph.serving.app import create_app
from tests.support.scripted_tools import ToolCallingFake
from tests.support.servers import live_server

pytestmark = pytest.mark.integration

TOKEN = "tools-server-token-0123456789abcdef"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather at a place.",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def get_weather(location: str) -> str:
    return f"sunny in {location}"


@pytest.fixture(scope="module")
def models() -> dict[str, ToolCallingFake]:
    from tests.support.fakes import fake_models

    return fake_models(ToolCallingFake)


@pytest.fixture(scope="module")
def oai(models: dict[str, ToolCallingFake]) -> Iterator[openai.OpenAI]:
    from smartroute_graph import SmartRouter

    app = create_app(SmartRouter.from_preset("openai", models=models), server_token=TOKEN)
    with live_server(app) as live:
        yield openai.OpenAI(base_url=f"{live.url}/v1", api_key=TOKEN, max_retries=0)


def test_the_openai_clients_tool_loop(oai: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in 'Paris'?"}]
    for _ in range(4):  # the client's loop: call tools until the model answers
        completion = oai.chat.completions.create(
            model="smartroute", messages=messages, tools=[WEATHER]
        )
        choice = completion.choices[0]
        messages.append(choice.message)
        if choice.finish_reason != "tool_calls":
            break
        for call in choice.message.tool_calls or []:
            args = json.loads(call.function.arguments)
            result = get_weather(**args)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    assert [m["role"] if isinstance(m, dict) else m.role for m in messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert messages[1].tool_calls[0].function.name == "get_weather"
    assert "sunny in Paris" in (completion.choices[0].message.content or "")
    assert completion.choices[0].finish_reason == "stop"


def test_streamed_tool_call_deltas(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="smartroute",
        messages=[{"role": "user", "content": "Weather in 'Oslo'?"}],
        tools=[WEATHER],
        tool_choice="required",
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            entry = calls.setdefault(delta.index, {"name": "", "arguments": "", "id": ""})
            entry["id"] = delta.id or entry["id"]
            entry["name"] += (delta.function.name or "") if delta.function else ""
            entry["arguments"] += (delta.function.arguments or "") if delta.function else ""
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert finish == "tool_calls"
    assert calls[0]["name"] == "get_weather" and calls[0]["id"]
    assert json.loads(calls[0]["arguments"]) == {"location": "Oslo"}


def test_model_options_reach_the_chosen_model(
    oai: openai.OpenAI, models: dict[str, ToolCallingFake]
) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4.1",
        messages=[{"role": "user", "content": "hello there"}],
        max_tokens=40,
        stop=["all good"],
        tool_choice="none",
    )
    assert completion.choices[0].message.content == "answer from gpt-4.1: "
    seen = models["gpt-4.1"].last_kwargs
    assert seen["max_tokens"] == 40 and seen["stop"] == ["all good"]
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    structured = oai.chat.completions.create(
        model="gpt-4.1",
        messages=[{"role": "user", "content": "Name a city like 'Lima'"}],
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    assert json.loads(structured.choices[0].message.content or "") == {"city": "Lima"}


def test_bad_tools_say_what_to_send(oai: openai.OpenAI) -> None:
    base = str(oai.base_url).rstrip("/")
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http:
        response = http.post(
            f"{base}/chat/completions",
            json={
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "retrieval"}],
            },
        )
        assert response.status_code == 400
        assert "must be {'type': 'function'" in response.json()["error"]["message"]
        response = http.post(
            f"{base}/chat/completions",
            json={
                "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "x"}]
            },
        )
        assert response.status_code == 400 and "tool_call_id" in response.text
