"""``ChatSmartRouter``: the router as a LangChain chat model (``BaseChatModel``).

It stands where a chat model stands: the model of ``langchain.agents.create_agent`` or
LangGraph's prebuilt agent, ``bind_tools``, ``with_structured_output``, the standard
parameters (``temperature``, ``max_tokens``, ``stop``, ``timeout``), ``usage_metadata``,
streaming, ``stream_events(version="v3")``. Each call runs the router's graph
(:class:`~smartroute_graph.runnable.SmartRouter`): the chosen model answers with the tools,
stop sequences and structured-output schema applied its own way, and the answer carries the
routing in ``response_metadata["smartroute"]`` as ``SmartRouter``'s does.

The router itself makes no chat-model run of its own: the chosen model's run is the one chat
model run a callback handler sees (so ``UsageMetadataCallbackHandler`` and LangSmith count
each call once), inside the router graph's run, with the caller's callbacks, tags and
metadata.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool
from pydantic import ConfigDict, Field, SecretStr

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.core.providers import API_KEY_ENV
from smartroute_graph.graph.call_options import PARSED_KEY, PARSING_ERROR_KEY
from smartroute_graph.runnable import SmartRouter

__all__ = ["ROUTER_MODEL_ALIASES", "ChatSmartRouter"]

# Model names that mean "let the router choose" (anything else names a catalog model).
ROUTER_MODEL_ALIASES = frozenset({"smartroute", "smartroute/auto", "auto"})


class ChatSmartRouter(BaseChatModel):
    """The router as a LangChain chat model.

    Args:
        router: the :class:`SmartRouter` to route with; default: ``SmartRouter.from_preset(
            preset)``.
        preset: the preset of the default router (``"openai"``).
        model: ``"smartroute"`` (the router chooses) or a catalog model to force; a call's
            ``model=`` overrides it.
        temperature, max_tokens, stop: passed to the chosen model (reasoning models take no
            temperature).
        timeout: seconds one model call may take (the router's ``timeout_s``).
        max_retries: model calls after the first one (fallbacks): ``max_attempts`` is
            ``max_retries + 1``. The router's fallback is the retry.
        api_key: a key for the catalog's providers (else the router's keys, then the
            environment).
        settings: other per-call router settings (``budget_usd``, ``review``, ``domain``,
            …: the fields of ``RouterContext``), applied to every call.
        streaming: accepted for compatibility: ``stream`` always streams.

    Example::

        from langchain.agents import create_agent
        model = ChatSmartRouter(router=SmartRouter.from_preset("openai"))
        agent = create_agent(model, tools=[get_weather])
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: SmartRouter = Field(default=None, exclude=True)  # type: ignore[assignment]
    preset: str = "openai"
    model: str = "smartroute"
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    timeout: float | None = None
    max_retries: int | None = None
    api_key: SecretStr | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    streaming: bool = False

    def model_post_init(self, context: Any, /) -> None:
        """Build the default router when none was given."""
        if self.router is None:
            self.router = SmartRouter.from_preset(self.preset)

    @classmethod
    def from_router(cls, router: SmartRouter, **kwargs: Any) -> ChatSmartRouter:
        """The chat model face of ``router`` (the same graph, catalog and classifier)."""
        return cls(router=router, **kwargs)

    @property
    def _llm_type(self) -> str:
        return "smartroute"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "preset": self.router.policy_name,
            "models": list(self.router.catalog),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="smartroute",
            ls_model_name=str(kwargs.get("model") or self.model),
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if isinstance(temperature, int | float):
            params["ls_temperature"] = temperature
        limit = kwargs.get("max_tokens", self.max_tokens)
        if isinstance(limit, int):
            params["ls_max_tokens"] = limit
        stop = stop or kwargs.get("stop") or self.stop
        if stop:
            params["ls_stop"] = stop
        return params

    # -- the router call ------------------------------------------------------------------

    def router_kwargs(self, stop: list[str] | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The router's keyword arguments for one call.

        This model's settings, then the call's (``model``, ``temperature``, ``max_tokens``,
        ``stop``, ``tools``, …).
        """
        call = dict(kwargs)
        call.pop("ls_structured_output_format", None)  # the chosen model reports its own
        out: dict[str, Any] = dict(self.settings)
        model = call.pop("model", None) or self.model
        if model not in ROUTER_MODEL_ALIASES:
            out["model"] = model
        for name, value in (
            ("temperature", self.temperature),
            ("max_tokens", self.max_tokens),
            ("stop", self.stop),
            ("timeout_s", self.timeout),
        ):
            if value is not None and value != []:
                out[name] = value
        if self.max_retries is not None:
            out["max_attempts"] = self.max_retries + 1
        if stop:
            out["stop"] = stop
        if self.api_key is not None and "api_keys" not in call:
            providers = {s.provider for s in self.router.catalog.values()} & set(API_KEY_ENV)
            out["api_keys"] = {p: self.api_key for p in providers}
        out.update(call)
        return out

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Route ``input`` and return the chosen model's answer."""
        return self.router.invoke(input, config, **self.router_kwargs(stop, kwargs))

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Async :meth:`invoke`."""
        return await self.router.ainvoke(input, config, **self.router_kwargs(stop, kwargs))

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """The chosen model's chunks as they come.

        The last one has ``chunk_position="last"``, the usage and
        ``response_metadata["smartroute"]``.
        """
        yield from self.router.stream(input, config, **self.router_kwargs(stop, kwargs))

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """Async :meth:`stream`."""
        async for chunk in self.router.astream(input, config, **self.router_kwargs(stop, kwargs)):
            yield chunk

    # BaseChatModel's own paths (generate, stream_events v3) come through these.

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        config = _child_config(run_manager)
        message = self.router.invoke(messages, config, **self.router_kwargs(stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        config = _child_config(run_manager)
        message = await self.router.ainvoke(messages, config, **self.router_kwargs(stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        config = _child_config(run_manager)
        for chunk in self.router.stream(messages, config, **self.router_kwargs(stop, kwargs)):
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        config = _child_config(run_manager)
        kw = self.router_kwargs(stop, kwargs)
        async for chunk in self.router.astream(messages, config, **kw):
            yield ChatGenerationChunk(message=chunk)

    # -- tools and structured output --------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """The router with ``tools`` offered to whichever model it chooses.

        The router with ``tools`` offered to whichever model it chooses (each model's own
        ``bind_tools`` formats them and ``tool_choice``: ``"auto"``, ``"any"``, a tool name).
        """
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=list(tools), **kwargs)

    def with_structured_output(
        self,
        schema: Any,
        *,
        include_raw: bool = False,
        method: Literal["function_calling", "json_mode", "json_schema"] | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """The router answering in ``schema`` through the chosen model's own structured output.

        The router answering in ``schema`` (a pydantic class, a TypedDict or a JSON schema) through
        the chosen model's own ``with_structured_output`` (its native method unless ``method`` names
        one). With ``include_raw=True``: ``{"raw", "parsed", "parsing_error"}``.
        """
        if schema is None:
            raise ConfigError("with_structured_output needs a schema")
        if kwargs:
            raise ConfigError(f"unknown with_structured_output argument(s): {sorted(kwargs)}")
        options = {"schema": schema, "method": method, "strict": strict}
        bound = self.bind(structured_output=options)
        if include_raw:
            return bound | RunnableLambda(_parsed_with_raw, name="smartroute_structured")
        return bound | RunnableLambda(_parsed, name="smartroute_structured")


def _child_config(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> RunnableConfig:
    """A config whose runs are children of ``run_manager``'s run.

    A config whose runs are children of ``run_manager``'s run (its inheritable callbacks, tags and
    metadata), for the router's graph under BaseChatModel's own run.
    """
    if run_manager is None:
        return {}
    manager_class = (
        AsyncCallbackManager
        if isinstance(run_manager, AsyncCallbackManagerForLLMRun)
        else CallbackManager
    )
    manager = manager_class(
        handlers=list(run_manager.inheritable_handlers),
        inheritable_handlers=list(run_manager.inheritable_handlers),
        parent_run_id=run_manager.run_id,
        tags=list(run_manager.inheritable_tags),
        inheritable_tags=list(run_manager.inheritable_tags),
        metadata=dict(run_manager.inheritable_metadata),
        inheritable_metadata=dict(run_manager.inheritable_metadata),
    )
    return {"callbacks": manager}


def _parsed(message: AIMessage) -> Any:
    error = message.additional_kwargs.get(PARSING_ERROR_KEY)
    if error is not None:
        raise OutputParserException(f"the answer did not match the schema: {error}")
    if message.additional_kwargs.get(PARSED_KEY) is None:
        raise OutputParserException(
            "the chosen model gave no structured answer", llm_output=message.text
        )
    return message.additional_kwargs[PARSED_KEY]


def _parsed_with_raw(message: AIMessage) -> dict[str, Any]:
    try:
        parsed = _parsed(message)
    except OutputParserException as exc:
        return {"raw": message, "parsed": None, "parsing_error": exc}
    return {"raw": message, "parsed": parsed, "parsing_error": None}
