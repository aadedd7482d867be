r"""What a request must pass before the API reads it: ``Host``, the token, the body's size.

:class:`RequestGuard` is the outermost middleware of
:func:`smartroute_graph.serving.app.create_app`:

- checks ``Host`` against an optional allow-list (400 otherwise);
- admits a protected endpoint's request from its headers alone (the server token, or the
  caller's own provider keys) *before* one byte of its body is read: a request that cannot be
  admitted is answered 401 while its upload is still on the wire;
- caps the body while it streams in: 413 at once for a ``Content-Length`` over the limit, and
  as soon as a chunked upload passes it;
- logs one line per request (method, path with control characters escaped, status, time,
  request id) and sets ``X-Request-ID``.

:func:`preload_body` and :func:`cancel_on_disconnect` are used by the API's route class:
the first reads the (capped) body and parses big JSON off the event loop, refusing text that
is not valid Unicode (a lone surrogate such as ``"\ud800"``); the second cancels a handler,
and the model calls under it, when its client hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ADMISSION_KEY",
    "BodyTooLargeError",
    "ClientDisconnectedError",
    "RequestGuard",
    "cancel_on_disconnect",
    "disconnected_response",
    "escape_for_log",
    "host_allowed",
    "preload_body",
    "too_large_message",
]

logger = logging.getLogger(__name__)

# Where the middleware leaves its verdict for the route (``request.state``).
ADMISSION_KEY = "smartroute_admission"
# JSON bodies larger than this are parsed (and checked for lone surrogates) in a thread.
OFFLOAD_JSON_BYTES = 256 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LOG_PATH_LIMIT = 300

T = TypeVar("T")


class BodyTooLargeError(StarletteHTTPException):
    """The request body passed its limit while it streamed in (HTTP 413).

    ``kind`` is the error type the JSON body names.
    """

    def __init__(self, message: str, kind: str = "RequestTooLargeError") -> None:
        super().__init__(413, message)
        self.kind = kind


def too_large_message(limit: int, received: int | None) -> str:
    """The 413 message for a body of ``received`` bytes (None: a chunked upload)."""
    size = f"is {received / 1e6:.1f} MB" if received else f"is over {limit / 1e6:.1f} MB"
    return (
        f"the request body {size}; the limit is {limit / 1e6:.1f} MB: send less (split a "
        "batch, shorten the prompt, or compress the attachment)"
    )


class ClientDisconnectedError(Exception):
    """The client hung up before its answer was ready; the work for it was cancelled."""


def escape_for_log(text: str, limit: int = _LOG_PATH_LIMIT) -> str:
    r"""``text`` with every non-printable character escaped, cut to ``limit`` characters.

    For example ``\n`` → ``\x0a``, so a path such as ``/x%0aFAKE LOG LINE`` stays on its own log
    line.
    """
    out = "".join(
        ch if ch.isprintable() else (f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        for ch in text[: limit + 1]
    )
    return out if len(text) <= limit else out[:limit] + "…"


def host_allowed(host: str, allowed: Collection[str]) -> bool:
    """Whether the ``Host`` header's name (port dropped) matches ``allowed``.

    ``allowed`` holds exact names, ``*.example.com`` for any subdomain, or ``*`` for any host.
    """
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:8000
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


Admit = Callable[[Mapping[str, str], str], Mapping[str, Any]]
ErrorBody = Callable[[int, str, str], dict[str, Any]]
# (path, bytes received or announced; None when unknown) → the refusal.
TooLarge = Callable[[str, int | None], BodyTooLargeError]


@dataclass(kw_only=True)
class RequestGuard:
    """The outermost middleware (see the module docstring)."""

    app: ASGIApp = field(kw_only=False)
    admit: Admit
    protected: Collection[str]
    body_limit: Callable[[str], int]
    too_large: TooLarge
    error_body: ErrorBody
    auth_errors: tuple[type[Exception], ...]
    allowed_hosts: Sequence[str] | None = None

    def __post_init__(self) -> None:
        self.allowed_hosts = tuple(self.allowed_hosts) if self.allowed_hosts else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the host, the token and the body's size before the app reads it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        async def refuse(code: int, message: str, kind: str, **extra_headers: str) -> None:
            response = JSONResponse(
                self.error_body(code, message, kind),
                status_code=code,
                # No "Connection: close": uvicorn discards the unread rest of the body, so a
                # client still writing it reads this answer instead of a reset connection.
                headers=extra_headers,
            )
            await response(scope, receive, send_with_id)

        path: str = scope.get("path", "")
        # The app's own path when it is mounted under a prefix (as the routes see it).
        root = scope.get("root_path", "")
        route_path = path[len(root) :] if root and path.startswith(root) else path
        try:
            host = headers.get("host", "")
            if self.allowed_hosts is not None and not host_allowed(host, self.allowed_hosts):
                await refuse(
                    400,
                    f"this server does not answer for host {escape_for_log(host, 100)!r}: "
                    "use one of the names it was configured with (allowed_hosts)",
                    "InvalidHostError",
                )
                return
            if route_path in self.protected:
                try:
                    verdict = self.admit(headers, route_path)
                except self.auth_errors as exc:  # 401 before the body is read
                    await refuse(
                        401, str(exc), type(exc).__name__, **{"WWW-Authenticate": "Bearer"}
                    )
                    return
                scope.setdefault("state", {})[ADMISSION_KEY] = verdict
            limit = self.body_limit(route_path)
            try:
                length = int(headers.get("content-length", "") or -1)
            except ValueError:
                length = -1
            if length > limit:
                error = self.too_large(route_path, length)
                await refuse(413, str(error.detail), error.kind)
                return
            refusal = functools.partial(self.too_large, route_path, None)
            await self.app(scope, _capped(receive, limit, refusal), send_with_id)
        except BodyTooLargeError as exc:
            if not response_started:
                await refuse(413, str(exc.detail), exc.kind)
        finally:
            logger.info(
                "%s %s %d %.1fms id=%s",
                scope.get("method", "-"),
                escape_for_log(path),
                status,
                (time.perf_counter() - started) * 1000,
                request_id,
            )


def _capped(receive: Receive, limit: int, refusal: Callable[[], BodyTooLargeError]) -> Receive:
    """``receive`` that raises ``refusal()`` once the body passes ``limit`` bytes."""
    received = 0

    async def capped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise refusal()
        return message

    return capped


# -- in the route ----------------------------------------------------------------------------


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def _parse_and_check(body: bytes) -> Any:
    data = json.loads(body)
    where = _lone_surrogate(data)
    if where is not None:
        raise _SurrogateError(where)
    return data


class _SurrogateError(Exception):
    def __init__(self, loc: tuple[str | int, ...]) -> None:
        super().__init__(loc)
        self.loc = loc


def _lone_surrogate(value: Any, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    r"""Where ``value`` holds text with a lone UTF-16 surrogate (``"\ud800"``), or None."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, loc)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                if _SURROGATE.search(key):
                    return (*where, key)
                stack.append((child, (*where, key)))
        elif isinstance(item, list):
            stack.extend((child, (*where, i)) for i, child in enumerate(item))
    return None


