"""The server's Prometheus metrics: one declaration of every name, served at ``GET /metrics``.

Every metric is declared here, in :class:`ServerMetrics`, and nowhere else. What fills them:
:mod:`~smartroute_graph.serving.telemetry` (the HTTP requests, and each routed answer's
``response_metadata["smartroute"]`` and cost events), plus the gateway counters below, which
the code that makes those decisions increments (``app.state.metrics``, or
``ServerDeps.telemetry.metrics`` in an endpoint group).

Counters (Prometheus adds ``_total``) and histograms, with their labels:

- ``smartroute_http_requests_total`` {endpoint, method, status}: every HTTP request;
  ``endpoint`` is the route's path, ``unmatched`` for any other path.
- ``smartroute_http_request_seconds`` {endpoint}: request latency (a stream: to its last byte).
- ``smartroute_decisions_total`` {model, domain, complexity}: routing decisions (``model``: the
  selected one; dry runs included).
- ``smartroute_decision_seconds`` {}: input to decision (prepare, classify, learned, select).
- ``smartroute_answers_total`` {model}: answers given, by the model that answered.
- ``smartroute_model_calls_total`` {model, outcome}: model calls; ``outcome`` is ``ok``, the
  error kind (``rate_limit``, ``timeout``, ...) or ``cache_hit`` (no provider call).
- ``smartroute_model_call_seconds`` {model}: one model call's latency.
- ``smartroute_fallbacks_total`` {model, error_kind}: failed attempts whose query went on to
  another model.
- ``smartroute_escalations_total`` {from_model, to_model}: answers given by another model than
  the one selected (after a failure or a weak review).
- ``smartroute_reviews_total`` {model, method, outcome}: answer reviews, ``passed``/``failed``.
- ``smartroute_cost_usd_total`` {model, purpose}: dollars, ``purpose`` ``answer``,
  ``classifier`` or ``judge``.
- ``smartroute_tokens_total`` {model, kind}: tokens billed, ``input``/``output``.
- ``smartroute_feedback_total`` and ``smartroute_feedback_score`` {model}: ``POST /feedback``.

Gateway counters, for the response cache, rate limits, cooldowns and budgets:

- ``smartroute_cache_hits_total`` {model}: answers from the response cache. Counted by the
  telemetry from the answer's routing metadata (``"cache_hit": true``): the cache need not
  increment it.
- ``smartroute_rate_limited_total`` {model}: calls held back by a rate limit:
  ``metrics.rate_limited.labels(model).inc()``.
- ``smartroute_cooldown_skips_total`` {model}: models skipped while cooling down:
  ``metrics.cooldown_skips.labels(model).inc()``.
- ``smartroute_budget_refusals_total`` {caller}: requests refused over a caller's budget
  (``caller``: the token's name, never the token): ``metrics.budget_refusals.labels(name).inc()``.

Several workers: when ``PROMETHEUS_MULTIPROC_DIR`` names a folder (set before the workers
start, emptied at each start: :func:`prepare_multiprocess_dir`), prometheus_client's
multiprocess mode is on: each process writes its values to files there, and ``/metrics`` in
any worker sums every process's
(:class:`~prometheus_client.multiprocess.MultiProcessCollector`). Without it, the values live
in the process, in a registry of the app's own. Counters only grow; Prometheus's ``rate()`` and
``histogram_quantile()`` make them into rates and percentiles.
"""

from __future__ import annotations

import os
import threading

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

__all__ = [
    "CONTENT_TYPE",
    "MULTIPROC_ENV",
    "ServerMetrics",
    "multiprocess_dir",
    "prepare_multiprocess_dir",
    "server_metrics",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds: HTTP requests and model calls run from milliseconds (a cache hit, a dry run) to
# minutes (a reasoning model's long answer).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# The decision (classify + select) is milliseconds, more with an LLM classifier.
_DECISION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def multiprocess_dir() -> str | None:
    """The folder of prometheus_client's multiprocess mode, or ``None`` (one process)."""
    folder = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())
    return folder or None


def prepare_multiprocess_dir(workers: int) -> str | None:
    """Prepare the multiprocess folder before starting ``workers`` worker processes.

    Returns the folder, emptied of a previous run's files (prometheus_client requires it), or
    ``None`` for one worker without ``PROMETHEUS_MULTIPROC_DIR``. With several workers and no
    folder set, a new temporary folder is made and exported for the workers to inherit.
    """
    folder = multiprocess_dir()
    if folder is None:
        if workers <= 1:
            return None
        import tempfile

        folder = tempfile.mkdtemp(prefix="smartroute-prometheus-")
        os.environ[MULTIPROC_ENV] = folder
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))
    return folder


