"""The HTTP API: the older systems' endpoints, an OpenAI-compatible chat endpoint, a playground.

``create_app(router)`` returns a FastAPI app; ``smartroute serve`` runs it with uvicorn.
Every handler is async and calls the router's async methods (``ainvoke``, ``astream``,
``aroute``, ``acompare``), so one process serves many slow model calls at once.

Endpoints
---------
Open (no token): ``GET /`` (service info and links), ``GET /health``, ``GET /playground``,
``GET /docs``, ``GET /redoc``, ``GET /openapi.json``.

Protected (the server token, when one is configured; see *Access* below):

- ``POST /route`` ``{prompt, temperature?, api_key?, dry_run?, budget_usd?}`` → the answer
  with ``model, domain, complexity, confidence, reason, cost_usd, attempts, usage``;
- ``POST /route/with-file``: the same as a multipart form (``prompt``, ``file``: an image,
  a PDF or a text file; ``api_key``, ``dry_run``, ``budget_usd`` optional);
- ``GET /models``: the catalog with prices, weakest model first;
- ``POST /query`` ``{query, api_key?}`` → ``{selected_model, response, confidence, reasoning,
  domain, complexity, cost_usd}``;
- ``POST /query-compare`` ``{query, models?}`` → every model's answer, score, cost and
  latency and the router's pick (:class:`~smartroute_graph.quality.compare.ComparisonReport`);
- ``POST /query-specific`` ``{query, model}`` → that model's answer (404 for a model that is
  not in the catalog, with the catalog listed);
- ``POST /batch-query`` ``{queries: [...]}`` → one result per query, in order (at most
  ``max_batch`` queries, 100 by default: more is 413; ``batch_concurrency`` at a time);
- ``POST /test-selection`` ``{query}`` or ``{queries}`` → routing decisions only, no model
  call and no key needed;
- ``POST /v1/chat/completions`` (OpenAI's request and response shapes; ``model``
  ``"smartroute"`` routes, a catalog model name forces that model; ``stream: true`` sends
  server-sent events in OpenAI's chunk format ending with ``data: [DONE]``). The response's
  ``model`` is the model that answered; its extra ``smartroute`` field carries the routing
  metadata (on the last chunk when streaming). ``GET /v1/models`` lists ``smartroute`` and
  the catalog models.

Provider keys
-------------
A request's own key comes from the body's ``api_key`` (the catalog's main provider: OpenAI,
or OpenRouter for an OpenRouter-only catalog), else the ``X-OpenAI-API-Key`` /
``X-OpenRouter-API-Key`` headers; on ``/v1/*``, when the server has no token, the
``Authorization: Bearer`` value is the OpenAI key too, so a stock OpenAI client works. It
travels to the router per request (``api_keys={provider: key}``). The router applies its
order: keys given to the router itself, then the request's, then the environment. Keys are
never logged, echoed or put in an error: error bodies are redacted with
:func:`~smartroute_graph.core.providers.redact_secrets` plus the request's own secrets, and
validation errors never echo the request body.

Access
------
A server whose environment holds provider keys must not be an open proxy for them:
``create_app`` refuses to build (:class:`~smartroute_graph.core.errors.ConfigError`) when
``OPENAI_API_KEY``/``OPENROUTER_API_KEY`` are set (or the router was given keys) and no
``server_token`` is configured, unless ``insecure_open=True`` (``--insecure-open``). With a
token, every protected endpoint needs ``Authorization: Bearer <token>`` (401 otherwise; a
wrong token is 401 too and is never forwarded anywhere). The one exception: a request that
brings its own provider key for **every** provider of the catalog may skip the token, but
only when nothing the server holds can be spent on its behalf: the router was given no keys,
no ready-made chat models (their credentials are opaque), and no LLM classifier. Its keys
then pay for every call it causes, exactly as if it called the provider itself.

Errors
------
Every error is JSON ``{"error": {"message", "type", "code"}, "detail": message}`` (readable
by OpenAI clients and FastAPI clients alike), never a traceback:

===================================================  =====
empty query, invalid field, bad JSON                  422
:class:`~smartroute_graph.core.errors.InputError`          its ``http_status`` (attachments: too
                                                      large 413, unsupported type 415,
                                                      corrupt or encrypted PDF 422, empty
                                                      file or bad encoding 400); an empty
                                                      query 422; any other 400
too many queries in a batch, upload too large         413
missing or wrong server token                         401
:class:`~smartroute_graph.core.errors.MissingAPIKeyError`  401 ("set OPENAI_API_KEY or send
                                                      X-OpenAI-API-Key")
unknown model                                         404 (the catalog is listed)
:class:`~smartroute_graph.core.errors.BudgetError`         422
every model failed / a stream broke                   502 (attempts listed, redacted)
anything unexpected                                   500 (logged, redacted)
===================================================  =====
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import time
import traceback
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    HumanMessage,
    SystemMessage,
)
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartroute_graph.core.attachments import (
    MAX_ATTACHMENT_BYTES,
    Attachment,
    AttachmentLimits,
    AttachmentTooLargeError,
    UnsupportedAttachmentError,
)
from smartroute_graph.core.errors import (
    AllModelsFailedError,
    BudgetError,
    ConfigError,
    EmptyQueryError,
    InputError,
    MissingAPIKeyError,
    OwnKeysOnlyError,
    SmartRouteError,
    UnknownModelError,
)
from smartroute_graph.core.providers import API_KEY_ENV, redact_secrets, register_secret
from smartroute_graph.routing.policy import RoutingDecision
from smartroute_graph.runnable import SmartRouter
from smartroute_graph.serving.feedback import mount_feedback

__all__ = [
    "DEFAULT_BATCH_CONCURRENCY",
    "MAX_BATCH",
    "ROUTER_MODEL_NAME",
    "ServerAuthError",
    "create_app",
]

logger = logging.getLogger(__name__)

MAX_BATCH = 100
DEFAULT_BATCH_CONCURRENCY = 8
ROUTER_MODEL_NAME = "smartroute"
# Names under which /v1/chat/completions lets the router choose.
_ROUTER_ALIASES = frozenset({ROUTER_MODEL_NAME, "smartroute/auto", "auto"})
_HEADER_KEYS = {"openai": "x-openai-api-key", "openrouter": "x-openrouter-api-key"}
_KEY_HINT = {
    "openai": "set OPENAI_API_KEY or send X-OpenAI-API-Key",
    "openrouter": "set OPENROUTER_API_KEY or send X-OpenRouter-API-Key",
}
# Multipart framing and the form fields around the file: an upload's request may exceed
# the file limit by this much before it is refused unread.
_FORM_OVERHEAD = 64 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# Status for an InputError without an ``http_status`` attribute, by class name, so the
# mapping holds whichever version of the attachments module is installed.
_INPUT_STATUS_BY_NAME = {
    "EmptyQueryError": 422,
    "AttachmentTooLargeError": 413,
    "UnsupportedAttachmentError": 415,
    "CorruptAttachmentError": 422,
    "EncryptedPDFError": 422,
    "EmptyAttachmentError": 400,
    "AttachmentEncodingError": 400,
}


class ServerAuthError(SmartRouteError):
    """The request lacks the server token, or presents a wrong one (HTTP 401)."""


class _TooManyQueriesError(InputError):
    http_status = 413


# -- request bodies --------------------------------------------------------------------


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


class RouteRequest(BaseModel):
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


class QueryRequest(BaseModel):
    """``POST /query``."""

    query: NonEmptyText
    api_key: ApiKey = None
    budget_usd: Budget = None


class CompareRequest(BaseModel):
    """``POST /query-compare``."""

    query: NonEmptyText
    models: list[str] | None = Field(default=None, description="default: the whole catalog")
    api_key: ApiKey = None


class SpecificRequest(BaseModel):
    """``POST /query-specific``."""

    query: NonEmptyText
    model: str = Field(min_length=1, description="a catalog model name (see GET /models)")
    api_key: ApiKey = None


class BatchRequest(BaseModel):
    """``POST /batch-query``."""

    queries: list[NonEmptyText] = Field(min_length=1)
    api_key: ApiKey = None
    budget_usd: Budget = None


class SelectionRequest(BaseModel):
    """``POST /test-selection``: one ``query`` or a list of ``queries``."""

    query: NonEmptyText | None = None
    queries: list[NonEmptyText] | None = Field(default=None, min_length=1)


class ChatMessageIn(BaseModel):
    """One message of an OpenAI chat request."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions`` (OpenAI's shape; unknown fields are accepted)."""

    model_config = ConfigDict(extra="allow")

    model: str = ROUTER_MODEL_NAME
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    n: int | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None


