"""Chat models for catalog entries, API keys, and what a provider error means for fallback."""

from __future__ import annotations

import contextvars
import email.utils
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.rate_limiters import BaseRateLimiter
from pydantic import SecretStr

from smartroute_graph.core.catalog import Catalog, ModelSpec, spec_from_string
from smartroute_graph.core.errors import ConfigError, MissingAPIKeyError, OwnKeysOnlyError

__all__ = [
    "API_KEYS_CONFIG_KEY",
    "API_KEY_ENV",
    "OPENROUTER_BASE_URL",
    "OPENROUTER_BASE_URL_ENV",
    "OWN_KEYS_ONLY_CONFIG_KEY",
    "SDK_MAX_RETRIES",
    "ErrorKind",
    "ModelProvider",
    "ProviderFailures",
    "catalog_with_models",
    "error_kind",
    "is_retryable",
    "openrouter_base_url",
    "provider_status",
    "recording_provider_failures",
    "redact_secrets",
    "register_secret",
    "request_keys",
    "resolve_api_key",
    "retry_after_seconds",
    "secret_values",
    "spec_with_profile",
]

API_KEY_ENV: Mapping[str, str] = {"openai": "OPENAI_API_KEY", "openrouter": "OPENROUTER_API_KEY"}
# Per-request API keys travel in config["configurable"][API_KEYS_CONFIG_KEY] as a dict:
# LangChain copies only scalar configurable values into trace metadata, so keys stay out.
API_KEYS_CONFIG_KEY = "smartroute_api_keys"
# True when a call may spend only the request's own keys: never the router's explicit keys,
# the environment's, or a ready-made model holding the operator's credentials.
OWN_KEYS_ONLY_CONFIG_KEY = "smartroute_own_keys_only"
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
# Where OpenRouter models are called when set (a proxy, a local test server), as the openai
# SDK reads OPENAI_BASE_URL for OpenAI's.
OPENROUTER_BASE_URL_ENV = "OPENROUTER_BASE_URL"
_HEADER_HINT = {"openai": "X-OpenAI-API-Key", "openrouter": "X-OpenRouter-API-Key"}

# The provider SDK's own retries per model call. The router's fallback to the next model is
# the retry, so each attempt in ``attempts`` is exactly one request to the provider (with the
# SDK's default of 2, one attempt could hide three requests, and a server behind a retrying
# client multiplied them again).
SDK_MAX_RETRIES = 0
# Built chat models kept per (model, key): bounded, since per-request keys are the client's.
_MAX_BUILT_MODELS = 256

ErrorKind = Literal[
    "timeout",
    "rate_limit",
    "server_error",
    "connection",
    "stream_broken",
    "bad_response",
    "auth",
    "bad_request",
    "other",
]
# A failure of these kinds says nothing about the next model: try it.
_RETRYABLE: frozenset[str] = frozenset(get_args(ErrorKind)) - {"auth", "bad_request"}
# httpx transport errors that are not timeouts: the connection failed or broke.
_CONNECTION_ERRORS = frozenset(
    {"RemoteProtocolError", "ReadError", "WriteError", "NetworkError", "ProtocolError"}
)

_SECRET_PATTERNS = (
    re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-.=]{8,}"),
    re.compile(r"(?i)(api[_-]?key[\"'=:\s]+)[A-Za-z0-9_\-]{8,}"),
)


# Secret values the operator configured (router api_keys, the server token): redacted by
# value wherever they appear, whatever their shape. Bounded by configuration, not traffic.
_CONFIGURED_SECRETS: set[str] = set()
_MIN_SECRET_LEN = 6  # shorter values would redact ordinary words


def register_secret(value: str | SecretStr | None) -> None:
    """Redact ``value`` from every message :func:`redact_secrets` cleans from now on."""
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if raw and len(raw.strip()) >= _MIN_SECRET_LEN:
        _CONFIGURED_SECRETS.add(raw.strip())


