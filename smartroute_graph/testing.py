"""A scripted chat model for tests, examples and benchmarks (offline, deterministic).

It answers from a list of replies in turn, reports ``usage_metadata`` like a provider, streams
word by word, and can fail the way providers fail: an error before the first token, a stream
that breaks after some tokens, or a reply slower than the caller's timeout.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from smartroute_graph.core.pricing import estimate_tokens

__all__ = ["FakeChatModel"]


class FakeChatModel(BaseChatModel):
    """Replies with ``responses`` in turn (cycling), like a provider would.

    Args:
        responses: the replies, used in order and then again from the start.
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

    ``with_structured_output(schema)`` parses each reply as JSON into ``schema``, so a
    scripted reply such as ``'{"score": 8, "reason": "ok"}'`` serves as a structured answer.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[str] = Field(default_factory=lambda: ["ok"])
    reply: Callable[[str], str] | None = None
    model_name: str = "fake-model"
    error: BaseException | None = None
    error_after_tokens: int | None = None
    delay_s: float = 0.0
    token_delay_s: float = 0.0
    logprobs: list[float] | None = None
    temperature: float | None = None
    """Accepted like a provider model's setting (the replies do not depend on it)."""
    _calls: int = PrivateAttr(default=0)
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

    def _next(self, messages: list[BaseMessage]) -> tuple[str, UsageMetadata]:
        with self._lock:
            text = self.responses[self._calls % len(self.responses)]
            self._calls += 1
        if self.reply is not None:
            asked = next((m.text for m in reversed(messages) if m.type == "human"), "")
            text = self.reply(asked)
        tokens_in = sum(estimate_tokens(m.text) + 4 for m in messages)
        tokens_out = estimate_tokens(text)
        usage = UsageMetadata(
            input_tokens=tokens_in, output_tokens=tokens_out, total_tokens=tokens_in + tokens_out
        )
        return text, usage

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s:
            time.sleep(self.delay_s)
        return self._result(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._result(messages)

    def _result(self, messages: list[BaseMessage]) -> ChatResult:
        if self.error is not None:
            raise self.error
        text, usage = self._next(messages)
        message = AIMessage(content=text, usage_metadata=usage, response_metadata=self._metadata())
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"model_name": self.model_name}
        if self.logprobs is not None:
            metadata["logprobs"] = {
                "content": [{"token": f"t{i}", "logprob": lp} for i, lp in enumerate(self.logprobs)]
            }
        return metadata

    def with_structured_output(  # type: ignore[override]
        self, schema: type[BaseModel], **kwargs: Any
    ) -> Runnable[Any, Any]:
        """This model with each reply parsed as JSON into ``schema`` (pydantic); with
        ``include_raw=True``, ``{"raw", "parsed", "parsing_error"}`` as LangChain's models give.
        """
        if not kwargs.get("include_raw"):
            return self | RunnableLambda(lambda message: schema.model_validate_json(message.text))

        def parse(message: BaseMessage) -> dict[str, Any]:
            try:
                parsed = schema.model_validate_json(message.text)
            except ValueError as exc:
                return {"raw": message, "parsed": None, "parsing_error": exc}
            return {"raw": message, "parsed": parsed, "parsing_error": None}

        return self | RunnableLambda(parse)

    def _chunks(self, messages: list[BaseMessage]) -> Iterator[ChatGenerationChunk]:
        if self.error is not None:
            raise self.error
        text, usage = self._next(messages)
        tokens = [t for t in re.split(r"(\s+)", text) if t]
        for index, token in enumerate(tokens):
            if self.error_after_tokens is not None and index >= self.error_after_tokens:
                raise ConnectionError("stream broke: connection reset by peer")
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))
        # Usage and the model name travel on one final chunk, as providers send them.
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=usage,
                response_metadata=self._metadata(),
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
        if self.delay_s:
            time.sleep(self.delay_s)
        for chunk in self._chunks(messages):
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
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        for chunk in self._chunks(messages):
            if self.token_delay_s and chunk.message.content:
                await asyncio.sleep(self.token_delay_s)
            if run_manager and chunk.message.content:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
