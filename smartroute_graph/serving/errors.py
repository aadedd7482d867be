"""Errors as JSON bodies with the status a client can act on, and the route class that applies it.

Provider outcomes are mapped to 429, 504, 401, 400, 503 or 502, and secrets are redacted.
"""

from __future__ import annotations

import logging
import math
import re
import traceback
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from smartroute_graph.core.errors import (
    AllModelsFailedError,
    BudgetError,
    DeadlineExceededError,
    InputError,
    MissingAPIKeyError,
    OwnKeysOnlyError,
    SmartRouteError,
    UnknownModelError,
)
from smartroute_graph.core.providers import (
    ProviderFailures,
    recording_provider_failures,
    redact_secrets,
)
from smartroute_graph.graph.model_node import StreamInterruptedError
from smartroute_graph.serving.auth import ServerAuthError, request_secrets
from smartroute_graph.serving.guard import (
    ClientDisconnectedError,
    cancel_on_disconnect,
    disconnected_response,
    preload_body,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_RETRY_AFTER_S",
    "TooManyQueriesError",
    "error_body",
    "error_route_class",
    "exception_payload",
    "validation_message",
]

# 429 without a provider's own Retry-After: ask for a short wait rather than none.
DEFAULT_RETRY_AFTER_S = 1


_KEY_HINT = {
    "openai": "set OPENAI_API_KEY or send X-OpenAI-API-Key",
    "openrouter": "set OPENROUTER_API_KEY or send X-OpenRouter-API-Key",
}


_PROVIDER_STATUS = re.compile(r"Error code: (\d{3})\b")


class TooManyQueriesError(InputError):
    """More queries, models or characters than the endpoint takes (HTTP 413)."""

    http_status = 413


def _status_for(exc: BaseException) -> int:
    if isinstance(exc, ServerAuthError | MissingAPIKeyError):
        return 401
    if isinstance(exc, UnknownModelError):
        return 404
    if isinstance(exc, InputError):
        status = getattr(exc, "http_status", None)
        return status if isinstance(status, int) and 400 <= status < 500 else 400
    if isinstance(exc, BudgetError):
        return 422
    if isinstance(exc, DeadlineExceededError):
        return 504
    if isinstance(exc, StreamInterruptedError):
        # Cut after tokens were sent: by a time limit of the router's (504), or broken (502).
        return 504 if getattr(exc, "error_kind", None) == "timeout" else 502
    if isinstance(exc, AllModelsFailedError):
        return 502
    if isinstance(exc, SmartRouteError):
        # An error that says its own status (AttachmentBusyError: 503, the reader is busy).
        status = getattr(exc, "http_status", None)
        return status if isinstance(status, int) and 400 <= status < 600 else 400
    return 500


