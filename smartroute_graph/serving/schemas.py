"""Request bodies of the HTTP API and the fields each accepts.

Also the router metadata every answer carries.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from langchain_core.messages import AIMessage
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from smartroute_graph.core.errors import InputError
from smartroute_graph.routing.settings import setting_field

__all__ = [
    "FIELD_SYNONYMS",
    "LEGACY_FIELDS",
    "OPENAI_CHAT_FIELDS",
    "OPENAI_MESSAGE_FIELDS",
    "ROUTER_MODEL_NAME",
    "ApiKey",
    "BatchRequest",
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
    "read_synonyms",
]

ROUTER_MODEL_NAME = "smartroute"

# Fields the older systems' clients send: never refused as unknown. The first router's
# clients sent ``openai_api_key`` and ``temperature``; the second's ``prompt``, ``compare``,
# ``prompts`` and ``model``. Those that name a field of this API (:data:`FIELD_SYNONYMS`)
# are read as that field; the others are ignored where the endpoint has no such field.
LEGACY_FIELDS = frozenset(
    {"openai_api_key", "temperature", "prompt", "compare", "prompts", "model"}
)

# Names the older systems' clients use for a field this API names otherwise: on an endpoint
# with one name of a group, the others are read as that field (``{"prompt": ...}`` on /query
# is its ``query``; ``openai_api_key`` is ``api_key``, the caller's own key).
FIELD_SYNONYMS: tuple[frozenset[str], ...] = (
    frozenset({"prompt", "query"}),
    frozenset({"api_key", "openai_api_key"}),
    frozenset({"queries", "prompts"}),
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


class _Body(BaseModel):
    """A request body: unknown fields are refused (422 naming the field).

    The older systems' fields (:data:`LEGACY_FIELDS`) are the exception: accepted and ignored.
    """

    model_config = ConfigDict(extra="forbid")
    _quiet_fields: ClassVar[frozenset[str]] = LEGACY_FIELDS

    @model_validator(mode="before")
    @classmethod
    def _drop_quiet_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = read_synonyms(data, cls.model_fields)
            ignored = cls._quiet_fields - set(cls.model_fields)
            if ignored & data.keys():
                return {k: v for k, v in data.items() if k not in ignored}
        return data


def read_synonyms(data: dict[str, Any], fields: Any) -> dict[str, Any]:
    """Rename the older systems' field names in ``data`` to this API's.

    ``data`` with the older systems' names (:data:`FIELD_SYNONYMS`) renamed to the field of
    ``fields`` they stand for.

    Raises:
        ValueError: two names of one field were both sent (with different values).
    """
    out = dict(data)
    for group in FIELD_SYNONYMS:
        targets = [name for name in group if name in fields]
        if len(targets) != 1:
            continue
        target = targets[0]
        for other in sorted(group - {target}):
            if other not in out:
                continue
            value = out.pop(other)
            if target in out and out[target] != value:
                raise ValueError(f"'{target}' and '{other}' are the same field: send one of them")
            out[target] = value
    return out


class RouteRequest(_Body):
    """``POST /route``."""

    prompt: NonEmptyText
    temperature: float | None = setting_field("temperature")
    api_key: ApiKey = None
    dry_run: bool = setting_field("dry_run")
    budget_usd: float | None = setting_field("budget_usd")


class QueryRequest(_Body):
    """``POST /query``."""

    query: NonEmptyText
    temperature: float | None = setting_field("temperature")
    api_key: ApiKey = None
    budget_usd: float | None = setting_field("budget_usd")


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
    temperature: float | None = setting_field("temperature")
    api_key: ApiKey = None


class BatchRequest(_Body):
    """``POST /batch-query``: with ``compare``, each query is compared across ``models``."""

    queries: list[NonEmptyText] = Field(min_length=1)
    temperature: float | None = setting_field("temperature")
    api_key: ApiKey = None
    budget_usd: float | None = setting_field("budget_usd")
    compare: bool = Field(
        default=False, description="ask every model (or those in 'models') for each query"
    )
    models: list[str] | None = Field(
        default=None, description="with compare: the models to ask (default: the catalog)"
    )


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
    """``POST /v1/chat/completions``: OpenAI's request shape.

    OpenAI's documented fields are accepted (those the router does not apply are ignored); unknown
    ones are refused.
    """

    _quiet_fields: ClassVar[frozenset[str]] = OPENAI_CHAT_FIELDS

    model: str = ROUTER_MODEL_NAME
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: float | None = setting_field("temperature")
    n: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[Any] | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    max_completion_tokens: int | None = Field(default=None, gt=0)
    stop: str | list[str] | None = None
    response_format: dict[str, Any] | None = None
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
