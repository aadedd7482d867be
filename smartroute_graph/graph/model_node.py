"""The node that calls one catalog model.

It applies the settings, holds the time limits, records the attempt (cost, latency, error kind) and
passes streaming through.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableConfig

# LangGraph's own node wrapper, as its prebuilt ToolNode uses it: a sync and an async body,
# and no second traced run per node (RunnableLambda adds one, ~0.2 ms a call).
from langgraph._internal._runnable import RunnableCallable

from smartroute_graph.core.catalog import ModelSpec
from smartroute_graph.core.errors import (
    SmartRouteError,
)
from smartroute_graph.core.inputs import with_attachments
from smartroute_graph.core.pricing import (
    COST_EVENT,
    attempt_cost,
    cached_tokens,
    call_tokens,
    cost_event,
    is_cache_hit,
)
from smartroute_graph.core.providers import (
    ModelProvider,
    error_kind,
    redact_secrets,
    request_keys,
    secret_values,
)
from smartroute_graph.core.response_cache import cached_answer, store_answer
from smartroute_graph.graph.call_options import (
    apply_call_options,
    call_options,
    structured_answer,
    wants_structured_output,
)
from smartroute_graph.graph.deadlines import (
    DeadlineError,
    StreamLimits,
    acall_with_timeout,
    astream_within,
    call_timeout,
    call_with_timeout,
    has_token,
    stream_limits,
    stream_within,
    time_left,
    total_label,
)
from smartroute_graph.graph.learning import (
    remember_answer,
)
from smartroute_graph.graph.metadata import finalise
from smartroute_graph.graph.state import (
    Attempt,
    RouterState,
    current_context,
)
from smartroute_graph.routing.online import OnlineLearner

__all__ = [
    "STREAMING_CONFIG_KEY",
    "StreamInterruptedError",
    "is_streaming",
    "model_node",
    "node",
    "past_deadline",
]

# Set by SmartRouter.stream: tokens reach the caller as they come, so a model that fails
# after its first token cannot be replaced silently.
STREAMING_CONFIG_KEY = "smartroute_streaming"


class StreamInterruptedError(SmartRouteError):
    """A model's stream broke, or passed a time limit, after tokens reached the caller.

    No fallback is possible. ``error_kind``: ``"timeout"`` (a limit of the router's, such as
    ``total_timeout_s``) or ``"stream_broken"`` (the provider's stream failed).
    """

    def __init__(self, message: str, error_kind: str = "stream_broken") -> None:
        super().__init__(message)
        self.error_kind = error_kind


def _with_logprobs(model: BaseChatModel) -> BaseChatModel:
    """The model asked to return token log-probabilities, where it has the switch.

    The switch is ``ChatOpenAI.logprobs``; ``review="logprobs"`` reads them. Reasoning models refuse
    it.
    """
    from langchain_openai.chat_models.base import BaseChatOpenAI

    if isinstance(model, BaseChatOpenAI) and not model.logprobs:
        return model.model_copy(update={"logprobs": True})
    return model


def _with_temperature(
    model: BaseChatModel, temperature: float
) -> tuple[BaseChatModel, float | None]:
    """A copy of ``model`` sampling at ``temperature``, and that temperature.

    Only where the model has the setting (ChatOpenAI and most provider models); else the model as it
    is and None.
    """
    if "temperature" in type(model).model_fields:
        return model.model_copy(update={"temperature": temperature}), temperature
    return model, None


def model_node(
    spec: ModelSpec, provider: ModelProvider, learner: OnlineLearner | None = None
) -> RunnableCallable:
    """The node that calls ``spec``'s chat model once and records the attempt."""

    def prepare_call(
        state: RouterState, config: RunnableConfig
    ) -> tuple[Any, list[Any], float | None]:
        """The model to call, the messages, and the temperature the router set on it.

        The model to call (with the run's settings and the caller's model options: tools, stop,
        max_tokens, structured output), the messages, and the temperature the router set on it
        (None: the model keeps its own).
        """
        keys, own_only = request_keys(config)
        model = provider.get(spec, keys, own_keys_only=own_only)
        context = current_context()
        if context.review == "logprobs" and not spec.reasoning:
            model = _with_logprobs(model)
        temperature = None
        if context.temperature is not None and not spec.reasoning:
            model, temperature = _with_temperature(model, context.temperature)
        messages = with_attachments(list(state["messages"]), state.get("attachments") or [])
        return apply_call_options(model, call_options(config)), messages, temperature

    def record(call: _Call) -> tuple[dict[str, Any], dict[str, Any] | None]:
        state, config, result, exc = call.state, call.config, call.result, call.error
        temperature, streamed_tokens = call.temperature, call.streamed_tokens()
        latency_ms = (time.perf_counter() - call.started) * 1000
        if exc is not None:
            # The provider may echo the request's key in its error, in any shape.
            own = secret_values(request_keys(config)[0])
            if isinstance(exc, SmartRouteError):
                raise exc
            if streamed_tokens and isinstance(exc, DeadlineError):
                raise StreamInterruptedError(
                    f"{spec.name}'s stream was stopped after part of the answer was sent: "
                    f"{exc}; retry the request, ask for a shorter answer, or allow more time",
                    error_kind="timeout",
                ) from None
            if streamed_tokens:
                raise StreamInterruptedError(
                    f"{spec.name}'s stream broke after part of the answer was sent "
                    f"({type(exc).__name__}: {redact_secrets(str(exc), own)}); retry the request"
                ) from None
            kind = "stream_broken" if streamed_tokens else error_kind(exc)
            attempt = Attempt(
                model=spec.name,
                ok=False,
                latency_ms=latency_ms,
                error_kind=kind,
                error=redact_secrets(f"{type(exc).__name__}: {exc}", own)[:500],
                temperature=temperature,
            )
            return {"attempts": [attempt], "response": None}, None
        assert result is not None
        tokens_in, tokens_out, estimated = call_tokens(state["messages"], result)
        hit = is_cache_hit(result)
        cost = 0.0 if hit else attempt_cost(spec, tokens_in, tokens_out, cached_tokens(result))
        attempt = Attempt(
            model=spec.name,
            ok=True,
            latency_ms=latency_ms,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            temperature=temperature,
            cache_hit=hit,
        )
        extra = {"cache_hit": True} if hit else {}
        event = cost_event(spec.name, cost, tokens_in, tokens_out, estimated=estimated, **extra)
        # A good answer is final here: going through `review` would cost a graph step.
        decision = state["decision"]
        assert decision is not None
        attempts = [*(state.get("attempts") or []), attempt]
        final = finalise(_as_message(result), decision, attempts, state.get("reviews") or [])
        # With review on, the review node keeps the answer and appends it to the messages.
        reviewed = current_context().review != "off"
        if not reviewed:
            final = remember_answer(learner, current_context(), state, final, attempts)
        update: dict[str, Any] = {"attempts": [attempt], "response": final, "next_model": None}
        if not reviewed:
            update["messages"] = [final]
        return update, event

    def call(state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        c = _Call(prepare_call(state, config), state, config)
        with c.capturing():
            if not c.streams():
                timeout, expired = c.timeout()
                if timeout is None:
                    output = c.model.invoke(c.messages, config)
                else:
                    # Its own thread, never a shared pool: a hung call given up on keeps
                    # its thread until the model returns, and must not starve later calls.
                    output = call_with_timeout(
                        c.model.invoke, c.messages, config, timeout=timeout, message=expired
                    )
                c.result = structured_answer(output)
            elif c.cached():  # LangChain answers from the cache: the answer arrives whole
                c.result = c.model.invoke(c.messages, config)
            else:
                for chunk in stream_within(lambda: c.model.stream(c.messages, config), c.limits()):
                    c.chunks.append(chunk)
                c.join_chunks()
        update, event = record(c)
        if event is not None:
            dispatch_custom_event(COST_EVENT, event, config=config)
        return update

    async def acall(state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        c = _Call(prepare_call(state, config), state, config)
        with c.capturing():
            if not c.streams():
                timeout, expired = c.timeout()
                work = c.model.ainvoke(c.messages, config)
                output = await acall_with_timeout(work, timeout=timeout, message=expired)
                c.result = structured_answer(output)
            elif c.cached():
                c.result = await c.model.ainvoke(c.messages, config)
            else:
                stream = astream_within(lambda: c.model.astream(c.messages, config), c.limits())
                async for chunk in stream:
                    c.chunks.append(chunk)
                c.join_chunks()
        update, event = record(c)
        if event is not None:
            await adispatch_custom_event(COST_EVENT, event, config=config)
        return update

    return node(call, acall, spec.name)


class _Call:
    """One call of a model node: what its sync and async bodies share."""

    def __init__(
        self,
        prepared: tuple[Any, list[Any], float | None],
        state: RouterState,
        config: RunnableConfig,
    ) -> None:
        self.model, self.messages, self.temperature = prepared
        self.state, self.config = state, config
        self.context = current_context()
        self.started = time.perf_counter()
        self.result: BaseMessage | None = None
        self.error: BaseException | None = None
        self.chunks: list[AIMessageChunk] = []

    def streams(self) -> bool:
        """Whether to stream the answer (a streamed run, no structured output).

        Raises:
            DeadlineError: classification used up the run's time: call nothing.
        """
        if past_deadline(self.state):
            raise DeadlineError(total_label(self.context), "total")
        return is_streaming(self.config) and not wants_structured_output(self.config)

    def cached(self) -> bool:
        """Whether the response cache holds this call's answer."""
        return cached_answer(self.model, self.messages) is not None

    def limits(self) -> StreamLimits:
        """A streamed call's limits (first token, between chunks, the run's deadline)."""
        return stream_limits(self.context, self.state.get("deadline_at"))

    def timeout(self) -> tuple[float | None, str]:
        """Seconds a whole call may take, and what to say when it takes longer."""
        return call_timeout(self.context, self.state.get("deadline_at"))

    def join_chunks(self) -> None:
        """The streamed chunks as the answer, stored in the response cache."""
        self.result = _join_chunks(self.chunks)
        store_answer(self.model, self.messages, self.result)

    @contextmanager
    def capturing(self) -> Iterator[None]:
        """Keep the call's exception as its ``error`` (recorded as a failed attempt)."""
        try:
            yield
        except Exception as exc:
            self.error = exc

    def streamed_tokens(self) -> bool:
        """Whether part of the answer already reached the caller."""
        return any(has_token(chunk) for chunk in self.chunks)


def past_deadline(state: RouterState) -> bool:
    """Whether the run's total deadline has passed."""
    left = time_left(state.get("deadline_at"))
    return left is not None and left <= 0


def is_streaming(config: RunnableConfig) -> bool:
    """Whether the run streams tokens to its caller (``SmartRouter.stream``)."""
    return bool((config.get("configurable") or {}).get(STREAMING_CONFIG_KEY))


def _join_chunks(chunks: Sequence[AIMessageChunk]) -> AIMessage:
    if not chunks:
        raise ConnectionError("the stream ended before its first token")
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    return _as_message(merged)


def _as_message(message: BaseMessage) -> AIMessage:
    if isinstance(message, AIMessageChunk):
        return AIMessage(
            content=message.content,
            additional_kwargs=message.additional_kwargs,
            response_metadata=message.response_metadata,
            tool_calls=message.tool_calls,
            usage_metadata=message.usage_metadata,
            id=message.id,
        )
    if isinstance(message, AIMessage):
        return message
    return AIMessage(content=message.content, id=message.id)


def node(func: Any, afunc: Any, name: str) -> RunnableCallable:
    """A graph node with a sync and an async body and no extra traced run of its own."""
    return RunnableCallable(func, afunc, name=name, trace=False)