def secret_values(keys: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The plain values of a ``{provider: key}`` mapping, for :func:`redact_secrets`."""
    out = []
    for value in (keys or {}).values():
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and raw:
            out.append(raw)
    return tuple(out)


def _known_secrets(extra: tuple[str, ...]) -> list[str]:
    env = (os.environ.get(name, "").strip() for name in API_KEY_ENV.values())
    values = {*extra, *_CONFIGURED_SECRETS, *env}
    # Longest first, so a key that contains another is replaced whole.
    return sorted((v for v in values if v and len(v) >= _MIN_SECRET_LEN), key=len, reverse=True)


def redact_secrets(text: str, extra: tuple[str, ...] = ()) -> str:
    """``text`` with API keys and bearer tokens replaced by ``***``.

    Known values (``extra``, the provider keys in the environment, and values given to
    :func:`register_secret`) are replaced whatever their shape; key-like patterns
    (``sk-…``, ``Bearer …``, ``api_key=…``) are replaced too.
    """
    for secret in _known_secrets(extra):
        text = text.replace(secret, "***")
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}-***", text)
    for pattern in _SECRET_PATTERNS[1:]:
        text = pattern.sub(lambda m: f"{m.group(1)}***", text)
    return text


def provider_status(exc: BaseException) -> int | None:
    """The HTTP status a provider answered with, when ``exc`` carries one."""
    status = getattr(exc, "status_code", None) or getattr(
        getattr(exc, "response", None), "status_code", None
    )
    return status if isinstance(status, int) else None


def error_kind(exc: BaseException) -> ErrorKind:
    """Classify a provider exception (OpenAI SDK, httpx, asyncio or builtin)."""
    name = type(exc).__name__
    status = provider_status(exc)
    if isinstance(exc, TimeoutError) or "Timeout" in name:
        return "timeout"
    if name.endswith("RateLimitError") or status == 429:
        return "rate_limit"
    if (isinstance(status, int) and status >= 500) or name.endswith("InternalServerError"):
        return "server_error"
    if name.endswith(("AuthenticationError", "PermissionDeniedError")) or status in (401, 403):
        return "auth"
    if name.endswith(("BadRequestError", "UnprocessableEntityError", "InvalidRequestError")) or (
        status in (400, 422)
    ):
        return "bad_request"
    if isinstance(exc, ConnectionError) or "Connection" in name or "Connect" in name:
        return "connection"
    if name in _CONNECTION_ERRORS:
        return "connection"
    if isinstance(exc, json.JSONDecodeError) or name == "APIResponseValidationError":
        # The provider answered 200 with a body that is not what its API promises.
        return "bad_response"
    return "other"


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a provider asked to wait; None when it said nothing usable.

    Read from ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP date.
    """
    if not headers:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis:
            value = float(millis) / 1000
            return value if 0 <= value < 86_400 else None
        given = headers.get("retry-after")
        if not given:
            return None
        try:
            value = float(given)
        except ValueError:
            when = email.utils.parsedate_to_datetime(given)
            value = when.timestamp() - time.time()
        return max(0.0, value) if value < 86_400 else None
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass
class ProviderFailures:
    """What providers answered to the failed calls of one request.

    HTTP statuses and the waits they asked for (``Retry-After``). The server maps them to its own
    status.
    """

    statuses: list[int] = field(default_factory=list)
    retry_after_s: list[float] = field(default_factory=list)

    def note(self, exc: BaseException) -> None:
        """Record a failed call's status and Retry-After (once per exception)."""
        if getattr(exc, "_smartroute_noted", False):
            return
        with suppress(AttributeError):
            exc._smartroute_noted = True  # type: ignore[attr-defined]
        status = provider_status(exc)
        if status is not None:
            self.statuses.append(status)
        headers = getattr(getattr(exc, "response", None), "headers", None)
        wait = retry_after_seconds(headers)
        if wait is not None:
            self.retry_after_s.append(wait)


_FAILURES: contextvars.ContextVar[ProviderFailures | None] = contextvars.ContextVar(
    "smartroute_provider_failures", default=None
)


@contextmanager
def recording_provider_failures() -> Iterator[ProviderFailures]:
    """Collect the provider failures of the calls made inside the block.

    Tasks and threads started inside it are included, as they copy the context.
    """
    failures = ProviderFailures()
    token = _FAILURES.set(failures)
    try:
        yield failures
    finally:
        _FAILURES.reset(token)


def _note_failure(exc: BaseException) -> None:
    failures = _FAILURES.get()
    if failures is not None:
        failures.note(exc)


def is_retryable(kind: str) -> bool:
    """Whether a failure of ``kind`` should move on to the next model."""
    return kind in _RETRYABLE


def openrouter_base_url() -> str:
    """OpenRouter's API address: ``OPENROUTER_BASE_URL`` when set, else OpenRouter's own."""
    return os.environ.get(OPENROUTER_BASE_URL_ENV, "").strip() or OPENROUTER_BASE_URL


def request_keys(config: Mapping[str, Any] | None) -> tuple[Mapping[str, Any] | None, bool]:
    """The run's per-request keys and whether they are the only keys it may spend."""
    configurable = (config or {}).get("configurable") or {}
    return configurable.get(API_KEYS_CONFIG_KEY), bool(configurable.get(OWN_KEYS_ONLY_CONFIG_KEY))


def resolve_api_key(
    provider: str,
    explicit: Mapping[str, str | SecretStr] | None = None,
    per_request: Mapping[str, str | SecretStr] | None = None,
    *,
    own_keys_only: bool = False,
) -> SecretStr | None:
    """The key for ``provider``: the request's, then the explicit argument, then the environment.

    With ``own_keys_only`` only the request's key counts: a request that brings its own key
    never spends the operator's.
    """
    if own_keys_only:
        value = (per_request or {}).get(provider)
        if not value:
            return None
        return value if isinstance(value, SecretStr) else SecretStr(value)
    for source in (per_request, explicit):
        if source and source.get(provider):
            value = source[provider]
            return value if isinstance(value, SecretStr) else SecretStr(value)
    env = API_KEY_ENV.get(provider)
    value = os.environ.get(env, "") if env else ""
    return SecretStr(value) if value else None


class ModelProvider:
    """Builds and caches the chat model behind each catalog entry.

    Models given explicitly (any ``BaseChatModel``) are used as they are. Catalog entries
    of the ``openai`` and ``openrouter`` providers are built on first use with
    ``langchain-openai``, so a router can be constructed, drawn and dry-run without keys.
    """

    def __init__(
        self,
        models: Mapping[str, BaseChatModel | str] | None = None,
        api_keys: Mapping[str, str | SecretStr] | None = None,
        *,
        timeout_s: float | None = 60.0,
    ) -> None:
        models = dict(models or {})
        # "provider:model" strings are built on first use through init_chat_model.
        self._strings = {k: v for k, v in models.items() if isinstance(v, str)}
        self._explicit = {k: v for k, v in models.items() if not isinstance(v, str)}
        self._api_keys = dict(api_keys or {})
        for value in self._api_keys.values():
            register_secret(value)
        self._timeout_s = timeout_s
        # Least recently used first; bounded, since per-request keys come from clients.
        self._built: OrderedDict[tuple[str, str], BaseChatModel] = OrderedDict()
        self._lock = threading.Lock()
        self._rate_limiters: dict[str, BaseRateLimiter] = {}

    def set_rate_limiters(self, limiters: Mapping[str, BaseRateLimiter]) -> None:
        """Give each named catalog model a LangChain rate limiter (requests per second).

        Every call of that model waits on it (a response-cache hit does not). Models given
        ready-made are used as copies that carry the limiter.
        """
        with self._lock:
            self._rate_limiters = dict(limiters)
            self._built.clear()
            for name, limiter in self._rate_limiters.items():
                if name in self._explicit:
                    model = self._explicit[name]
                    self._explicit[name] = model.model_copy(update={"rate_limiter": limiter})

    @property
    def has_keys(self) -> bool:
        """Whether keys were given to this provider (not counting the environment)."""
        return bool(self._api_keys)

    def has_model(self, name: str) -> bool:
        """Whether ``name`` was given as a ready chat model."""
        return name in self._explicit

    def key_source(
        self,
        spec: ModelSpec,
        per_request_keys: Mapping[str, str | SecretStr] | None = None,
        *,
        own_keys_only: bool = False,
    ) -> str | None:
        """Where :meth:`get` would find the credentials for ``spec`` (never the key itself).

        ``"model"`` (a ready-made chat model), ``"request"``, ``"router"``, ``"environment"``, or
        None when there is none (the call would fail for want of a key).
        """
        if spec.name in self._explicit:
            return None if own_keys_only else "model"
        if spec.provider not in API_KEY_ENV:
            return None
        if (per_request_keys or {}).get(spec.provider):
            return "request"
        if own_keys_only:
            return None
        if self._api_keys.get(spec.provider):
            return "router"
        return "environment" if os.environ.get(API_KEY_ENV[spec.provider]) else None

    def get(
        self,
        spec: ModelSpec,
        per_request_keys: Mapping[str, str | SecretStr] | None = None,
        *,
        own_keys_only: bool = False,
    ) -> BaseChatModel:
        """The chat model for ``spec``; raises :class:`MissingAPIKeyError` without a key.

        ``own_keys_only``: the call may spend only ``per_request_keys`` (a request that
        brought its own key): models given ready-made, the router's keys and the
        environment's are off limits.
        """
        if spec.name in self._explicit:
            if own_keys_only:
                raise OwnKeysOnlyError(
                    f"model {spec.name!r} runs on the operator's credentials and this request "
                    "brings its own key, so it may spend only that key: send the request with "
                    "the server token and no key of your own to use it"
                )
            return self._explicit[spec.name]
        if spec.provider == "custom" and spec.name not in self._strings:
            raise MissingAPIKeyError(
                f"model {spec.name!r} has provider {spec.provider!r} and no chat model was "
                f"given for it: pass models={{{spec.name!r}: <a BaseChatModel>}}"
            )
        if spec.name in self._strings or spec.provider not in API_KEY_ENV:
            return self._cached(spec, self._init_chat_model, per_request_keys, own_keys_only)
        key = resolve_api_key(
            spec.provider, self._api_keys, per_request_keys, own_keys_only=own_keys_only
        )
        if key is None and own_keys_only:
            raise OwnKeysOnlyError(
                f"this request brings its own keys but none for {spec.provider} (model "
                f"{spec.name}): send one in {_HEADER_HINT.get(spec.provider, 'the request')}"
            )
        if key is None:
            raise MissingAPIKeyError(
                f"no API key for {spec.provider} (model {spec.name}): set "
                f"{API_KEY_ENV[spec.provider]}, pass api_keys={{'{spec.provider}': ...}}, or "
                "use dry_run to see the routing decision without calling a model"
            )
        return self._cached(spec, self._build, key)

    def _cached(self, spec: ModelSpec, build: Any, *args: Any) -> BaseChatModel:
        """The model ``build(spec, *args)`` makes, built once per (model, arguments)."""
        # Cache per key fingerprint, never the key itself in a name or message.
        cache_key = (spec.name, str(hash(repr([_plain(a) for a in args]))))
        with self._lock:
            model = self._built.get(cache_key)
            if model is None:
                model = build(spec, *args)
                self._built[cache_key] = model
                while len(self._built) > _MAX_BUILT_MODELS:
                    self._built.popitem(last=False)
            else:
                self._built.move_to_end(cache_key)
        return model

    def _init_chat_model(
        self,
        spec: ModelSpec,
        per_request_keys: Mapping[str, str | SecretStr] | None,
        own_keys_only: bool,
    ) -> BaseChatModel:
        """Any LangChain provider's chat model, through ``init_chat_model``.

        A ``"provider:model"`` string given in ``models``, or the spec's provider and model id. The
        provider's package reads its own key from the environment unless a key for it was given (per
        request, then to the router).
        """
        target = self._strings.get(spec.name) or f"{spec.provider}:{spec.provider_model_id}"
        provider = target.partition(":")[0]
        key = resolve_api_key(provider, self._api_keys, per_request_keys, own_keys_only=True)
        if key is None and not own_keys_only:
            key = resolve_api_key(provider, self._api_keys, None, own_keys_only=False)
        if key is None and own_keys_only:
            raise OwnKeysOnlyError(
                f"this request brings its own keys but none for {provider} (model {spec.name})"
            )
        try:
            from langchain.chat_models import init_chat_model
        except ImportError:
            raise ConfigError(
                f"model {spec.name!r} ({target}) is built with LangChain's init_chat_model: "
                "pip install 'smartroute-graph[agents]' (langchain) and the provider's package"
            ) from None
        kwargs: dict[str, Any] = {"timeout": self._timeout_s, "max_retries": SDK_MAX_RETRIES}
        if key is not None:
            kwargs["api_key"] = key
        try:
            built: BaseChatModel = init_chat_model(target, **kwargs)
            return built
        except ImportError as exc:
            raise ConfigError(
                f"model {spec.name!r} ({target}) needs its provider's package: {exc}"
            ) from None
        except (ValueError, TypeError) as exc:
            # Most providers refuse to build without a key: say which key is missing.
            raise MissingAPIKeyError(
                f"cannot build {spec.name!r} ({target}): {redact_secrets(str(exc))}; set the "
                f"provider's API key in the environment or pass api_keys={{{provider!r}: ...}}"
            ) from None

    def _build(self, spec: ModelSpec, key: SecretStr) -> BaseChatModel:
        kwargs: dict[str, Any] = {
            "model": spec.provider_model_id,
            "api_key": key,
            "timeout": self._timeout_s,
            # No SDK retries: the router's fallback is the retry, and each attempt it records
            # is then exactly one provider request (see SDK_MAX_RETRIES).
            "max_retries": SDK_MAX_RETRIES,
            "stream_usage": True,
        }
        if spec.provider == "openrouter":
            kwargs["base_url"] = openrouter_base_url()
        if spec.name in self._rate_limiters:
            kwargs["rate_limiter"] = self._rate_limiters[spec.name]
        model: BaseChatModel = _recording_chat_openai()(**kwargs)
        return model


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def catalog_with_models(
    catalog: Catalog | None, models: Mapping[str, BaseChatModel | str] | None
) -> tuple[Catalog | None, dict[str, BaseChatModel | str]]:
    """The catalog and the models keyed by catalog name, for models given by provider string.

    The catalog and the models keyed by catalog name, for models given by provider string
    (``{"openai:gpt-4.1": <model or "openai:gpt-4.1">}``: the preset entry it names, added when the
    catalog lacks it), with each ready model's ``profile`` applied to its entry
    (:func:`spec_with_profile`). Without a catalog, the strings make one.
    """
    named: dict[str, BaseChatModel | str] = {}
    for key, value in (models or {}).items():
        if (catalog is None or key not in catalog) and ":" in key:
            spec = spec_from_string(key)
            if catalog is None:
                catalog = Catalog([spec])
            elif spec.name not in catalog:
                catalog = catalog.with_model(spec)
            named[spec.name] = value
        else:
            named[key] = value
    if catalog is not None:
        specs: list[ModelSpec | str] = []
        for name, spec in catalog.items():
            model = named.get(name)
            specs.append(
                spec_with_profile(spec, model) if isinstance(model, BaseChatModel) else spec
            )
        catalog = Catalog(specs)
    return catalog, named


def spec_with_profile(spec: ModelSpec, model: BaseChatModel) -> ModelSpec:
    """``spec`` with what the chat model's ``profile`` states.

    ``spec`` with the context window and capabilities the chat model's ``profile`` states
    (LangChain's model profiles), where it states them; prices stay the catalog's.
    """
    profile = getattr(model, "profile", None) or {}
    update: dict[str, Any] = {}
    for field_name, key in (
        ("context_window", "max_input_tokens"),
        ("max_output_tokens", "max_output_tokens"),
    ):
        value = profile.get(key)
        if isinstance(value, int) and value > 0:
            update[field_name] = value
    for field_name, key in (
        ("supports_images", "image_inputs"),
        ("supports_pdfs", "pdf_inputs"),
        ("reasoning", "reasoning_output"),
    ):
        if isinstance(profile.get(key), bool):
            update[field_name] = profile[key]
    return spec.model_copy(update=update) if update else spec


@cache
def _recording_chat_openai() -> type[BaseChatModel]:
    """``ChatOpenAI`` that notes each failed call's HTTP status and ``Retry-After``.

    The notes are for :func:`recording_provider_failures`. Imported on first use: building a router
    needs no provider package.
    """
    from langchain_openai import ChatOpenAI

    class RecordingChatOpenAI(ChatOpenAI):
        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super()._generate(*args, **kwargs)
            except Exception as exc:
                _note_failure(exc)
                raise

        async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super()._agenerate(*args, **kwargs)
            except Exception as exc:
                _note_failure(exc)
                raise

        def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from super()._stream(*args, **kwargs)
            except Exception as exc:
                _note_failure(exc)
                raise

        async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            try:
                async for chunk in super()._astream(*args, **kwargs):
                    yield chunk
            except Exception as exc:
                _note_failure(exc)
                raise

    RecordingChatOpenAI.__name__ = RecordingChatOpenAI.__qualname__ = "ChatOpenAI"
    return RecordingChatOpenAI