class _Outcome:
    """What a failed run's attempts mean to the client: a status, headers, and a sentence."""

    def __init__(self, status: int, why: str, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.why = why
        self.headers = dict(headers or {})


def _provider_outcome(
    attempts: Sequence[Mapping[str, Any]],
    failures: ProviderFailures | None,
    *,
    own_key: bool,
) -> _Outcome:
    """Map every-model-failed to a status a client can act on (see the module's *Errors*)."""
    failed = [a for a in attempts if not a.get("ok")]
    kinds = [str(a.get("error_kind") or "other") for a in failed]
    if not kinds:
        return _Outcome(502, "")
    last = kinds[-1]
    if last == "auth":
        if own_key:
            return _Outcome(401, "the provider rejected the API key this request brought: check it")
        return _Outcome(
            502,
            "the provider rejected the server's API key (tell its operator)",
            {"X-Should-Retry": "false"},
        )
    if last == "bad_request":
        return _Outcome(400, "the provider refused the request as invalid")
    if all(kind == "rate_limit" for kind in kinds):
        waits = failures.retry_after_s if failures else []
        wait = math.ceil(max(waits)) if waits else DEFAULT_RETRY_AFTER_S
        return _Outcome(
            429,
            f"every model was rate-limited by its provider: retry after {wait} s",
            {"Retry-After": str(wait)},
        )
    if all(kind == "timeout" for kind in kinds):
        return _Outcome(504, "every model timed out", {"X-Should-Retry": "false"})
    if all(kind == "server_error" for kind in kinds):
        statuses = list(failures.statuses) if failures and failures.statuses else []
        if not statuses:
            found = (_PROVIDER_STATUS.search(str(a.get("error") or "")) for a in failed)
            statuses = [int(m.group(1)) for m in found if m]
        if len(statuses) >= len(failed) and all(code == 503 for code in statuses):
            waits = failures.retry_after_s if failures else []
            headers = {"Retry-After": str(math.ceil(max(waits)))} if waits else {}
            return _Outcome(503, "every provider is unavailable (503): retry later", headers)
    return _Outcome(502, "", {"X-Should-Retry": "false"})


def error_body(
    status: int, message: str, kind: str, secrets: Sequence[str], **extra: Any
) -> dict[str, Any]:
    """The JSON error body OpenAI and FastAPI clients both read, secrets redacted."""
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


_Reply = tuple[int, dict[str, Any], dict[str, str]]


def exception_payload(
    exc: BaseException,
    secrets: Sequence[str],
    *,
    failures: ProviderFailures | None = None,
    own_key: bool = False,
) -> _Reply:
    """The status, JSON body and headers for an exception raised while handling a request.

    ``failures``: what the providers answered (statuses, ``Retry-After``); ``own_key``:
    whether the request brought its own provider key (a rejected one is then its fault: 401).
    """
    status = _status_for(exc)
    kind = type(exc).__name__
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, MissingAPIKeyError) and not isinstance(exc, OwnKeysOnlyError):
        return status, error_body(status, _missing_key_message(exc), kind, secrets), headers
    if isinstance(exc, AllModelsFailedError):
        outcome = _provider_outcome(exc.attempts, failures, own_key=own_key)
        status = outcome.status
        message = f"{outcome.why} — {exc}" if outcome.why else str(exc)
        body = error_body(status, message, kind, secrets, attempts=exc.attempts)
        logger.warning("every model failed (%d): %s", status, body["detail"])
        return status, body, outcome.headers
    if status in (502, 504):
        # The router already tried its fallbacks: a retrying client would only repeat them.
        headers["X-Should-Retry"] = "false"
    if status == 503:
        headers["Retry-After"] = str(DEFAULT_RETRY_AFTER_S)  # busy for now: retry soon
    wait = getattr(exc, "retry_after_s", None)
    if status == 429 and isinstance(wait, int | float):
        headers["Retry-After"] = str(max(1, math.ceil(wait)))  # e.g. a spent daily budget
    if status == 500:
        ref = uuid.uuid4().hex[:12]
        # The traceback goes to the log (redacted), never to the client.
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        logger.error("unexpected error %s: %s", ref, redact_secrets(trace, tuple(secrets)))
        message = (
            f"internal error (reference {ref}): the server logged the details; retry, or "
            "report the reference to the operator"
        )
        return status, error_body(status, message, "InternalServerError", secrets), headers
    return status, error_body(status, str(exc), kind, secrets), headers


def validation_message(errors: Sequence[Any]) -> str:
    """One readable line from pydantic's validation errors (never the input)."""
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
        elif kind == "extra_forbidden":
            parts.append(
                f"unknown field '{loc}': this endpoint does not take it (see /docs for the "
                "fields it takes)"
            )
        else:
            parts.append(f"'{loc}': {msg}" if loc else msg)
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    return "; ".join(parts) or "the request is invalid"


def error_route_class(server_token: str | None) -> type[APIRoute]:
    """A route class whose handler turns every exception into a JSON error."""

    class GuardedRoute(APIRoute):
        """A route that reads the (capped) body first, parsing big JSON off the event loop.

        It runs the handler so that a client's disconnect cancels it, and turns every exception a
        handler (or its dependencies) raises into a JSON error with the status it maps to. Framework
        errors (validation, 404/405) go to the app's handlers.
        """

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                with recording_provider_failures() as failures:
                    try:
                        await preload_body(request)
                        return await cancel_on_disconnect(request, handler(request))
                    except (RequestValidationError, StarletteHTTPException):
                        raise
                    except ClientDisconnectedError:
                        return disconnected_response()
                    except Exception as exc:
                        status, body, headers = exception_payload(
                            exc,
                            request_secrets(request, server_token),
                            failures=failures,
                            own_key=bool(getattr(request.state, "brought_key", False)),
                        )
                        return JSONResponse(body, status_code=status, headers=headers)

            return guarded

    return GuardedRoute