async def preload_body(request: Request) -> Any:
    """Read the request body (capped by :class:`RequestGuard`) and, for JSON, parse it.

    Parsing runs off the event loop when the body is large; the parsed value is what FastAPI then
    validates.

    Returns the parsed JSON (None for other bodies).

    Raises:
        RequestValidationError: the body is not valid JSON, or holds text with a lone
            surrogate (422, naming the field).
    """
    body = await request.body()
    if not body or not _is_json(request.headers.get("content-type", "")):
        return None
    try:
        if len(body) > OFFLOAD_JSON_BYTES:
            data = await asyncio.to_thread(_parse_and_check, body)
        else:
            data = _parse_and_check(body)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from None
    except UnicodeDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.start),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": f"the body is not UTF-8 text ({exc.reason})"},
                }
            ]
        ) from None
    except _SurrogateError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "string_unicode",
                    "loc": ("body", *exc.loc),
                    "msg": "the text holds a lone UTF-16 surrogate (such as \\ud800), which is "
                    "not valid Unicode: send the text as valid UTF-8, or escape characters "
                    "outside the Basic Multilingual Plane as surrogate pairs",
                    "input": None,
                }
            ]
        ) from None
    # FastAPI reads ``request.json()``, which returns this cached value.
    request._json = data
    return data


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``, cancelling it if the client disconnects first.

    The body must have been read already (:func:`preload_body`): what ``receive`` brings next
    is the disconnect.

    Raises:
        ClientDisconnectedError: the client hung up; ``work`` was cancelled.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request.receive))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        watcher.cancel()
        raise
    if task in done:
        watcher.cancel()
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task  # cancelled on purpose: its outcome is moot
    raise ClientDisconnectedError("the client disconnected before the answer was ready")


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def disconnected_response() -> Response:
    """What is 'sent' to a client that is gone (logged as 499, as nginx does)."""
    return Response(status_code=499)
