"""Chat models for catalog entries, API keys, and what a provider error means for fallback."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from smartroute_graph.catalog import ModelSpec
from smartroute_graph.errors import MissingAPIKeyError

__all__ = [
    "API_KEY_ENV",
    "ErrorKind",
    "ModelProvider",
    "error_kind",
    "is_retryable",
    "redact_secrets",
    "resolve_api_key",
]

API_KEY_ENV: Mapping[str, str] = {"openai": "OPENAI_API_KEY", "openrouter": "OPENROUTER_API_KEY"}
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"

ErrorKind = Literal[
    "timeout",
    "rate_limit",
    "server_error",
    "connection",
    "stream_broken",
    "auth",
    "bad_request",
    "other",
]
# A failure of these kinds says nothing about the next model: try it.
_RETRYABLE: frozenset[str] = frozenset(
    {"timeout", "rate_limit", "server_error", "connection", "stream_broken", "other"}
)

_SECRET_PATTERNS = (
    re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-.=]{8,}"),
    re.compile(r"(?i)(api[_-]?key[\"'=:\s]+)[A-Za-z0-9_\-]{8,}"),
)


def redact_secrets(text: str, extra: tuple[str, ...] = ()) -> str:
    """``text`` with API keys and bearer tokens replaced by ``***``."""
    for secret in extra:
        if secret:
            text = text.replace(secret, "***")
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}-***", text)
    for pattern in _SECRET_PATTERNS[1:]:
        text = pattern.sub(lambda m: f"{m.group(1)}***", text)
    return text


def error_kind(exc: BaseException) -> ErrorKind:
    """Classify a provider exception (OpenAI SDK, httpx, asyncio or builtin)."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None) or getattr(
        getattr(exc, "response", None), "status_code", None
    )
    if isinstance(exc, TimeoutError) or "Timeout" in name:
        return "timeout"
    if name == "RateLimitError" or status == 429:
        return "rate_limit"
    if (isinstance(status, int) and status >= 500) or name in ("InternalServerError",):
        return "server_error"
    if name in ("AuthenticationError", "PermissionDeniedError") or status in (401, 403):
        return "auth"
    if name in ("BadRequestError", "UnprocessableEntityError") or status in (400, 422):
        return "bad_request"
    if isinstance(exc, ConnectionError) or "Connection" in name or "Connect" in name:
        return "connection"
    return "other"


def is_retryable(kind: str) -> bool:
    """Whether a failure of ``kind`` should move on to the next model."""
    return kind in _RETRYABLE


def resolve_api_key(
    provider: str,
    explicit: Mapping[str, str | SecretStr] | None = None,
    per_request: Mapping[str, str | SecretStr] | None = None,
) -> SecretStr | None:
    """The key for ``provider``: explicit argument, then the request's, then the environment."""
    for source in (explicit, per_request):
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
        models: Mapping[str, BaseChatModel] | None = None,
        api_keys: Mapping[str, str | SecretStr] | None = None,
        *,
        timeout_s: float | None = 60.0,
    ) -> None:
        self._explicit = dict(models or {})
        self._api_keys = dict(api_keys or {})
        self._timeout_s = timeout_s
        self._built: dict[tuple[str, str], BaseChatModel] = {}
        self._lock = threading.Lock()

    @property
    def has_keys(self) -> bool:
        """Whether keys were given to this provider (not counting the environment)."""
        return bool(self._api_keys)

    def has_model(self, name: str) -> bool:
        """Whether ``name`` was given as a ready chat model."""
        return name in self._explicit

    def get(
        self, spec: ModelSpec, per_request_keys: Mapping[str, str | SecretStr] | None = None
    ) -> BaseChatModel:
        """The chat model for ``spec``; raises :class:`MissingAPIKeyError` without a key."""
        if spec.name in self._explicit:
            return self._explicit[spec.name]
        if spec.provider not in API_KEY_ENV:
            raise MissingAPIKeyError(
                f"model {spec.name!r} has provider {spec.provider!r} and no chat model was "
                f"given for it: pass models={{{spec.name!r}: <a BaseChatModel>}}"
            )
        key = resolve_api_key(spec.provider, self._api_keys, per_request_keys)
        if key is None:
            raise MissingAPIKeyError(
                f"no API key for {spec.provider} (model {spec.name}): set "
                f"{API_KEY_ENV[spec.provider]}, pass api_keys={{'{spec.provider}': ...}}, or "
                "use dry_run to see the routing decision without calling a model"
            )
        # Cache per key fingerprint, never the key itself in a name or message.
        cache_key = (spec.name, str(hash(key.get_secret_value())))
        with self._lock:
            model = self._built.get(cache_key)
            if model is None:
                model = self._build(spec, key)
                self._built[cache_key] = model
        return model

    def _build(self, spec: ModelSpec, key: SecretStr) -> BaseChatModel:
        from langchain_openai import ChatOpenAI

        kwargs: dict[str, Any] = {
            "model": spec.provider_model_id,
            "api_key": key,
            "timeout": self._timeout_s,
            # The router does its own fallback across models; one quick retry is enough.
            "max_retries": 1,
            "stream_usage": True,
        }
        if spec.provider == "openrouter":
            kwargs["base_url"] = OPENROUTER_BASE_URL
        return ChatOpenAI(**kwargs)
