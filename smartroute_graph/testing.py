"""A scripted chat model for tests, examples and benchmarks (offline, deterministic).

It answers from a list of replies in turn (text, or ``AIMessage``s with ``tool_calls``),
reports ``usage_metadata`` like a provider, streams word by word (tool calls as tool-call
chunks), honours ``stop`` and ``max_tokens``, supports ``bind_tools`` and
``with_structured_output``, and can fail the way providers fail: an error before the first
token, a stream that breaks after some tokens, or a reply slower than the caller's timeout.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, Protocol, runtime_checkable

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.v1 import BaseModel as BaseModelV1

from smartroute_graph.core.pricing import estimate_tokens

__all__ = ["CallWatcher", "FakeChatModel"]


@runtime_checkable
class CallWatcher(Protocol):
    """Told of each call of a :class:`FakeChatModel` (several models may share one)."""

    def enter(self, messages: list[BaseMessage]) -> None:
        """A call with these messages starts."""

    def leave(self, error: BaseException | None) -> None:
        """The call ended: ``None``, or why it did not finish (``CancelledError`` included)."""


class FakeChatModel(BaseChatModel):
    """Replies with ``responses`` in turn (cycling), like a provider would.

    Args:
        responses: the replies, used in order and then again from the start: text, or an
            ``AIMessage`` (e.g. one with ``tool_calls``, as a model asking for a tool).
        reply: instead, a function from the last user message's text to the reply (a model
            scripted per kind of query, e.g. one that writes broken code).
        model_name: reported in ``response_metadata["model_name"]``.
        error: raised on every call before any token (e.g. ``TimeoutError()``).
        error_after_tokens: when streaming, raise ``ConnectionError`` after this many tokens.
        delay_s: seconds to wait before answering (sync and async).
        token_delay_s: when streaming, seconds to wait before each token (a model that
            drips its answer).
        logprobs: token log-probabilities to report, in OpenAI's response_metadata shape.
        temperature: a sampling setting, as providers' models have (not used).
        max_tokens: the longest reply in (estimated) tokens; a longer one is cut, as a
            provider cuts it (``finish_reason: "length"``). Also a call argument.
        watcher: told of every call (see :class:`CallWatcher`): what a test needs to see of
            the calls, e.g. how many overlapped, or which were cancelled.

    A call's ``stop`` sequences cut the reply before the first one found. ``bind_tools``
    binds OpenAI-format tool schemas (what the model was offered is in :attr:`last_kwargs`);
    the tool calls themselves are scripted in ``responses``. ``with_structured_output(schema)``
    parses each reply as JSON into ``schema`` (a pydantic class, a TypedDict or a JSON
    schema), or takes a scripted tool call's arguments with ``method="function_calling"``,
    so a scripted reply such as ``'{"score": 8, "reason": "ok"}'`` serves as a structured
    answer.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[str | AIMessage] = Field(default_factory=lambda: list[str | AIMessage](["ok"]))
    reply: Callable[[str], str | AIMessage] | None = None
    model_name: str = "fake-model"
    error: BaseException | None = None
    error_after_tokens: int | None = None
    delay_s: float = 0.0
    token_delay_s: float = 0.0
    logprobs: list[float] | None = None
    temperature: float | None = None
    """Accepted like a provider model's setting (the replies do not depend on it)."""
    max_tokens: int | None = None
    watcher: CallWatcher | None = None
    _calls: int = PrivateAttr(default=0)
    _last_kwargs: dict[str, Any] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "smartroute-fake"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        # What tells two fakes apart in a LangChain cache key (llm_string), as a provider
        # model's name and sampling settings do.
        return {
            "model_name": self.model_name,
            "responses": self.responses,
            "temperature": self.temperature,
        }

    @property
    def calls(self) -> int:
        """How many times the model was called."""
        return self._calls

    @property
    def last_kwargs(self) -> dict[str, Any]:
        """The call arguments of the latest call (``tools``, ``tool_choice``, ``stop``, …)."""
        return dict(self._last_kwargs)

    def script(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> str | AIMessage:
        """The scripted reply to this call (override for a model scripted on the call)."""
        with self._lock:
            scripted = self.responses[self._calls % len(self.responses)]
        if self.reply is not None:
            asked = next((m.text for m in reversed(messages) if m.type == "human"), "")
            return self.reply(asked)
        return scripted

    def _next(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[AIMessage, UsageMetadata]:
        scripted = self.script(messages, kwargs)
        with self._lock:
            self._calls += 1
            self._last_kwargs = {**kwargs, "stop": stop}
        message = (
            scripted.model_copy(deep=True)
            if isinstance(scripted, AIMessage)
            else AIMessage(content=scripted)
        )
        text, finish = _cut(message.text, stop, kwargs.get("max_tokens") or self.max_tokens)
        if text != message.text or isinstance(message.content, str):
            message.content = text
        message.tool_calls = [
            {**call, "id": call.get("id") or f"call_{uuid.uuid4().hex[:12]}"}
            for call in message.tool_calls
        ]
        tokens_in = sum(estimate_tokens(m.text) + 4 for m in messages)
        tokens_out = estimate_tokens(text) + sum(
            estimate_tokens(json.dumps(c["args"])) for c in message.tool_calls
        )
        usage = message.usage_metadata or UsageMetadata(
            input_tokens=tokens_in, output_tokens=tokens_out, total_tokens=tokens_in + tokens_out
        )
        finish = "tool_calls" if message.tool_calls else finish
        message.response_metadata = {**self._metadata(), "finish_reason": finish}
        message.usage_metadata = usage
        return message, usage

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._watched(messages):
            if self.delay_s:
                time.sleep(self.delay_s)
            return self._result(messages, stop, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._watched(messages):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            return self._result(messages, stop, kwargs)

    @contextmanager
    def _watched(self, messages: list[BaseMessage]) -> Iterator[None]:
        watcher = self.watcher
        if watcher is None:
            yield
            return
        watcher.enter(messages)
        try:
            yield
        except BaseException as exc:
            watcher.leave(exc)
            raise
        watcher.leave(None)

    def _result(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> ChatResult:
        if self.error is not None:
            raise self.error
        message, _ = self._next(messages, stop, kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"model_name": self.model_name}
        if self.logprobs is not None:
            metadata["logprobs"] = {
                "content": [{"token": f"t{i}", "logprob": lp} for i, lp in enumerate(self.logprobs)]
            }
        return metadata

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """This model offered ``tools``; the calls it makes are scripted.

        This model offered ``tools`` (converted to OpenAI's format, as most providers'
        ``bind_tools`` do) and ``tool_choice``; the calls it makes are scripted.
        """
        schemas = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=schemas, **kwargs)

    def with_structured_output(
        self,
        schema: Any,
        *,
        method: Literal["function_calling", "json_mode", "json_schema"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """This model with each reply parsed into ``schema``.

        The reply's JSON text, or with ``method="function_calling"`` a scripted tool call's
        arguments when it has one. With ``include_raw=True``, ``{"raw", "parsed", "parsing_error"}``
        as LangChain's models give.
        """
        if schema is None:
            raise ValueError("with_structured_output needs a schema")
        json_schema = convert_to_json_schema(schema)
        bound = self.bind(
            # What the model sees, in OpenAI's request shape (a scripted model may read it).
            response_format={"type": "json_schema", "json_schema": {"schema": json_schema}},
            ls_structured_output_format={
                "kwargs": {"method": method, "strict": strict},
                "schema": json_schema,
            },
        )

        def parse(message: BaseMessage) -> Any:
            calls = getattr(message, "tool_calls", None)
            is_model = isinstance(schema, type) and issubclass(schema, BaseModel)
            if is_model and not calls:
                return schema.model_validate_json(message.text)
            data: Any = calls[0]["args"] if calls else json.loads(message.text)
            if is_model:
                return schema.model_validate(data)
            if isinstance(schema, type) and issubclass(schema, BaseModelV1):
                return schema.parse_obj(data)
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
            return data

        if not include_raw:
            return bound | RunnableLambda(parse)

        def parse_raw(message: BaseMessage) -> dict[str, Any]:
            try:
                parsed = parse(message)
            except ValueError as exc:
                return {"raw": message, "parsed": None, "parsing_error": exc}
            return {"raw": message, "parsed": parsed, "parsing_error": None}

        return bound | RunnableLambda(parse_raw)

    def _chunks(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> Iterator[ChatGenerationChunk]:
        if self.error is not None:
            raise self.error
        message, usage = self._next(messages, stop, kwargs)
        tokens = [t for t in re.split(r"(\s+)", message.text) if t]
        for index, token in enumerate(tokens):
            if self.error_after_tokens is not None and index >= self.error_after_tokens:
                raise ConnectionError("stream broke: connection reset by peer")
            yield ChatGenerationChunk(message=AIMessageChunk(content=token, id=message.id))
        for index, call in enumerate(message.tool_calls):
            part = tool_call_chunk(
                name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=index
            )
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[part]))
        # Usage and the model name travel on one final chunk, as providers send them.
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=usage,
                response_metadata=message.response_metadata,
                chunk_position="last",
            )
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self._watched(messages):
            if self.delay_s:
                time.sleep(self.delay_s)
            for chunk in self._chunks(messages, stop, kwargs):
                if self.token_delay_s and chunk.message.content:
                    time.sleep(self.token_delay_s)
                if run_manager and chunk.message.content:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        with self._watched(messages):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            for chunk in self._chunks(messages, stop, kwargs):
                if self.token_delay_s and chunk.message.content:
                    await asyncio.sleep(self.token_delay_s)
                if run_manager and chunk.message.content:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk


def _cut(text: str, stop: list[str] | None, max_tokens: int | None) -> tuple[str, str]:
    """``text`` cut at a stop sequence or ``max_tokens``, and the finish reason.

    ``text`` cut before its first stop sequence and to ``max_tokens`` estimated tokens, and the
    finish reason (``"stop"`` or ``"length"``).
    """
    for sequence in stop or ():
        if sequence and sequence in text:
            text = text[: text.index(sequence)]
    if max_tokens is not None and estimate_tokens(text) > max_tokens:
        pieces = [t for t in re.split(r"(\s+)", text) if t]
        kept = ""
        for piece in pieces:
            if estimate_tokens(kept + piece) > max_tokens:
                break
            kept += piece
        return kept, "length"
    return text, "stop"