class ServerMetrics:
    """Every metric of the server (the table in the module docstring).

    Args:
        registry: where the metrics are registered; ``None`` makes a registry of their own
            (one app's metrics stay apart from another's in the same process, as in tests).
            In multiprocess mode the values go to the shared folder whatever the registry.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, doc, labels, registry=r)

        def histogram(
            name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]
        ) -> Histogram:
            return Histogram(name, doc, labels, registry=r, buckets=buckets)

        self.http_requests = counter(
            "smartroute_http_requests",
            "HTTP requests by endpoint (path template), method and status.",
            ("endpoint", "method", "status"),
        )
        self.http_seconds = histogram(
            "smartroute_http_request_seconds",
            "HTTP request latency in seconds (a stream: to its last byte).",
            ("endpoint",),
            _LATENCY_BUCKETS,
        )
        self.decisions = counter(
            "smartroute_decisions",
            "Routing decisions by selected model, domain and complexity.",
            ("model", "domain", "complexity"),
        )
        self.decision_seconds = histogram(
            "smartroute_decision_seconds",
            "Seconds from the router's input to its decision (classify, learned, select).",
            (),
            _DECISION_BUCKETS,
        )
        self.answers = counter(
            "smartroute_answers", "Answers given, by the model that answered.", ("model",)
        )
        self.model_calls = counter(
            "smartroute_model_calls",
            "Model calls by model and outcome (ok, or the error kind).",
            ("model", "outcome"),
        )
        self.model_call_seconds = histogram(
            "smartroute_model_call_seconds",
            "Latency of one model call in seconds.",
            ("model",),
            _LATENCY_BUCKETS,
        )
        self.fallbacks = counter(
            "smartroute_fallbacks",
            "Failed attempts whose query went on to another model, by model and error kind.",
            ("model", "error_kind"),
        )
        self.escalations = counter(
            "smartroute_escalations",
            "Answers given by another model than the one selected (fallback or review).",
            ("from_model", "to_model"),
        )
        self.reviews = counter(
            "smartroute_reviews",
            "Answer reviews by model, method and outcome (passed, failed).",
            ("model", "method", "outcome"),
        )
        self.cost_usd = counter(
            "smartroute_cost_usd",
            "Dollars spent, by model and purpose (answer, classifier, judge).",
            ("model", "purpose"),
        )
        self.tokens = counter(
            "smartroute_tokens",
            "Tokens billed, by model and kind (input, output).",
            ("model", "kind"),
        )
        self.feedback = counter(
            "smartroute_feedback", "Feedback scores received (POST /feedback).", ("model",)
        )
        self.feedback_score = histogram(
            "smartroute_feedback_score",
            "Feedback scores in [0, 1].",
            ("model",),
            _SCORE_BUCKETS,
        )
        # Gateway counters: incremented by the response cache, rate limiter, cooldowns and
        # budgets (see the module docstring).
        self.cache_hits = counter(
            "smartroute_cache_hits", "Answers served from the response cache.", ("model",)
        )
        self.rate_limited = counter(
            "smartroute_rate_limited", "Model calls held back by a rate limit.", ("model",)
        )
        self.cooldown_skips = counter(
            "smartroute_cooldown_skips", "Models skipped while cooling down.", ("model",)
        )
        self.budget_refusals = counter(
            "smartroute_budget_refusals",
            "Requests refused because the caller's budget was spent.",
            ("caller",),
        )

    def render(self) -> bytes:
        """The metrics in Prometheus's text format.

        Every worker's, summed, in multiprocess mode; this process's otherwise.
        """
        folder = multiprocess_dir()
        if folder is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


_shared: ServerMetrics | None = None
_shared_lock = threading.Lock()


def server_metrics() -> ServerMetrics:
    """The metrics for a new app.

    Its own set in one process; in multiprocess mode the process's single set (declaring a
    metric twice in one process would split its values).
    """
    global _shared
    if multiprocess_dir() is None:
        return ServerMetrics()
    with _shared_lock:
        if _shared is None:
            os.makedirs(str(multiprocess_dir()), exist_ok=True)
            _shared = ServerMetrics()
        return _shared
