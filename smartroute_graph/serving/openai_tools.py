"""Tool calling and model options on ``/v1/chat/completions``, in OpenAI's shapes.

The request's ``tools``/``tool_choice``/``max_tokens``/``stop``/``response_format`` as the router's
model options, assistant tool calls and ``tool`` messages as LangChain messages, and an answer's
tool calls (whole or as stream deltas) back in OpenAI's format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

from smartroute_graph.core.errors import InputError
from smartroute_graph.serving.schemas import ChatCompletionRequest, ChatMessageIn

__all__ = [
    "assistant_message",
    "model_options",
    "openai_tool_calls",
    "tool_call_deltas",
    "tool_message",
]


def model_options(request: ChatCompletionRequest) -> dict[str, Any]:
    """The request's options for the answering model, checked.

    The request's options for the answering model, checked (an invalid one is a 400 that says what
    to send instead).
    """
    if request.functions:
        raise InputError(
            "'functions' is OpenAI's deprecated form: send the same schemas as 'tools' "
            "([{'type': 'function', 'function': {...}}])"
        )
    options: dict[str, Any] = {}
    for index, tool in enumerate(request.tools or []):
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, Mapping):
            raise InputError(
                f"tools[{index}] must be {{'type': 'function', 'function': {{'name': ..., "
                f"'parameters': {{...}}}}}}; got type {tool.get('type')!r}"
            )
        if not isinstance(function.get("name"), str) or not function["name"]:
            raise InputError(f"tools[{index}].function needs a 'name'")
    if request.tools:
        options["tools"] = list(request.tools)
        if request.tool_choice is not None:
            options["tool_choice"] = request.tool_choice
        if request.parallel_tool_calls is not None:
            options["parallel_tool_calls"] = request.parallel_tool_calls
    elif request.tool_choice not in (None, "none", "auto"):
        raise InputError("tool_choice names a tool but the request sends no 'tools'")
    limit = request.max_completion_tokens or request.max_tokens
    if limit is not None:
        options["max_tokens"] = limit
    if request.stop:
        options["stop"] = [request.stop] if isinstance(request.stop, str) else list(request.stop)
    kind = (request.response_format or {}).get("type")
    if kind not in (None, "text", "json_object", "json_schema"):
        raise InputError(
            f"response_format type {kind!r} is not supported: send 'text', 'json_object' or "
            "'json_schema'"
        )
    if kind in ("json_object", "json_schema"):
        options["response_format"] = dict(request.response_format or {})
    return options


def assistant_message(message: ChatMessageIn, text: str) -> AIMessage:
    """An assistant turn, with its tool calls (OpenAI's ``tool_calls``) as LangChain's."""
    calls = []
    for index, call in enumerate(message.tool_calls or []):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not function.get("name"):
            raise InputError(f"assistant tool_calls[{index}] needs 'function': {{'name', ...}}")
        try:
            args = json.loads(function.get("arguments") or "{}")
        except json.JSONDecodeError as exc:
            raise InputError(
                f"assistant tool_calls[{index}].function.arguments is not JSON: {exc}"
            ) from None
        calls.append({"name": function["name"], "args": args, "id": call.get("id")})
    return AIMessage(content=text, tool_calls=calls)


def tool_message(message: ChatMessageIn, text: str) -> ToolMessage:
    """A ``tool`` turn (a tool's result) as a LangChain ``ToolMessage``."""
    if not message.tool_call_id:
        raise InputError("a message with role 'tool' needs the 'tool_call_id' it answers")
    return ToolMessage(content=text, tool_call_id=message.tool_call_id)


def openai_tool_calls(message: AIMessage) -> list[dict[str, Any]]:
    """The answer's tool calls in OpenAI's response format."""
    return [
        {
            "id": call.get("id") or f"call_{index}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
        }
        for index, call in enumerate(message.tool_calls)
    ]


def tool_call_deltas(chunk: AIMessageChunk) -> list[dict[str, Any]]:
    """A stream chunk's tool-call parts as OpenAI's ``delta.tool_calls`` entries."""
    deltas = []
    for position, part in enumerate(chunk.tool_call_chunks):
        function: dict[str, Any] = {"arguments": part.get("args") or ""}
        if part.get("name"):
            function["name"] = part["name"]
        delta: dict[str, Any] = {
            "index": part.get("index") if part.get("index") is not None else position,
            "function": function,
        }
        if part.get("id"):
            delta["id"] = part["id"]
            delta["type"] = "function"
        deltas.append(delta)
    return deltas
