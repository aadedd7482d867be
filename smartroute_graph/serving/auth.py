"""Who may call the server and which provider keys a request may spend.

A request with the server token spends the server's keys; a request that brings its own key
spends only that key, on every call it causes; an open server (no token) serves anyone.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from pydantic import SecretStr

from smartroute_graph.core.errors import (
    SmartRouteError,
)
from smartroute_graph.core.providers import (
    API_KEY_ENV,
)
from smartroute_graph.runnable import SmartRouter
from smartroute_graph.serving.budgets import Caller
from smartroute_graph.serving.guard import (
    ADMISSION_KEY,
)

__all__ = ["Access", "ServerAuthError", "request_secrets", "server_holds_keys"]

_HEADER_KEYS = {"openai": "x-openai-api-key", "openrouter": "x-openrouter-api-key"}


class ServerAuthError(SmartRouteError):
    """The request lacks the server token, or presents a wrong one (HTTP 401)."""


def request_secrets(request: Request, server_token: str | None) -> list[str]:
    """Every secret the request carries or the server holds, for redaction."""
    secrets = list(getattr(request.state, "secrets", ()))
    for header in (*_HEADER_KEYS.values(), "authorization"):
        value = request.headers.get(header)
        if value:
            secrets.append(value.split(" ", 1)[-1].strip())
    if server_token:
        secrets.append(server_token)
    return [s for s in secrets if s]


class Access:
    """Who may call the protected endpoints, and which provider keys a request brings."""

    def __init__(
        self, router: SmartRouter, server_token: str | None, callers: Sequence[Caller] = ()
    ) -> None:
        self.router = router
        self.token = server_token
        # Several named tokens (serving.budgets); each spends the server's keys as the
        # server token does, and is charged what it spends.
        self.callers = list(callers)
        self.required = server_token is not None or bool(self.callers)
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
        if bearer_is_key and not self.required:
            # An open server's /v1: OpenAI clients always send a bearer, so it is offered as
            # the provider key without making the request own-keys-only.
            value = _bearer(request)
            if value and self.primary not in found:
                found[self.primary] = value
        request.state.secrets = [*getattr(request.state, "secrets", ()), *found.values()]
        # A provider that rejects one of these keys rejects the caller's own key (401).
        request.state.brought_key = bool(found)
        server_keys_allowed = bool(getattr(request.state, "server_keys_allowed", False))
        if not brought and not server_keys_allowed:
            raise ServerAuthError(self._refusal())
        # On a server with a token, a request that brings a key spends that key alone; an
        # open server (no token) lets anyone spend its models, so brought keys only come first.
        own_only = not server_keys_allowed or (bool(brought) and self.required)
        return {"api_keys": found, "own_keys_only": own_only}

    def _presented_keys(self, request: Request, body_key: SecretStr | str | None) -> dict[str, str]:
        found = _header_keys(request.headers)
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

    def admit(self, headers: Mapping[str, str], path: str = "") -> dict[str, Any]:
        """Admission from the headers alone, before the body is read (:class:`RequestGuard`).

        Returns the verdict: ``server_keys`` (the request may spend the server's keys: it
        has the token, or the server has none), ``own_keys`` (admitted on the provider keys
        of its headers) and ``body_key`` (not admitted yet: an ``api_key`` in its body may
        admit it, so the body is read, within the body limit, and checked).

        Raises:
            ServerAuthError: the token is wrong, or missing and no key can stand in for it.
        """
        if not self.required:
            return {"server_keys": True, "own_keys": {}, "body_key": False}
        presented = _bearer_value(headers.get("authorization", ""))
        if presented:
            if self.token is not None and hmac.compare_digest(
                presented.encode(), self.token.encode()
            ):
                return {"server_keys": True, "own_keys": {}, "body_key": False}
            for caller in self.callers:
                if hmac.compare_digest(presented.encode(), caller.token.encode()):
                    return {
                        "server_keys": True,
                        "own_keys": {},
                        "body_key": False,
                        "caller": caller,
                    }
            raise ServerAuthError(
                "the server token is wrong: send Authorization: Bearer <token>, the token this "
                "server was started with (ask its operator)"
            )
        if self.own_keys_allowed:
            keys = _header_keys(headers)
            if self.providers <= set(keys):
                return {"server_keys": False, "own_keys": keys, "body_key": False}
            if self.providers - set(keys) <= {self.primary}:
                return {"server_keys": False, "own_keys": {}, "body_key": True}
        raise ServerAuthError(self._refusal())

    async def __call__(self, request: Request) -> None:
        """FastAPI dependency: 401 unless the request may use this server.

        Takes :meth:`admit`'s verdict (made from the headers before the body was read) and,
        when it is pending on a key in the body, checks that key in the parsed body. Marks
        the request as allowed to spend the server's keys (``server_keys_allowed``) only when
        it presents the server token, or the server has none.
        """
        verdict = getattr(request.state, ADMISSION_KEY, None)
        if verdict is None:  # not behind RequestGuard (create_app always puts it there)
            verdict = self.admit(request.headers, request.url.path)
        request.state.server_keys_allowed = bool(verdict["server_keys"])
        request.state.caller = verdict.get("caller")
        keys: dict[str, str] = dict(verdict["own_keys"])
        if verdict["body_key"]:
            keys = self._presented_keys(request, await _peek_body_key(request))
            if not self.providers <= set(keys):
                raise ServerAuthError(self._refusal())
        if keys:
            # Admitted on its own keys: every call it causes spends those keys only.
            request.state.own_keys = keys
            request.state.secrets = [*getattr(request.state, "secrets", ()), *keys.values()]


def _header_keys(headers: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for provider, header in _HEADER_KEYS.items():
        value = (headers.get(header) or "").strip()
        if value:
            found[provider] = value
    return found


def _bearer_value(authorization: str) -> str:
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _bearer(request: Request) -> str:
    return _bearer_value(request.headers.get("authorization", ""))


# The body fields that carry the caller's own key: ours, and the first older system's name.
_BODY_KEY_FIELDS = ("api_key", "openai_api_key")


async def _peek_body_key(request: Request) -> str | None:
    """The body's own provider key, if it brings one.

    The ``api_key`` (or ``openai_api_key``) of the body, already read and parsed (within the body
    limit).
    """
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            body: Any = await request.form()
        else:
            body = await request.json() if await request.body() else None
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, Mapping):
        return None
    value = next((body.get(f) for f in _BODY_KEY_FIELDS if body.get(f)), None)
    return value if isinstance(value, str) else None


def server_holds_keys(router: SmartRouter) -> list[str]:
    """Where the server holds provider keys (names only), for the open-server check."""
    held = [env for env in API_KEY_ENV.values() if os.environ.get(env, "").strip()]
    if router.provider.has_keys:
        held.append("api_keys given to the router")
    return held