# -- errors ---------------------------------------------------------------------------------


def _status_for(exc: BaseException) -> int:
    if isinstance(exc, ServerAuthError | MissingAPIKeyError):
        return 401
    if isinstance(exc, UnknownModelError):
        return 404
    if isinstance(exc, InputError):
        status = getattr(exc, "http_status", None)
        if isinstance(status, int) and 400 <= status < 500:
            return status
        for cls in type(exc).__mro__:
            if cls.__name__ in _INPUT_STATUS_BY_NAME:
                return _INPUT_STATUS_BY_NAME[cls.__name__]
        return 400
    if isinstance(exc, BudgetError):
        return 422
    if isinstance(exc, AllModelsFailedError) or type(exc).__name__ == "StreamInterruptedError":
        return 502
    if isinstance(exc, SmartRouteError):
        return 400
    return 500


def _error_body(
    status: int, message: str, kind: str, secrets: Sequence[str], **extra: Any
) -> dict[str, Any]:
    clean = redact_secrets(message, tuple(secrets))
    body: dict[str, Any] = {
        "error": {"message": clean, "type": kind, "code": status},
        "detail": clean,
    }
    for name, value in extra.items():
        body[name] = _redact_tree(value, secrets)
    return body


def _redact_tree(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return redact_secrets(value, tuple(secrets))
    if isinstance(value, Mapping):
        return {k: _redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_tree(v, secrets) for v in value]
    return value


def _missing_key_message(exc: MissingAPIKeyError) -> str:
    text = str(exc)
    provider = "openrouter" if "openrouter" in text.split(":")[0] else "openai"
    return (
        f'no API key for {provider}: {_KEY_HINT[provider]} (or "api_key" in the JSON body). '
        "POST /test-selection shows the routing decision without a key."
    )


def _exception_payload(exc: BaseException, secrets: Sequence[str]) -> tuple[int, dict[str, Any]]:
    """The status and JSON body for an exception raised while handling a request."""
    status = _status_for(exc)
    kind = type(exc).__name__
    if isinstance(exc, MissingAPIKeyError) and not isinstance(exc, OwnKeysOnlyError):
        return status, _error_body(status, _missing_key_message(exc), kind, secrets)
    if isinstance(exc, AllModelsFailedError):
        body = _error_body(status, str(exc), kind, secrets, attempts=exc.attempts)
        logger.warning("every model failed: %s", body["detail"])
        return status, body
    if isinstance(exc, UnknownModelError):
        return status, _error_body(status, str(exc), kind, secrets)
    if status == 500:
        ref = uuid.uuid4().hex[:12]
        # The traceback goes to the log (redacted), never to the client.
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        logger.error("unexpected error %s: %s", ref, redact_secrets(trace, tuple(secrets)))
        message = (
            f"internal error (reference {ref}): the server logged the details; retry, or "
            "report the reference to the operator"
        )
        return status, _error_body(status, message, "InternalServerError", secrets)
    return status, _error_body(status, str(exc), kind, secrets)


def _validation_message(errors: Sequence[Any]) -> str:
    parts: list[str] = []
    for error in errors[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        kind = error.get("type", "")
        msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if kind == "json_invalid":
            why = (error.get("ctx") or {}).get("error", "")
            parts.append(
                f"the request body is not valid JSON ({why}): send a JSON object with "
                "Content-Type: application/json"
            )
        elif kind == "missing":
            parts.append(f"'{loc or 'body'}' is required")
        else:
            parts.append(f"'{loc}': {msg}" if loc else msg)
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    return "; ".join(parts) or "the request is invalid"


def _request_secrets(request: Request, server_token: str | None) -> list[str]:
    """Every secret the request carries or the server holds, for redaction."""
    secrets = list(getattr(request.state, "secrets", ()))
    for header in (*_HEADER_KEYS.values(), "authorization"):
        value = request.headers.get(header)
        if value:
            secrets.append(value.split(" ", 1)[-1].strip())
    if server_token:
        secrets.append(server_token)
    return [s for s in secrets if s]


# -- keys and access ----------------------------------------------------------------------


class _Access:
    """Who may call the protected endpoints, and which provider keys a request brings."""

    def __init__(self, router: SmartRouter, server_token: str | None) -> None:
        self.router = router
        self.token = server_token
        providers = {spec.provider for spec in router.catalog.values()}
        keyed = [p for p in ("openai", "openrouter") if p in providers]
        # The body's single ``api_key`` belongs to the catalog's main provider.
        self.primary = keyed[0] if keyed else "openai"
        self.providers = frozenset(providers)
        provider = router.provider
        self.own_keys_allowed = (
            not provider.has_keys
            and all(p in API_KEY_ENV for p in providers)
            and not any(provider.has_model(name) for name in router.catalog)
            and "llm" not in str(getattr(router.classifier, "name", ""))
        )

    def grant(
        self, request: Request, body_key: SecretStr | str | None, *, bearer_is_key: bool = False
    ) -> dict[str, Any]:
        """The router settings that say which keys the request's calls may spend.

        On a server with a token, a request that brings a key (body or headers) spends only
        its own keys, on every call it causes; only a request with the token and no key of
        its own spends the server's. On an open server the request's keys come first.
        """
        brought = {
            **getattr(request.state, "own_keys", {}),
            **self._presented_keys(request, body_key),
        }
        found = dict(brought)
        if bearer_is_key and self.token is None:
            # An open server's /v1: OpenAI clients always send a bearer, so it is offered as
            # the provider key without making the request own-keys-only.
            value = _bearer(request)
            if value and self.primary not in found:
                found[self.primary] = value
        request.state.secrets = [*getattr(request.state, "secrets", ()), *found.values()]
        server_keys_allowed = bool(getattr(request.state, "server_keys_allowed", False))
        if not brought and not server_keys_allowed:
            raise ServerAuthError(self._refusal())
        # On a server with a token, a request that brings a key spends that key alone; an
        # open server (no token) lets anyone spend its models, so brought keys only come first.
        own_only = not server_keys_allowed or (bool(brought) and self.token is not None)
        return {"api_keys": found, "own_keys_only": own_only}

    def _presented_keys(self, request: Request, body_key: SecretStr | str | None) -> dict[str, str]:
        found: dict[str, str] = {}
        for provider, header in _HEADER_KEYS.items():
            value = request.headers.get(header, "").strip()
            if value:
                found[provider] = value
        raw = body_key.get_secret_value() if isinstance(body_key, SecretStr) else body_key
        if raw and raw.strip():
            found[self.primary] = raw.strip()
        return found

    def _refusal(self) -> str:
        own = (
            f" or bring your own key for every provider ({', '.join(sorted(self.providers))}) "
            "in X-OpenAI-API-Key / X-OpenRouter-API-Key"
            if self.own_keys_allowed
            else ""
        )
        return (
            "this server needs a token: send Authorization: Bearer <token> (the value of the "
            f"variable named by --token-env when the server started){own}"
        )

    async def __call__(self, request: Request) -> None:
        """FastAPI dependency: 401 unless the request may use this server.

        Marks the request as allowed to spend the server's keys (``server_keys_allowed``)
        only when it presents the server token, or the server has none.
        """
        request.state.server_keys_allowed = False
        if self.token is None:
            request.state.server_keys_allowed = True
            return
        presented = _bearer(request)
        if presented:
            if hmac.compare_digest(presented.encode(), self.token.encode()):
                request.state.server_keys_allowed = True
                return
            raise ServerAuthError(
                "the server token is wrong: send Authorization: Bearer <token>, the token this "
                "server was started with (ask its operator)"
            )
        if self.own_keys_allowed:
            keys = self._presented_keys(request, await _peek_body_key(request))
            if self.providers <= set(keys):
                # Admitted on its own keys: every call it causes spends those keys only.
                request.state.own_keys = keys
                request.state.secrets = [*getattr(request.state, "secrets", ()), *keys.values()]
                return
        raise ServerAuthError(self._refusal())


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def _peek_body_key(request: Request) -> str | None:
    """The ``api_key`` of an already-parsed body (FastAPI parsed and cached it)."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            value = (await request.form()).get("api_key")
            return value if isinstance(value, str) else None
        body = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    value = body.get("api_key") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _server_holds_keys(router: SmartRouter) -> list[str]:
    held = [env for env in API_KEY_ENV.values() if os.environ.get(env, "").strip()]
    if router.provider.has_keys:
        held.append("api_keys given to the router")
    return held


# -- shaping answers ------------------------------------------------------------------------


def _meta(message: AIMessage) -> dict[str, Any]:
    return dict(message.response_metadata.get("smartroute") or {})


def _usage(message: AIMessage) -> dict[str, Any]:
    return dict(message.usage_metadata or {})


def _route_body(message: AIMessage) -> dict[str, Any]:
    meta = _meta(message)
    return {
        "response": message.text,
        "model": meta.get("model"),
        "domain": meta.get("domain"),
        "complexity": meta.get("complexity"),
        "confidence": meta.get("confidence"),
        "reason": meta.get("reason"),
        "cost_usd": meta.get("cost_usd", 0.0),
        "estimated_cost_usd": meta.get("estimated_cost_usd"),
        "escalated": meta.get("escalated", False),
        "dry_run": bool(meta.get("dry_run", False)),
        "attempts": meta.get("attempts", []),
        "usage": _usage(message),
    }


def _query_body(message: AIMessage) -> dict[str, Any]:
    meta = _meta(message)
    return {
        "selected_model": meta.get("model"),
        "response": message.text,
        "confidence": meta.get("confidence"),
        "reasoning": meta.get("reason"),
        "domain": meta.get("domain"),
        "complexity": meta.get("complexity"),
        "cost_usd": meta.get("cost_usd", 0.0),
        "escalated": meta.get("escalated", False),
        "usage": _usage(message),
    }


def _selection_body(query: str, decision: RoutingDecision) -> dict[str, Any]:
    return {
        "query": query,
        "selected_model": decision.model,
        "decision": decision.model_dump(mode="json"),
    }


def _settings(budget_usd: float | None = None, **extra: Any) -> dict[str, Any]:
    settings = {k: v for k, v in extra.items() if v is not None}
    if budget_usd is not None:
        settings["budget_usd"] = budget_usd
    return settings


# -- OpenAI chat format -----------------------------------------------------------------------


def _text_of(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "\n".join(
        str(part.get("text", "")) for part in content if part.get("type") in ("text", "input_text")
    )


def _part_attachment(part: Mapping[str, Any], index: int) -> Attachment | None:
    kind = part.get("type")
    if kind in ("text", "input_text"):
        return None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        return Attachment.from_base64(str(url or ""), name=f"image-{index}")
    if kind == "file":
        file = part.get("file") or {}
        data = file.get("file_data") if isinstance(file, Mapping) else None
        if not data:
            raise InputError(
                "a 'file' content part needs 'file.file_data' (base64 or a data: URL); "
                "uploaded file ids are not supported"
            )
        return Attachment.from_base64(str(data), name=str(file.get("filename") or "file"))
    raise UnsupportedAttachmentError(
        f"content parts of type {kind!r} are not supported: send text, image_url (a data: "
        "URL) or file parts"
    )


def _chat_input(request: ChatCompletionRequest) -> dict[str, Any]:
    """Router input from OpenAI messages; files in user turns become attachments (sent with
    the latest user turn)."""
    if request.n not in (None, 1):
        raise InputError(f"n={request.n} is not supported: the router returns one answer (n=1)")
    if request.tools or request.functions:
        raise InputError(
            "tool calling is not supported by /v1/chat/completions: call the chosen model "
            "directly, or use the Python SmartRouter in a LangChain agent"
        )
    messages: list[AnyMessage] = []
    attachments: list[Attachment] = []
    for message in request.messages:
        text = _text_of(message.content)
        if message.role in ("system", "developer"):
            messages.append(SystemMessage(content=text))
        elif message.role == "user":
            if isinstance(message.content, list):
                for part in message.content:
                    found = _part_attachment(part, len(attachments) + 1)
                    if found is not None:
                        attachments.append(found)
            messages.append(HumanMessage(content=text))
        elif message.role == "assistant":
            messages.append(AIMessage(content=text))
        else:
            raise InputError(
                f"messages with role {message.role!r} are not supported (no tool calling): "
                "send system, user and assistant messages"
            )
    if not any(m.type == "human" for m in messages):
        raise InputError("the messages have no user message: add {'role': 'user', ...}")
    return {"messages": messages, "attachments": attachments}


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _openai_usage(usage: Mapping[str, Any] | None) -> dict[str, int] | None:
    if not usage:
        return None
    prompt = int(usage.get("input_tokens", 0))
    completion = int(usage.get("output_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(usage.get("total_tokens", prompt + completion)),
    }


def _sse(data: Mapping[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


async def _route_events(
    router: SmartRouter, payload: Any, settings: Mapping[str, Any]
) -> AsyncGenerator[tuple[str, Any], None]:
    """``("model", name)`` when a catalog model starts answering (a fallback starts another),
    and ``("chunk", AIMessageChunk)`` for each of the router's output chunks."""
    async for event in router.astream_events(payload, version="v2", **settings):
        kind = event["event"]
        if kind == "on_chain_stream" and not event.get("parent_ids"):
            chunk = event["data"].get("chunk")
            if isinstance(chunk, AIMessageChunk):
                yield "chunk", chunk
        elif kind == "on_chat_model_start":
            node = event.get("metadata", {}).get("langgraph_node")
            if node in router.catalog:
                yield "model", node


# -- middleware ---------------------------------------------------------------------------------


class _RequestLog:
    """Logs method, path (no query string: it may hold secrets), status and time; sets
    ``X-Request-ID`` (the client's, when it sent a sane one); refuses oversized uploads
    before they are read."""

    def __init__(self, app: ASGIApp, *, max_upload_bytes: int) -> None:
        self.app = app
        self.max_request = max_upload_bytes + _FORM_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            length = 0
        try:
            if scope["path"] == "/route/with-file" and length > self.max_request:
                limit = self.max_request - _FORM_OVERHEAD
                message = (
                    f"the upload is {length / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB: "
                    "send a smaller file (compress images, or split the PDF)"
                )
                body = _error_body(413, message, "AttachmentTooLargeError", ())
                await JSONResponse(body, status_code=413)(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            logger.info(
                "%s %s %d %.1fms id=%s",
                scope.get("method", "-"),
                scope.get("path", "-"),
                status,
                (time.perf_counter() - started) * 1000,
                request_id,
            )


def _error_route_class(server_token: str | None) -> type[APIRoute]:
    class ErrorHandlingRoute(APIRoute):
        """Turns every exception a handler (or its dependencies) raises into a JSON error;
        framework errors (validation, 404/405) go to the app's handlers."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except (RequestValidationError, StarletteHTTPException):
                    raise
                except Exception as exc:
                    status, body = _exception_payload(exc, _request_secrets(request, server_token))
                    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                    return JSONResponse(body, status_code=status, headers=headers)

            return guarded

    return ErrorHandlingRoute


# -- the app -----------------------------------------------------------------------------------


def _playground_html() -> str:
    return (
        resources.files("smartroute_graph.serving")
        .joinpath("static/playground.html")
        .read_text(encoding="utf-8")
    )


def create_app(
    router: SmartRouter | None = None,
    *,
    server_token: str | None = None,
    preset: str = "openai",
    insecure_open: bool = False,
    max_batch: int = MAX_BATCH,
    batch_concurrency: int = DEFAULT_BATCH_CONCURRENCY,
    max_upload_bytes: int = MAX_ATTACHMENT_BYTES,
) -> FastAPI:
    """The HTTP API over ``router`` (default: ``SmartRouter.from_preset(preset)``).

    Args:
        router: the router to serve; tests pass one built on fake models.
        server_token: the bearer token protected endpoints require (see the module's
            *Access* section); ``None`` serves them openly.
        preset: the preset to build a router from when none is given.
        insecure_open: serve without a token even though the environment holds provider
            keys (anyone who reaches the server can spend them).
        max_batch: most queries in one ``/batch-query`` or ``/test-selection`` request.
        batch_concurrency: how many queries of one batch run at once.
        max_upload_bytes: the largest file ``/route/with-file`` accepts.

    Raises:
        ConfigError: provider keys are present and neither ``server_token`` nor
            ``insecure_open`` is given; or an argument is out of range.
    """
    router = router if router is not None else SmartRouter.from_preset(preset)
    if server_token is not None and not server_token.strip():
        raise ConfigError("the server token is empty: set a long random value, or give none")
    held = _server_holds_keys(router)
    if held and server_token is None and not insecure_open:
        raise ConfigError(
            f"refusing to start: the server holds provider keys ({', '.join(held)}) and no "
            "server token is set, so anyone who can reach it could spend them. Set a token "
            "(export SMARTROUTE_SERVER_TOKEN=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))') and run smartroute serve --token-env "
            "SMARTROUTE_SERVER_TOKEN), or pass --insecure-open to serve without one"
        )
    if max_batch < 1 or batch_concurrency < 1 or max_upload_bytes < 1:
        raise ConfigError("max_batch, batch_concurrency and max_upload_bytes must be positive")

    from smartroute_graph import __version__

    token = server_token.strip() if server_token else None
    register_secret(token)  # redacted by value from every message and log line
    access = _Access(router, token)
    limits = AttachmentLimits(max_bytes=max_upload_bytes)
    playground = _playground_html()
    route_class = _error_route_class(token)

    app = FastAPI(
        title="smartroute",
        version=__version__,
        description=(
            "Routes each query to the cheapest LLM that will answer it well. "
            "Protected endpoints need `Authorization: Bearer <server token>` when the server "
            "was started with one. See /playground to try it."
        ),
    )
    app.router.route_class = route_class
    app.state.router = router
    app.add_middleware(_RequestLog, max_upload_bytes=max_upload_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            # Never echo the input: it may be the whole body, api_key included.
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        body = _error_body(
            422,
            _validation_message(exc.errors()),
            "RequestValidationError",
            _request_secrets(request, token),
            errors=errors,
        )
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no endpoint {request.url.path}: see GET / for the list, or /docs"
        body = _error_body(exc.status_code, message, "HTTPException", ())
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    # -- open endpoints --------------------------------------------------------------------

    @app.get("/", summary="Service info and links")
    async def index() -> dict[str, Any]:
        return {
            "name": "smartroute",
            "version": __version__,
            "description": "Routes each query to the cheapest LLM that will answer it well.",
            "preset": router.policy_name,
            "models": list(router.catalog),
            "auth": {"token_required": token is not None},
            "links": {
                "docs": "/docs",
                "openapi": "/openapi.json",
                "playground": "/playground",
                "health": "/health",
                "models": "/models",
                "openai_base_url": "/v1",
            },
            "endpoints": [
                "POST /route",
                "POST /route/with-file",
                "POST /query",
                "POST /query-compare",
                "POST /query-specific",
                "POST /batch-query",
                "POST /test-selection",
                "POST /v1/chat/completions",
                "GET /v1/models",
                "GET /models",
            ],
        }

    @app.get("/health", summary="Liveness and configuration summary")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "preset": router.policy_name,
            "models": len(router.catalog),
            "classifier": router.classifier.name,
            "auth": {
                "token_required": token is not None,
                # Without the token, a request may still be served on keys it brings (those
                # keys alone pay for every call it causes).
                "own_keys_accepted": token is None or access.own_keys_allowed,
            },
            # Whether a request needs to bring a key (never the keys themselves).
            "provider_keys_on_server": bool(_server_holds_keys(router)),
        }

    @app.get("/playground", response_class=HTMLResponse, summary="Try the router in a browser")
    async def playground_page() -> HTMLResponse:
        return HTMLResponse(
            playground,
            headers={
                # The page talks to this server only, so a key typed into it goes nowhere else.
                "Content-Security-Policy": (
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                    "form-action 'none'; frame-ancestors 'none'"
                ),
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    # -- protected endpoints -----------------------------------------------------------

    api = APIRouter(dependencies=[Depends(access)], route_class=route_class)

    @api.get("/models", summary="The catalog with prices, weakest first")
    async def models() -> dict[str, Any]:
        catalog = router.catalog
        return {
            "preset": router.policy_name,
            "ladder": list(catalog.ladder),
            "models": [
                {**catalog[name].model_dump(), "provider_model_id": catalog[name].provider_model_id}
                for name in catalog.ladder
            ],
        }

    @api.post("/route", summary="Route a prompt and answer it")
    async def route(body: RouteRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        settings = _settings(
            body.budget_usd, dry_run=body.dry_run or None, temperature=body.temperature
        )
        message = await router.ainvoke(body.prompt, **grant, **settings)
        result = _route_body(message)
        meta = _meta(message)
        answered = meta.get("model")
        used = next((a for a in reversed(meta.get("attempts") or []) if a.get("ok")), None)
        if body.temperature is not None and used is not None and used.get("temperature") is None:
            spec = router.catalog.get(answered) if isinstance(answered, str) else None
            why = (
                "is a reasoning model and takes none"
                if spec is not None and spec.reasoning
                else "has no temperature setting"
            )
            result["warnings"] = [f"temperature not applied: {answered} {why}"]
        return result

    @api.post("/route/with-file", summary="Route a prompt with an image, PDF or text file")
    async def route_with_file(
        request: Request,
        prompt: Annotated[str, Form(description="the question about the file")],
        file: Annotated[UploadFile, File(description="an image, a PDF or a UTF-8 text file")],
        api_key: Annotated[str | None, Form()] = None,
        dry_run: Annotated[bool, Form()] = False,
        budget_usd: Annotated[float | None, Form(gt=0)] = None,
    ) -> dict[str, Any]:
        grant = access.grant(request, api_key)
        _not_blank_or_raise(prompt)
        name = file.filename or "upload"
        if file.size is not None and file.size > limits.max_bytes:
            raise AttachmentTooLargeError(
                f"attachment {name!r} is {file.size / 1e6:.1f} MB; the limit is "
                f"{limits.max_bytes / 1e6:.1f} MB: send a smaller file (compress images, or "
                "split the PDF)"
            )
        data = await file.read(limits.max_bytes + 1)
        # PDF parsing is CPU work: keep it off the event loop.
        attachment = await asyncio.to_thread(Attachment.from_bytes, data, name=name, limits=limits)
        settings = _settings(budget_usd, dry_run=dry_run or None)
        message = await router.ainvoke(
            {"query": prompt, "attachments": [attachment]}, **grant, **settings
        )
        result = _route_body(message)
        result["attachment"] = attachment.model_dump(exclude={"data_base64", "text"})
        return result

    @api.post("/query", summary="Answer a query (the second older system's shape)")
    async def query(body: QueryRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        message = await router.ainvoke(body.query, **grant, **_settings(body.budget_usd))
        return _query_body(message)

    @api.post("/query-compare", summary="Ask several models and compare their answers")
    async def query_compare(body: CompareRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        report = await router.acompare(body.query, models=body.models, **grant)
        return report.model_dump(mode="json")

    @api.post("/query-specific", summary="Answer a query with one given model")
    async def query_specific(body: SpecificRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        _check_model(router, body.model)
        message = await router.ainvoke(body.query, **grant, model=body.model)
        return {**_query_body(message), "forced": True}

    @api.post("/batch-query", summary=f"Answer up to {max_batch} queries, results in order")
    async def batch_query(body: BatchRequest, request: Request) -> dict[str, Any]:
        _check_batch(len(body.queries), max_batch)
        grant = access.grant(request, body.api_key)
        secrets = _request_secrets(request, token)
        gate = asyncio.Semaphore(batch_concurrency)
        settings = _settings(body.budget_usd)

        async def one(index: int, text: str) -> dict[str, Any]:
            async with gate:
                try:
                    message = await router.ainvoke(text, **grant, **settings)
                except Exception as exc:
                    status, error = _exception_payload(exc, secrets)
                    return {"index": index, "query": text, "ok": False, "status": status, **error}
            return {"index": index, "query": text, "ok": True, **_query_body(message)}

        results = await asyncio.gather(*(one(i, q) for i, q in enumerate(body.queries)))
        return {
            "count": len(results),
            "succeeded": sum(1 for r in results if r["ok"]),
            "failed": sum(1 for r in results if not r["ok"]),
            "cost_usd": round(sum(r.get("cost_usd") or 0.0 for r in results), 8),
            "results": results,
        }

    @api.post("/test-selection", summary="Routing decisions only: no model call, no key")
    async def test_selection(body: SelectionRequest, request: Request) -> dict[str, Any]:
        # No answer is generated, but an LLM classifier would spend someone's key.
        grant = access.grant(request, None)
        if (body.query is None) == (body.queries is None):
            raise InputError(
                "send either 'query' (one string) or 'queries' (a list of strings), not both "
                "and not neither"
            )
        if body.query is not None:
            return _selection_body(body.query, await router.aroute(body.query, **grant))
        assert body.queries is not None
        _check_batch(len(body.queries), max_batch)
        gate = asyncio.Semaphore(batch_concurrency)

        async def one(text: str) -> dict[str, Any]:
            async with gate:
                return _selection_body(text, await router.aroute(text, **grant))

        return {"results": await asyncio.gather(*(one(q) for q in body.queries))}

    @api.get("/v1/models", summary="OpenAI-compatible model list")
    async def openai_models() -> dict[str, Any]:
        created = 0
        names = [ROUTER_MODEL_NAME, *router.catalog]
        return {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": created, "owned_by": "smartroute"}
                for n in names
            ],
        }

    @api.post(
        "/v1/chat/completions", summary="OpenAI-compatible chat completions", response_model=None
    )
    async def chat_completions(
        body: ChatCompletionRequest, request: Request
    ) -> dict[str, Any] | StreamingResponse:
        extra_key = (body.model_extra or {}).get("api_key")
        grant = access.grant(
            request, extra_key if isinstance(extra_key, str) else None, bearer_is_key=True
        )
        settings: dict[str, Any] = dict(grant)
        if body.temperature is not None:
            settings["temperature"] = body.temperature
        if body.model not in _ROUTER_ALIASES:
            if body.model not in router.catalog:
                raise UnknownModelError(
                    f"unknown model {body.model!r}: use {ROUTER_MODEL_NAME!r} to let the router "
                    f"choose, or one of: {', '.join(router.catalog)}"
                )
            settings["model"] = body.model
        has_files = any(isinstance(m.content, list) for m in body.messages)
        # Decoding and parsing files (a PDF's text) is CPU work: off the event loop.
        payload = await asyncio.to_thread(_chat_input, body) if has_files else _chat_input(body)
        completion_id = _completion_id()
        created = int(time.time())
        if not body.stream:
            message = await router.ainvoke(payload, **settings)
            meta = _meta(message)
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": meta.get("model") or ROUTER_MODEL_NAME,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": message.text},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": _openai_usage(message.usage_metadata),
                "system_fingerprint": None,
                "smartroute": meta,
            }
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        return await _stream_completion(
            router,
            payload,
            settings,
            completion_id=completion_id,
            created=created,
            include_usage=include_usage,
            secrets=_request_secrets(request, token),
        )

    mount_feedback(api, router)  # POST /feedback (serving/feedback.py)
    app.include_router(api)
    return app


def _not_blank_or_raise(prompt: str) -> None:
    if not prompt.strip():
        raise EmptyQueryError(
            "the prompt is empty: send the question about the file in the 'prompt' field"
        )


def _check_model(router: SmartRouter, name: str) -> None:
    if name not in router.catalog:
        raise UnknownModelError(
            f"unknown model {name!r}; the catalog has: {', '.join(router.catalog)} "
            "(GET /models lists them with prices)"
        )


def _check_batch(count: int, limit: int) -> None:
    if count > limit:
        raise _TooManyQueriesError(
            f"{count} queries in one request; the limit is {limit}: split them into "
            f"requests of at most {limit}"
        )


async def _stream_completion(
    router: SmartRouter,
    payload: Any,
    settings: Mapping[str, Any],
    *,
    completion_id: str,
    created: int,
    include_usage: bool,
    secrets: Sequence[str],
) -> StreamingResponse:
    """Server-sent events in OpenAI's chunk format.

    The router runs until its first token (or its end) before the response starts, so a
    failure before any token (no key, every model failed, a bad attachment) is an ordinary
    HTTP error; a failure after that is sent as an ``error`` event before ``[DONE]``.
    """
    events = _route_events(router, payload, settings)
    model = ROUTER_MODEL_NAME
    buffered: list[tuple[str, Any]] = []
    finished = False
    while True:
        try:
            event = await events.__anext__()
        except StopAsyncIteration:
            finished = True
            break
        buffered.append(event)
        if event[0] == "chunk" and event[1].content:
            break

    def chunk(delta: Mapping[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return _sse(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [
                    {"index": 0, "delta": dict(delta), "logprobs": None, "finish_reason": finish}
                ],
                **extra,
            }
        )

    async def body() -> AsyncIterator[bytes]:
        nonlocal model
        usage: dict[str, int] | None = None
        meta: dict[str, Any] = {}
        started = False

        async def replay() -> AsyncIterator[tuple[str, Any]]:
            for item in buffered:
                yield item
            if not finished:
                async for item in events:
                    yield item

        try:
            async for kind, value in replay():
                if kind == "model":
                    model = value
                    continue
                piece: AIMessageChunk = value
                if piece.usage_metadata:
                    usage = _openai_usage(piece.usage_metadata)
                if "smartroute" in piece.response_metadata:
                    meta = dict(piece.response_metadata["smartroute"])
                if not started:
                    started = True
                    yield chunk({"role": "assistant", "content": ""})
                if piece.text:
                    yield chunk({"content": piece.text})
            if not started:
                yield chunk({"role": "assistant", "content": ""})
            model = meta.get("model") or model
            yield chunk({}, "stop", smartroute=meta)
            if include_usage:
                yield _sse(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "system_fingerprint": None,
                        "choices": [],
                        "usage": usage,
                    }
                )
        except Exception as exc:
            # Headers are sent: the error travels as an event (OpenAI clients raise on it).
            _, error = _exception_payload(exc, secrets)
            yield _sse({"error": error["error"]})
        finally:
            # A client that hangs up mid-answer stops the run (and its model call) here.
            await events.aclose()
        yield _sse("[DONE]")

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
