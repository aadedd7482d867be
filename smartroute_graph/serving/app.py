"""The HTTP API: the older systems' endpoints, an OpenAI-compatible chat endpoint, a playground.

``create_app(router)`` returns a FastAPI app; ``smartroute serve`` runs it with uvicorn.
Every handler is async and calls the router's async methods (``ainvoke``, ``astream``,
``aroute``, ``acompare``), so one process serves many slow model calls at once; an input too
big to measure and classify on the event loop goes through the sync methods in a thread
(:mod:`~smartroute_graph.serving.calls`).

Endpoints
---------
Open (no token): ``GET /`` (service info and links), ``GET /health`` (``?models=true``: each
model's key presence and last error's kind), ``GET /playground``, ``GET /stats`` (the usage
analytics page; :mod:`~smartroute_graph.serving.stats`), ``GET /docs``,
``GET /redoc``, ``GET /openapi.json``.

Protected (the server token, when one is configured; see *Access* below):

- ``GET /health/models`` (``?check=true``): per model, key present (never the key), last
  error and success, and with ``check`` whether it is reachable
  (:mod:`~smartroute_graph.serving.health`);
- ``POST /route`` ``{prompt, temperature?, api_key?, dry_run?, budget_usd?}`` → the answer
  with ``model, selected_model, domain, complexity, confidence, reason, cost_usd, attempts,
  usage, file_processed, file_processing_error``;
- ``POST /route/with-file``: the same as a multipart form (``prompt``, ``file``: an image,
  a PDF or a text file; ``temperature``, ``api_key``, ``dry_run``, ``budget_usd`` optional);
  a file that cannot be read is reported in ``file_processing_error``, the prompt answered;
- ``GET /models``: the catalog with prices, weakest model first;
- ``POST /query`` ``{query, api_key?}`` → ``{selected_model, response, confidence, reasoning,
  domain, complexity, cost_usd}``;
- ``POST /query-compare`` ``{query, models?}`` → every model's answer, score, cost and
  latency and the router's pick (:class:`~smartroute_graph.quality.compare.ComparisonReport`);
- ``POST /query-specific`` ``{query, model}`` → that model's answer (404 for a model that is
  not in the catalog, with the catalog listed);
- ``POST /batch-query`` ``{queries: [...], compare?, models?}`` → one result per query, in
  order (at most ``max_batch`` queries, 100 by default: more is 413; ``batch_concurrency`` at
  a time); with ``compare`` each result carries its comparison;
- ``POST /test-selection`` ``{query}``, ``{queries}`` or no body (the built-in sample
  prompts) → routing decisions only, no model call and no key needed;
- ``POST /v1/chat/completions`` (OpenAI's request and response shapes; ``model``
  ``"smartroute"`` routes, a catalog model name forces that model; ``stream: true`` sends
  server-sent events in OpenAI's chunk format ending with ``data: [DONE]``). The response's
  ``model`` is the model that answered; its extra ``smartroute`` field carries the routing
  metadata (on the last chunk when streaming). ``GET /v1/models`` lists ``smartroute`` and
  the catalog models.
- ``GET /metrics`` (Prometheus) and ``GET /stats/data`` (usage analytics as JSON): see
  :mod:`~smartroute_graph.serving.stats`; ``POST /feedback``: see
  :mod:`~smartroute_graph.serving.feedback`.

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
A request may spend the server's provider keys only with the server token; a request that
brings its own key has every call it causes made with that key only. A server whose
environment holds provider keys must not be an open proxy for them: ``create_app`` refuses
to build (:class:`~smartroute_graph.core.errors.ConfigError`) when ``OPENAI_API_KEY`` /
``OPENROUTER_API_KEY`` are set (or the router was given keys) and no ``server_token`` is
configured, unless ``insecure_open=True`` (``--insecure-open``). With a token, every
protected endpoint needs ``Authorization: Bearer <token>`` (401 otherwise; a wrong token is
401 too and is never forwarded anywhere). The one exception: a request that brings its own
provider key for **every** provider of the catalog may skip the token, but only when nothing
the server holds can be spent on its behalf: the router was given no keys, no ready-made chat
models (their credentials are opaque), and no LLM classifier. Its keys then pay for every
call it causes, exactly as if it called the provider itself.

The token (and keys in headers) are checked before the body is read
(:mod:`~smartroute_graph.serving.guard`): a request without them is answered 401 while its
upload is still on the wire. Only a request that may be admitted on a key in its body
(``api_key``) is read, and then only up to the body limit.

Limits
------
- Request bodies: ``max_body_bytes`` (32 MiB; ``/route/with-file``: ``max_upload_bytes``
  plus the form's framing), enforced while the body streams in: 413 as soon as it is passed,
  chunked uploads included.
- Deadlines (:mod:`~smartroute_graph.serving.calls`): every request has a total deadline
  (``total_timeout_s``, 300 s); a stream also has a first-token timeout
  (``first_token_timeout_s``, 120 s) for the wait, fallbacks included, before its first
  token. Past either: 504, or an ``error`` event when the stream has started.
- Big inputs (over 100,000 characters) are worked on off the event loop; JSON bodies over
  256 KiB are parsed off it.
- ``/batch-query`` and ``/test-selection`` take at most ``max_batch`` queries;
  ``/query-compare`` at most ``max_batch`` models (duplicates dropped) and a query of at
  most 100,000 characters (it is sent to every model).
- Unknown request fields are refused (422, naming the field), except those the older
  systems' clients send: their names for this API's fields are read as those fields
  (``prompt``/``query``, ``openai_api_key``/``api_key``, ``prompts``/``queries``), and
  ``temperature``, ``compare``, ``model`` are accepted and ignored where the endpoint has no
  such field;
  ``/v1/chat/completions`` takes OpenAI's documented request fields.
- ``allowed_hosts``: when given, a request for any other ``Host`` is refused (400).
- A client that disconnects before its answer is ready cancels the work for it.

Errors
------
Every error is JSON ``{"error": {"message", "type", "code"}, "detail": message}`` (readable
by OpenAI clients and FastAPI clients alike), never a traceback:

===================================================  =====
empty query, invalid or unknown field, bad JSON,      422
text with a lone surrogate
:class:`~smartroute_graph.core.errors.InputError`          its ``http_status`` (attachments: too
                                                      large 413, unsupported type 415,
                                                      corrupt or encrypted PDF 422, empty
                                                      file or bad encoding 400); an empty
                                                      query 422; any other 400
a ``Host`` not in ``allowed_hosts``                    400
too many queries or models, body or upload too large  413
missing or wrong server token                         401
:class:`~smartroute_graph.core.errors.MissingAPIKeyError`  401 ("set OPENAI_API_KEY or send
                                                      X-OpenAI-API-Key")
unknown model                                         404 (the catalog is listed)
:class:`~smartroute_graph.core.errors.BudgetError`         422
every model failed (attempts listed, redacted):
  every attempt rate-limited                          429 with ``Retry-After`` (the
                                                      providers' own when they sent one)
  every attempt timed out                             504
  the provider rejected the caller's own key          401 (the server's key: 502)
  the provider called the request invalid             400
  every provider answered 503                         503
  anything else, or a stream that broke               502
a deadline passed (first token, total)                504
an error with its own ``http_status`` (PDF reader     that status (503 with ``Retry-After``)
busy: ``AttachmentBusyError``)
anything unexpected                                   500 (logged, redacted)
===================================================  =====

502 and 504 carry ``X-Should-Retry: false``: the router already tried its fallbacks, and
OpenAI's clients otherwise retry them (each retry another round of provider calls).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from smartroute_graph.core.attachments import (
    MAX_ATTACHMENT_BYTES,
    AttachmentLimits,
)
from smartroute_graph.core.errors import (
    ConfigError,
)
from smartroute_graph.core.providers import (
    register_secret,
)
from smartroute_graph.runnable import SmartRouter
from smartroute_graph.serving.auth import (
    Access,
    ServerAuthError,
    request_secrets,
    server_holds_keys,
)
from smartroute_graph.serving.calls import (
    DEFAULT_FIRST_TOKEN_TIMEOUT_S,
    DEFAULT_TOTAL_TIMEOUT_S,
    RouterCalls,
)
from smartroute_graph.serving.deps import ServerDeps
from smartroute_graph.serving.errors import error_body, error_route_class, validation_message
from smartroute_graph.serving.feedback import add_feedback_routes
from smartroute_graph.serving.gateway import CacheScope, Gateway
from smartroute_graph.serving.guard import (
    BodyTooLargeError,
    RequestGuard,
    too_large_message,
)
from smartroute_graph.serving.legacy import MAX_BATCH, add_legacy_routes
from smartroute_graph.serving.openai_api import add_openai_routes
from smartroute_graph.serving.schemas import LEGACY_FIELDS, ROUTER_MODEL_NAME
from smartroute_graph.serving.stats import add_stats_page, add_stats_routes, page_headers
from smartroute_graph.serving.telemetry import open_telemetry

__all__ = [
    "DEFAULT_BATCH_CONCURRENCY",
    "DEFAULT_MAX_BODY_BYTES",
    "LEGACY_FIELDS",
    "MAX_BATCH",
    "ROUTER_MODEL_NAME",
    "ServerAuthError",
    "create_app",
]


logger = logging.getLogger(__name__)


DEFAULT_BATCH_CONCURRENCY = 8


# Room for a 20 MB attachment sent base64-encoded in a JSON body (27 MB), and no more.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


# Multipart framing and the form fields around the file: an upload's request may exceed
# the file limit by this much before it is refused unread.
_FORM_OVERHEAD = 64 * 1024


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
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    first_token_timeout_s: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT_S,
    total_timeout_s: float | None = DEFAULT_TOTAL_TIMEOUT_S,
    allowed_hosts: Sequence[str] | None = None,
    usage_store: str | None = None,
    gateway: Gateway | None = None,
) -> FastAPI:
    """The HTTP API over ``router`` (default: ``SmartRouter.from_preset(preset)``).

    Args:
        router: the router to serve; tests pass one built on fake models.
        server_token: the bearer token protected endpoints require (see the module's
            *Access* section); ``None`` serves them openly.
        preset: the preset to build a router from when none is given.
        insecure_open: serve without a token even though the environment holds provider
            keys (anyone who reaches the server can spend them).
        max_batch: most queries in one ``/batch-query`` or ``/test-selection`` request, and
            most models in one ``/query-compare``.
        batch_concurrency: how many queries of one batch run at once.
        max_upload_bytes: the largest file ``/route/with-file`` accepts.
        max_body_bytes: the largest request body of every other endpoint (JSON), enforced
            while it streams in (413).
        first_token_timeout_s: a stream's longest wait for its first token, fallbacks
            included (504 before the response starts); ``None``: no limit.
        total_timeout_s: the longest any request may take; a stream past it ends with an
            ``error`` event; ``None``: no limit.
        allowed_hosts: the ``Host`` names this server answers for (``*.example.com`` for
            subdomains); ``None``: any.
        usage_store: where ``/stats``'s usage analytics are kept (``sqlite:///…``,
            ``postgresql://…``); default: ``$SMARTROUTE_USAGE_STORE``, else the outcome
            store's database, else memory (:func:`~.telemetry.open_telemetry`).
        gateway: response cache, rate limits, cooldowns and callers with daily budgets
            (:mod:`~smartroute_graph.serving.gateway`); ``None``: none of them.

    Raises:
        ConfigError: provider keys are present and neither ``server_token`` nor
            ``insecure_open`` is given; or an argument is out of range.
    """
    router = router if router is not None else SmartRouter.from_preset(preset)
    if server_token is not None and not server_token.strip():
        raise ConfigError("the server token is empty: set a long random value, or give none")
    held = server_holds_keys(router)
    callers = list(gateway.callers) if gateway is not None else []
    if held and server_token is None and not callers and not insecure_open:
        raise ConfigError(
            f"refusing to start: the server holds provider keys ({', '.join(held)}) and no "
            "server token is set, so anyone who can reach it could spend them. Set a token "
            "(export SMARTROUTE_SERVER_TOKEN=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))') and run smartroute serve --token-env "
            "SMARTROUTE_SERVER_TOKEN), or pass --insecure-open to serve without one"
        )
    if min(max_batch, batch_concurrency, max_upload_bytes, max_body_bytes) < 1:
        raise ConfigError(
            "max_batch, batch_concurrency, max_upload_bytes and max_body_bytes must be positive"
        )
    for name, seconds in (
        ("first_token_timeout_s", first_token_timeout_s),
        ("total_timeout_s", total_timeout_s),
    ):
        if seconds is not None and not seconds > 0:
            raise ConfigError(
                f"{name} must be a positive number of seconds (or None), got {seconds}"
            )
    if allowed_hosts is not None and not [h for h in allowed_hosts if h.strip()]:
        raise ConfigError("allowed_hosts is empty: list the host names to serve, or give None")

    from smartroute_graph import __version__

    token = server_token.strip() if server_token else None
    register_secret(token)  # redacted by value from every message and log line
    for caller in callers:
        register_secret(caller.token)
    access = Access(router, token, callers)
    limits = AttachmentLimits(max_bytes=max_upload_bytes)
    calls = RouterCalls(
        router,
        first_token_timeout_s=first_token_timeout_s,
        total_timeout_s=total_timeout_s,
        gateway=gateway,
    )
    playground = _playground_html()
    learner = router.learner
    telemetry = open_telemetry(learner.url if learner is not None else None, usage_store)
    if gateway is not None:
        gateway.attach(router, telemetry.metrics)
    route_class = error_route_class(token)
    protected: set[str] = set()  # filled below, once the protected routes exist

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
    app.state.calls = calls
    app.state.telemetry = telemetry
    app.state.metrics = telemetry.metrics  # the gateway counters (serving/metrics.py)
    upload_limit = max_upload_bytes + _FORM_OVERHEAD

    def body_limit(path: str) -> int:
        return upload_limit if path == "/route/with-file" else max_body_bytes

    def too_large(path: str, received: int | None) -> BodyTooLargeError:
        if path != "/route/with-file":
            return BodyTooLargeError(too_large_message(max_body_bytes, received))
        size = f"is {received / 1e6:.1f} MB" if received else "is larger than that"
        return BodyTooLargeError(
            f"the upload {size}; the limit is {max_upload_bytes / 1e6:.1f} MB: send a smaller "
            "file (compress images, or split the PDF)",
            "AttachmentTooLargeError",
        )

    app.add_middleware(
        RequestGuard,
        admit=access.admit,
        protected=protected,
        body_limit=body_limit,
        too_large=too_large,
        error_body=lambda status, message, kind: error_body(status, message, kind, ()),
        auth_errors=(ServerAuthError,),
        allowed_hosts=allowed_hosts,
    )
    app.add_middleware(telemetry.middleware)  # outermost: counts refused requests too

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            # Never echo the input: it may be the whole body, api_key included.
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        body = error_body(
            422,
            validation_message(exc.errors()),
            "RequestValidationError",
            request_secrets(request, token),
            errors=errors,
        )
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no endpoint {request.url.path}: see GET / for the list, or /docs"
        kind = exc.kind if isinstance(exc, BodyTooLargeError) else "HTTPException"
        body = error_body(exc.status_code, message, kind, ())
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
            "auth": {"token_required": access.required},
            "links": {
                "docs": "/docs",
                "openapi": "/openapi.json",
                "playground": "/playground",
                "stats": "/stats",
                "metrics": "/metrics",
                "health": "/health",
                "model_health": "/health/models",
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
                "GET /metrics",
                "GET /stats/data",
                "GET /health/models",
            ],
        }

    @app.get("/health", summary="Liveness and configuration summary")
    async def health(models: bool = False) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "preset": router.policy_name,
            "models": len(router.catalog),
            "classifier": router.classifier.name,
            "auth": {
                "token_required": access.required,
                # Without the token, a request may still be served on keys it brings (those
                # keys alone pay for every call it causes).
                "own_keys_accepted": not access.required or access.own_keys_allowed,
            },
            # Whether a request needs to bring a key (never the keys themselves).
            "provider_keys_on_server": bool(server_holds_keys(router)),
            "limits": {
                "max_body_bytes": max_body_bytes,
                "max_upload_bytes": max_upload_bytes,
                "max_batch": max_batch,
                "first_token_timeout_s": first_token_timeout_s,
                "total_timeout_s": total_timeout_s,
            },
            # What the gateway does (kinds and counts only: never tokens or URLs).
            "gateway": gateway.describe if gateway is not None else None,
        }
        if models:  # per model: key present, last error's kind (details: /health/models)
            summary["model_health"] = calls.health.report(messages=False)
        return summary

    @app.get("/playground", response_class=HTMLResponse, summary="Try the router in a browser")
    async def playground_page() -> HTMLResponse:
        return HTMLResponse(playground, headers=page_headers())

    add_stats_page(app)  # GET /stats (the page; its data is protected)

    # -- protected endpoints -----------------------------------------------------------

    async def budget(request: Request) -> None:
        if gateway is not None:
            await gateway.check_budget(getattr(request.state, "caller", None))

    api = APIRouter(dependencies=[Depends(access), Depends(budget)], route_class=route_class)

    deps = ServerDeps(
        router=router,
        access=access,
        calls=calls,
        token=token,
        limits=limits,
        max_batch=max_batch,
        batch_concurrency=batch_concurrency,
        telemetry=telemetry,
    )
    add_legacy_routes(api, deps)
    add_openai_routes(api, deps)
    add_feedback_routes(api, deps)  # POST /feedback (learning from outcomes)
    add_stats_routes(api, telemetry)  # GET /metrics, GET /stats/data
    app.include_router(api)
    protected.update(route.path for route in api.routes if isinstance(route, APIRoute))
    telemetry.paths.update(protected, (getattr(r, "path", "") for r in app.router.routes))
    if gateway is not None and gateway.cache is not None:
        app.add_middleware(CacheScope, cache=gateway.cache)
    return app
