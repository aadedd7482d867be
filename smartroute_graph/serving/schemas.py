"""Request bodies of the HTTP API and the fields each accepts, and the router metadata
every answer carries.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from langchain_core.messages import (
    AIMessage,
)
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from smartroute_graph.core.errors import (
    InputError,
)

__all__ = [
    "LEGACY_FIELDS",
    "OPENAI_CHAT_FIELDS",
    "OPENAI_MESSAGE_FIELDS",
    "ROUTER_MODEL_NAME",
    "ApiKey",
    "BatchRequest",
    "Budget",
    "ChatCompletionRequest",
    "ChatMessageIn",
    "CompareRequest",
    "NonEmptyText",
    "QueryRequest",
    "RouteRequest",
    "SelectionRequest",
    "SpecificRequest",
    "UnknownFieldError",
    "answer_meta",
    "answer_usage",
]

# Fields the older systems' clients send: accepted (and ignored where the endpoint has no
# such field) instead of refused as unknown. The first router's clients sent
# ``openai_api_key`` and ``temperature``; the second's ``prompt``, ``compare``, ``prompts``
# and ``model``.
ROUTER_MODEL_NAME = "smartroute"

LEGACY_FIELDS = frozenset(
    {"openai_api_key", "temperature", "prompt", "compare", "prompts", "model"}
)


# OpenAI's documented chat-completions request fields: accepted by /v1/chat/completions
# (those the router does not apply are ignored); anything else is refused as unknown.
OPENAI_CHAT_FIELDS = frozenset(
    {
        "messages",
        "model",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)


# The documented fields of one chat message (of any role).
OPENAI_MESSAGE_FIELDS = frozenset(
    {"role", "content", "name", "tool_calls", "tool_call_id", "function_call", "refusal", "audio"}
)


class UnknownFieldError(InputError):
    """The body has a field the endpoint does not take (HTTP 422, naming it)."""

    http_status = 422


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("the query is empty: send the text to route (a non-empty string)")
    return value


NonEmptyText = Annotated[str, AfterValidator(_not_blank)]


ApiKey = Annotated[
    SecretStr | None,
    Field(description="your provider key for this request (never logged or echoed)"),
]


Budget = Annotated[
    float | None,
    Field(gt=0, description="cap on the estimated cost of the answer, in US dollars"),
]


class _Body(BaseModel):
    """A request body: unknown fields are refused (422 naming the field), except the older
    systems' (:data:`LEGACY_FIELDS`), which are accepted and ignored.
    """

    model_config = ConfigDict(extra="forbid")
    _quiet_fields: ClassVar[frozenset[str]] = LEGACY_FIELDS

    @model_validator(mode="before")
    @classmethod
    def _drop_quiet_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            ignored = cls._quiet_fields - set(cls.model_fields)
            if ignored & data.keys():
                return {k: v for k, v in data.items() if k not in ignored}
        return data


class RouteRequest(_Body):
    """``POST /route``."""

    prompt: NonEmptyText
    temperature: float | None = Field(
        default=None,
        ge=0.0,
        le=2.0,
        description="sampling temperature of the answering model (reasoning models take none)",
    )
    api_key: ApiKey = None
    dry_run: bool = Field(default=False, description="decide only; call no model")
    budget_usd: Budget = None


class QueryRequest(_Body):
    """``POST /query``."""

    query: NonEmptyText
    api_key: ApiKey = None
    budget_usd: Budget = None


class CompareRequest(_Body):
    """``POST /query-compare``."""

    query: NonEmptyText
    models: list[str] | None = Field(
        default=None,
        description="default: the whole catalog; duplicates are dropped, at most max_batch",
    )
    api_key: ApiKey = None


class SpecificRequest(_Body):
    """``POST /query-specific``."""

    query: NonEmptyText
    model: str = Field(min_length=1, description="a catalog model name (see GET /models)")
    api_key: ApiKey = None


class BatchRequest(_Body):
    """``POST /batch-query``."""

    queries: list[NonEmptyText] = Field(min_length=1)
    api_key: ApiKey = None
    budget_usd: Budget = None


class SelectionRequest(_Body):
    """``POST /test-selection``: one ``query`` or a list of ``queries``."""

    query: NonEmptyText | None = None
    queries: list[NonEmptyText] | None = Field(default=None, min_length=1)


class ChatMessageIn(BaseModel):
    """One message of an OpenAI chat request (OpenAI's documented message fields)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[Any] | None = None
    tool_call_id: str | None = None
    function_call: Any = None
    refusal: str | None = None
    audio: Any = None


class ChatCompletionRequest(_Body):
    """``POST /v1/chat/completions``: OpenAI's request shape. OpenAI's documented fields are
    accepted (those the router does not apply are ignored); unknown ones are refused.
    """

    _quiet_fields: ClassVar[frozenset[str]] = OPENAI_CHAT_FIELDS

    model: str = ROUTER_MODEL_NAME
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    n: int | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    api_key: ApiKey = None
    cache: bool = Field(
        default=True,
        description="false: do not answer from the server's response cache (the fresh "
        "answer is still stored); the header Cache-Control: no-cache does the same",
    )


def answer_meta(message: AIMessage) -> dict[str, Any]:
    """The routing metadata of an answer (``response_metadata['smartroute']``)."""
    return dict(message.response_metadata.get("smartroute") or {})


def answer_usage(message: AIMessage) -> dict[str, Any]:
    """The token usage of an answer, as a plain dict."""
    return dict(message.usage_metadata or {})
