"""Where the server's metrics and usage analytics are gathered: one middleware, one callback.

:class:`Telemetry` wraps the app in an ASGI middleware (:meth:`Telemetry.middleware`) that,
for each HTTP request, times it, counts it by endpoint and status, and puts a fresh
:class:`RequestObserver` in a context variable registered with LangChain's configure hooks:
every router run the request causes, in any handler, streamed or not, in a worker thread or
not, reports to it. No handler is touched. The observer is a
:class:`~smartroute_graph.core.pricing.CostTracker` (the router's cost events: cost and tokens
per model and purpose) that also reads each finished router run's output: the routing
metadata (``response_metadata["smartroute"]``: domain, complexity, selected and answering
model, attempts, reviews, cost; for a dry run the decision) and times the decision (input to
``select_model``'s end). When the request ends, its answers go to the Prometheus metrics
(:mod:`~smartroute_graph.serving.metrics`) and, one row each, to the usage log
(:mod:`~smartroute_graph.serving.usage`) with the endpoint and status.

A response-cache hit is counted from the metadata: an answer whose routing metadata says
``"cache_hit": true`` increments ``smartroute_cache_hits_total`` for its model.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.messages import AIMessage
from langchain_core.tracers.context import register_configure_hook

from smartroute_graph.core.pricing import COST_EVENT, CostTracker
from smartroute_graph.graph.metadata import routing_metadata
from smartroute_graph.serving.metrics import ServerMetrics, server_metrics
from smartroute_graph.serving.usage import FeedbackRow, UsageLog, UsageRow, open_usage_log

__all__ = ["USAGE_STORE_ENV", "RequestObserver", "Telemetry", "answer_metadata", "open_telemetry"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_current: ContextVar[RequestObserver | None] = ContextVar(
    "smartroute_request_observer", default=None
)
# Every callback manager configured while a request's observer is set includes it.
register_configure_hook(_current, True)

_DECISION_NODE = "select_model"
USAGE_STORE_ENV = "SMARTROUTE_USAGE_STORE"


def answer_metadata(outputs: Any) -> dict[str, Any] | None:
    """The routing metadata of a finished router run's output (a dry run's too).

    ``None`` when ``outputs`` is not a router graph's output.
    """
    if not isinstance(outputs, dict) or outputs.get("decision") is None:
        return None
    response = outputs.get("response")
    if isinstance(response, AIMessage):
        meta = response.response_metadata.get("smartroute")
        if isinstance(meta, dict):
            return meta
    meta = routing_metadata(
        outputs["decision"], outputs.get("attempts") or [], outputs.get("reviews") or []
    )
    return {**meta, "dry_run": True}


class RequestObserver(CostTracker):
    """What one HTTP request's router runs did.

    Each answer's routing metadata with its decision and run latency, and (as a
    :class:`CostTracker`) the cost of every model call.
    """

    run_inline = True  # no thread hop per event: each handler here is a few dict operations

    def __init__(self, metrics: ServerMetrics) -> None:
        super().__init__()
        self.metrics = metrics
        self.answers: list[tuple[dict[str, Any], float, float | None]] = []
        """(routing metadata, run seconds, decision seconds) per finished router run."""
        self._roots: dict[UUID, float] = {}
        self._decision_runs: dict[UUID, UUID] = {}
        self._decided: dict[UUID, float] = {}

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Start timing a router run (a root run) or its decision node."""
        if parent_run_id is None:
            self._roots[run_id] = time.perf_counter()
        elif kwargs.get("name") == _DECISION_NODE and parent_run_id in self._roots:
            self._decision_runs[run_id] = parent_run_id

    def on_chain_end(
        self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """Time the decision; take a finished router run's metadata."""
        root = self._decision_runs.pop(run_id, None)
        if root is not None and root in self._roots:
            seconds = time.perf_counter() - self._roots[root]
            self._decided[root] = seconds
            self.metrics.decision_seconds.observe(seconds)
            return
        started = self._roots.pop(run_id, None)
        if started is None:
            return
        meta = answer_metadata(outputs)
        if meta is not None:
            run_s = time.perf_counter() - started
            self.answers.append((meta, run_s, self._decided.pop(run_id, None)))

    def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Forget a run that failed (its request's status says how)."""
        self._roots.pop(run_id, None)
        self._decision_runs.pop(run_id, None)
        self._decided.pop(run_id, None)

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        """Total a cost event (see :class:`CostTracker`) and count it per model and purpose."""
        super().on_custom_event(name, data, **kwargs)
        if name != COST_EVENT or not isinstance(data, dict):
            return
        model = str(data.get("model", "unknown"))
        purpose = str(data.get("purpose") or "answer")
        cost = float(data.get("cost_usd", 0.0))
        if cost > 0:
            self.metrics.cost_usd.labels(model, purpose).inc(cost)
        for kind in ("input", "output"):
            tokens = int(data.get(f"{kind}_tokens", 0))
            if tokens > 0:
                self.metrics.tokens.labels(model, kind).inc(tokens)


class Telemetry:
    """The server's metrics and usage log, and the middleware that feeds them.

    Args:
        metrics: the Prometheus metrics.
        usage: the usage log (``None``: metrics only).
    """

    def __init__(self, metrics: ServerMetrics, usage: UsageLog | None = None) -> None:
        self.metrics = metrics
        self.usage = usage
        self.paths: set[str] = set()
        """The app's route paths (``create_app`` fills it once its routes exist)."""

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """``app`` observed (for ``app.add_middleware(telemetry.middleware)``)."""
        telemetry = self

        async def observed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500  # unless a response starts
            observer = RequestObserver(telemetry.metrics)
            token = _current.set(observer)

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                _current.reset(token)
                telemetry.finish(scope, status, time.perf_counter() - started, observer)

        return observed

    def finish(self, scope: Scope, status: int, seconds: float, observer: RequestObserver) -> None:
        """Count one finished request and the answers it gave."""
        route = scope.get("route")
        path = getattr(route, "path", None) or scope.get("path", "")
        # Path templates only (a bounded label set): every other path is "unmatched".
        endpoint = path if path in self.paths else "unmatched"
        m = self.metrics
        m.http_requests.labels(endpoint, scope.get("method", ""), str(status)).inc()
        m.http_seconds.labels(endpoint).observe(seconds)
        now = time.time()
        for meta, run_s, decision_s in observer.answers:
            self._count_answer(meta)
            if self.usage is not None:
                self.usage.record(_usage_row(meta, now, endpoint, status, run_s, decision_s))

    def _count_answer(self, meta: dict[str, Any]) -> None:
        m = self.metrics
        selected = str(meta.get("selected_model") or meta.get("model"))
        model = str(meta.get("model"))
        m.decisions.labels(selected, str(meta.get("domain")), str(meta.get("complexity"))).inc()
        if meta.get("dry_run"):
            return
        attempts = meta.get("attempts") or []
        if any(a.get("ok") for a in attempts) or meta.get("cache_hit"):
            m.answers.labels(model).inc()
        for i, attempt in enumerate(attempts):
            name = str(attempt.get("model"))
            if attempt.get("cache_hit"):  # answered from the response cache: no provider call
                m.model_calls.labels(name, "cache_hit").inc()
                continue
            outcome = "ok" if attempt.get("ok") else str(attempt.get("error_kind") or "error")
            m.model_calls.labels(name, outcome).inc()
            m.model_call_seconds.labels(name).observe(float(attempt.get("latency_ms", 0)) / 1e3)
            if not attempt.get("ok") and i < len(attempts) - 1:
                m.fallbacks.labels(name, outcome).inc()
        if meta.get("escalated"):
            m.escalations.labels(selected, model).inc()
        for review in meta.get("reviews") or []:
            outcome = "passed" if review.get("passed") else "failed"
            m.reviews.labels(str(review.get("model")), str(review.get("method")), outcome).inc()
        if meta.get("cache_hit"):
            m.cache_hits.labels(model).inc()

    def feedback(self, model: str, score: float) -> None:
        """Count a feedback score (``POST /feedback``) and keep it in the usage log."""
        self.metrics.feedback.labels(model).inc()
        self.metrics.feedback_score.labels(model).observe(score)
        if self.usage is not None:
            self.usage.record(FeedbackRow(ts=time.time(), model=model, score=score))

    def close(self) -> None:
        """Write what the usage log has queued and close it."""
        if self.usage is not None:
            self.usage.close()


def _usage_row(
    meta: dict[str, Any],
    ts: float,
    endpoint: str,
    status: int,
    run_s: float,
    decision_s: float | None,
) -> UsageRow:
    attempts = meta.get("attempts") or []
    return UsageRow(
        ts=ts,
        endpoint=endpoint,
        status=status,
        domain=str(meta.get("domain")),
        complexity=str(meta.get("complexity")),
        selected_model=str(meta.get("selected_model") or meta.get("model")),
        model=str(meta.get("model")),
        cost_usd=float(meta.get("cost_usd") or 0.0),
        latency_ms=run_s * 1e3,
        decision_ms=None if decision_s is None else decision_s * 1e3,
        fallbacks=sum(1 for a in attempts[:-1] if not a.get("ok")),
        escalated=bool(meta.get("escalated")),
        dry_run=bool(meta.get("dry_run")),
        cache_hit=bool(meta.get("cache_hit")),
    )


def open_telemetry(learner_url: str | None, usage_store: str | None = None) -> Telemetry:
    """The telemetry of a new app.

    Its usage log is, by precedence: ``usage_store``, the ``SMARTROUTE_USAGE_STORE`` environment
    variable, the router's outcome store (same SQLite file or PostgreSQL database, tables of
    their own: ``learner_url``), else in memory (this process only; ``smartroute serve`` gives
    a file by default).

    Raises:
        ConfigError: the usage log cannot be opened.
    """
    url = usage_store or os.environ.get(USAGE_STORE_ENV) or learner_url or ":memory:"
    return Telemetry(server_metrics(), open_usage_log(url))
