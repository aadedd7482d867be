"""Put each routing decision on the router's run in LangSmith (or any LangChain tracer).

LangGraph traces a routed call as one run for the graph (named ``smartroute``) with one child
run per node: ``prepare``, ``classify_domain``, ``assess_complexity``, ``select_model``, the
chosen model's node (with the chat model's own run inside), and ``review``/``escalate`` when
they run. This module adds the decision to the graph's run, so that runs and experiments can
be filtered by it:

- **metadata** (flat scalar keys, as LangSmith's metadata filters need them):
  ``smartroute_domain``, ``smartroute_complexity``, ``smartroute_complexity_score``,
  ``smartroute_confidence``, ``smartroute_model`` (the model that answered, or the pick of a
  dry run), ``smartroute_selected_model``, ``smartroute_reason``, ``smartroute_preset``,
  ``smartroute_classifier``, ``smartroute_estimated_cost_usd`` and, once a model answered,
  ``smartroute_cost_usd`` and ``smartroute_escalated``;
- **tags**: ``smartroute``, ``domain:<domain>``, ``complexity:<level>``, ``model:<model>``,
  plus ``escalated`` and ``dry-run`` when they apply.

How: LangGraph runs each node inside the node's run context (``langchain_core``'s
``set_config_context``), so a node finds its own callback manager in the current config. Every
LangChain tracer (``BaseTracer``: ``LangChainTracer`` for LangSmith, the run collectors tests
use, ...) keeps its live run objects in ``run_map`` until they end; the graph's run is the
parent of the node's run, and it ends (and is sent: a PATCH for LangSmith) only after the last
node. So a node can add metadata and tags to the graph's run and they go out with it. The graph
calls :func:`annotate_router_run` from ``select_model`` (the decision; enough for dry runs and
for calls that fail) and again where the answer is finalised (the model that answered and the
real cost). With no tracer attached the call costs a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

from smartroute_graph.routing.policy import RoutingDecision

__all__ = [
    "METADATA_PREFIX",
    "TAG",
    "annotate_router_run",
    "annotate_run",
    "decision_metadata",
    "decision_tags",
]

METADATA_PREFIX = "smartroute_"
TAG = "smartroute"

# Keys copied from response_metadata["smartroute"] (scalars only: nested dicts and the
# attempt list stay in the run's outputs, where they already are).
_SCALAR_KEYS = (
    "domain",
    "complexity",
    "complexity_score",
    "confidence",
    "model",
    "selected_model",
    "reason",
    "preset",
    "classifier",
    "estimated_cost_usd",
    "cost_usd",
    "escalated",
    "dry_run",
)


def _as_metadata_source(source: RoutingDecision | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(source, RoutingDecision):
        return {
            "domain": source.domain,
            "complexity": source.complexity,
            "complexity_score": round(source.complexity_score, 4),
            "confidence": round(source.confidence, 4),
            "model": source.model,
            "selected_model": source.model,
            "reason": source.reason,
            "preset": source.preset,
            "classifier": source.classifier,
            "estimated_cost_usd": round(source.estimated_cost_usd, 8),
        }
    return dict(source)


def decision_metadata(
    source: RoutingDecision | Mapping[str, Any], *, dry_run: bool | None = None
) -> dict[str, Any]:
    """The run metadata for a decision or a ``response_metadata["smartroute"]`` dict."""
    data = _as_metadata_source(source)
    if dry_run is not None:
        data["dry_run"] = dry_run
    return {
        f"{METADATA_PREFIX}{key}": data[key]
        for key in _SCALAR_KEYS
        if key in data and data[key] is not None
    }


def decision_tags(
    source: RoutingDecision | Mapping[str, Any], *, dry_run: bool | None = None
) -> list[str]:
    """The run tags for a decision or a ``response_metadata["smartroute"]`` dict."""
    data = _as_metadata_source(source)
    tags = [TAG]
    for key in ("domain", "complexity", "model"):
        if data.get(key):
            tags.append(f"{key}:{data[key]}")
    if data.get("escalated"):
        tags.append("escalated")
    if dry_run if dry_run is not None else data.get("dry_run"):
        tags.append("dry-run")
    return tags


def annotate_run(
    run: Any,
    source: RoutingDecision | Mapping[str, Any],
    *,
    dry_run: bool | None = None,
) -> None:
    """Add the decision's metadata and tags to one run object.

    The run is a tracer's ``Run`` or a ``langsmith.RunTree``, e.g. ``get_current_run_tree()`` inside
    a traced function.

    A later call overrides the earlier values of the same keys; model tags of an earlier
    call are replaced, so an escalated answer is tagged with the model that answered.
    """
    metadata = decision_metadata(source, dry_run=dry_run)
    tags = decision_tags(source, dry_run=dry_run)
    extra = run.extra if isinstance(run.extra, dict) else {}
    # New containers, never in-place updates: the tracer may share these dicts and lists with
    # the caller's config, and the decision must not leak into the next call's runs.
    run.extra = {**extra, "metadata": {**(extra.get("metadata") or {}), **metadata}}
    replaced = {t.split(":", 1)[0] for t in tags if ":" in t}
    kept = [
        t
        for t in (run.tags or [])
        if not (":" in t and t.split(":", 1)[0] in replaced) and t not in tags
    ]
    run.tags = [*kept, *tags]


def _router_runs(config: Mapping[str, Any] | None) -> Iterator[Run]:
    """The graph's runs (the parent of the current node's run) in every attached tracer."""
    callbacks = (config or {}).get("callbacks")
    node_run_id = getattr(callbacks, "parent_run_id", None)
    if node_run_id is None:
        return
    handlers: Sequence[Any] = getattr(callbacks, "handlers", None) or ()
    for handler in handlers:
        if not isinstance(handler, BaseTracer):
            continue
        node_run = handler.run_map.get(str(node_run_id))
        if node_run is None or node_run.parent_run_id is None:
            continue
        graph_run = handler.run_map.get(str(node_run.parent_run_id))
        if graph_run is not None:
            yield graph_run


def annotate_router_run(
    source: RoutingDecision | Mapping[str, Any],
    *,
    dry_run: bool | None = None,
    config: Mapping[str, Any] | None = None,
) -> int:
    """From inside a graph node: put the decision on the graph's run in every tracer.

    ``config`` defaults to the running node's config. Returns how many runs were annotated
    (0 when nothing traces the call, or when called outside a node).
    """
    if config is None:
        config = var_child_runnable_config.get()
    count = 0
    for run in _router_runs(config):
        annotate_run(run, source, dry_run=dry_run)
        count += 1
    return count
