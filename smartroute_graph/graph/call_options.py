"""What a caller asks of the answering model itself.

What a caller asks of the answering model itself (tools, tool choice, stop sequences, an output
length cap, structured output): carried from ``SmartRouter``/``ChatSmartRouter`` to the model node
in the run's config, and applied to whichever model the router chose.

They travel in ``config["configurable"]`` under :data:`CALL_OPTIONS_CONFIG_KEY` as one dict:
LangChain copies only scalar configurable values into trace metadata, so tool schemas stay
out of every run's metadata; the chosen model's own run shows them as its invocation
parameters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.runnables import Runnable, RunnableConfig

from smartroute_graph.core.errors import ConfigError

__all__ = [
    "CALL_OPTIONS_CONFIG_KEY",
    "CALL_OPTION_NAMES",
    "PARSED_KEY",
    "PARSING_ERROR_KEY",
    "apply_call_options",
    "as_chunk",
    "call_options",
    "pop_call_options",
    "structured_answer",
    "wants_structured_output",
]

CALL_OPTIONS_CONFIG_KEY = "smartroute_call_options"
# Keyword arguments of a router call that go to the answering model, not to the router.
# ``structured_output``: ``{"schema", "method", "strict"}`` (``ChatSmartRouter`` sets it).
CALL_OPTION_NAMES = frozenset(
    {
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "stop",
        "max_tokens",
        "response_format",
        "structured_output",
    }
)
# Where a structured answer's parsed value (and its parsing error) ride on the AIMessage,
# as langchain-openai puts ``parsed`` in ``additional_kwargs``.
PARSED_KEY = "parsed"
PARSING_ERROR_KEY = "smartroute_parsing_error"


def pop_call_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the model options from a call's keyword arguments and return them (checked)."""
    options = {k: kwargs.pop(k) for k in list(kwargs) if k in CALL_OPTION_NAMES}
    options = {k: v for k, v in options.items() if v is not None}
    stop = options.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif stop is not None and not (
        isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop)
    ):
        raise ConfigError(f"stop must be a string or a list of strings, got {stop!r}")
    if not options.get("stop"):
        options.pop("stop", None)
    limit = options.get("max_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"max_tokens must be a positive integer, got {limit!r}")
    tools = options.get("tools")
    if tools is not None and not isinstance(tools, list | tuple):
        raise ConfigError(f"tools must be a list of tools, got {type(tools).__name__}")
    if not tools:
        options.pop("tools", None)
        options.pop("tool_choice", None)
        options.pop("parallel_tool_calls", None)
    return options


def call_options(config: RunnableConfig | None) -> Mapping[str, Any]:
    """The model options of the run (empty when the caller set none)."""
    configurable = (config or {}).get("configurable") or {}
    return configurable.get(CALL_OPTIONS_CONFIG_KEY) or {}


def wants_structured_output(config: RunnableConfig | None) -> bool:
    """Whether the run asks the chosen model for structured output."""
    return bool(call_options(config).get("structured_output"))


def apply_call_options(
    model: BaseChatModel, options: Mapping[str, Any]
) -> Runnable[Any, Any] | BaseChatModel:
    """``model`` with the run's options applied the model's own way.

    ``bind_tools`` (each provider formats tools and ``tool_choice`` its own way), native structured
    output (``with_structured_output(..., include_raw=True)``: see :func:`structured_answer`), and
    ``stop`` / ``max_tokens`` bound as call arguments.
    """
    if not options:
        return model
    bound: dict[str, Any] = {}
    if options.get("stop"):
        bound["stop"] = list(options["stop"])
    if options.get("max_tokens") is not None:
        bound["max_tokens"] = options["max_tokens"]
    if options.get("response_format"):
        # OpenAI's request field (JSON mode, a JSON schema): OpenAI-compatible models take it.
        bound["response_format"] = options["response_format"]
    structured = options.get("structured_output")
    if structured:
        # The model's own structured output; stop sequences and a length cap would cut the
        # JSON short, so they are not applied to it.
        schema = structured["schema"]
        extra = {k: v for k, v in structured.items() if k != "schema" and v is not None}
        return model.with_structured_output(schema, include_raw=True, **extra)
    if options.get("tools"):
        tool_kwargs: dict[str, Any] = {}
        if options.get("tool_choice") is not None:
            tool_kwargs["tool_choice"] = options["tool_choice"]
        if options.get("parallel_tool_calls") is not None:
            tool_kwargs["parallel_tool_calls"] = options["parallel_tool_calls"]
        try:
            with_tools = model.bind_tools(list(options["tools"]), **tool_kwargs)
        except NotImplementedError:
            raise ConfigError(
                f"{type(model).__name__} does not support tool calling (no bind_tools): give "
                "the router models that do, or call it without tools"
            ) from None
        return with_tools.bind(**bound) if bound else with_tools
    return model.bind(**bound) if bound else model


def structured_answer(output: Any) -> AIMessage:
    """The answer message of a structured-output call.

    The answer message of a structured-output call (``include_raw=True``'s dict), with the parsed
    value and any parsing error on it for the caller's parser.
    """
    if isinstance(output, AIMessage):
        return output
    if not isinstance(output, Mapping) or "raw" not in output:
        raise TypeError(f"a structured-output call returned {type(output).__name__}")
    raw = output["raw"]
    message = raw if isinstance(raw, AIMessage) else AIMessage(content=getattr(raw, "content", ""))
    extra = {**message.additional_kwargs, PARSED_KEY: output.get("parsed")}
    if output.get("parsing_error") is not None:
        extra[PARSING_ERROR_KEY] = str(output["parsing_error"])
    return message.model_copy(update={"additional_kwargs": extra})


def as_chunk(message: AIMessage) -> AIMessageChunk:
    """``message`` as one stream chunk (its tool calls as tool-call chunks)."""
    return AIMessageChunk(
        content=message.content,
        additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata,
        usage_metadata=message.usage_metadata,
        tool_call_chunks=[
            tool_call_chunk(
                name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=index
            )
            for index, call in enumerate(message.tool_calls)
        ],
        id=message.id,
    )
