"""The routing graph, from ``prepare`` through one node per model to review and escalation.

prepare → classify_domain → assess_complexity → learned → select_model → one node per model →
review → (escalate → next model | END).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from langchain_core.runnables import RunnableConfig

# LangGraph's own node wrapper, as its prebuilt ToolNode uses it: a sync and an async body,
# and no second traced run per node (RunnableLambda adds one, ~0.2 ms a call).
from langgraph._internal._runnable import RunnableCallable
from langgraph.graph import END, START, StateGraph

from smartroute_graph.core.providers import (
    API_KEYS_CONFIG_KEY,
)
from smartroute_graph.graph.model_node import (
    STREAMING_CONFIG_KEY,
    StreamInterruptedError,
    model_node,
    node,
)
from smartroute_graph.graph.nodes import RouterNodes
from smartroute_graph.graph.state import RouterInput, RouterOutput, RouterState
from smartroute_graph.routing.context import RouterContext

__all__ = [
    "API_KEYS_CONFIG_KEY",
    "NODE_NAMES",
    "STREAMING_CONFIG_KEY",
    "StreamInterruptedError",
    "build_graph",
]

NODE_NAMES = (
    "prepare",
    "classify_domain",
    "assess_complexity",
    "learned",
    "select_model",
    "review",
    "escalate",
)


def build_graph(
    nodes: RouterNodes,
) -> StateGraph[RouterState, RouterContext, RouterInput, RouterOutput]:
    """The uncompiled router graph over ``nodes`` (compile it with a checkpointer if needed).

    The policies' catalogs together give the model nodes, one per model; ``nodes.learner``
    (an outcome store's learned policy) makes the ``learned`` node decide and the answers
    feed the store (:mod:`smartroute_graph.graph.learning`); without it the node passes.
    ``nodes.keyless_dry_run`` ends a run whose model has no key with its decision (Studio).
    """
    graph = StateGraph(
        RouterState,
        context_schema=RouterContext,
        input_schema=RouterInput,
        output_schema=RouterOutput,
    )
    graph.add_node("prepare", _light_node(nodes.prepare))
    graph.add_node(
        "classify_domain", node(nodes.classify_domain, nodes.aclassify_domain, "classify_domain")
    )
    for step in (nodes.assess_complexity, nodes.learned):
        graph.add_node(step.__name__, _light_node(step))
    graph.add_node("select_model", _light_node_with_config(nodes.select_model))
    for name in nodes.catalog:
        graph.add_node(name, model_node(nodes.catalog[name], nodes.provider, nodes.learner))
    graph.add_node("review", node(nodes.review, nodes.areview, "review"))
    graph.add_node("escalate", _light_node(nodes.escalate))

    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "classify_domain")
    graph.add_edge("classify_domain", "assess_complexity")
    graph.add_edge("assess_complexity", "learned")
    graph.add_edge("learned", "select_model")
    model_targets: dict[Hashable, str] = {name: name for name in nodes.catalog}
    # Every conditional edge names its targets, so Studio draws them; the path functions
    # are untraced (a traced run per edge costs more than the decision it makes).
    to_model = _path(nodes.route_to_model)
    graph.add_conditional_edges("select_model", to_model, {**model_targets, END: END})
    for name in nodes.catalog:
        graph.add_conditional_edges(name, _path(nodes.after_model), {"review": "review", END: END})
    graph.add_conditional_edges(
        "review", _path(nodes.after_review), {"escalate": "escalate", END: END}
    )
    graph.add_conditional_edges("escalate", to_model, model_targets)
    return graph


def _path(func: Any) -> RunnableCallable:
    return RunnableCallable(func, name=func.__name__, trace=False)


def _light_node(func: Any) -> RunnableCallable:
    """A node of CPU-light code; its async twin runs inline instead of in a thread pool."""

    async def afunc(state: RouterState) -> Any:
        return func(state)

    return node(func, afunc, func.__name__)


def _light_node_with_config(func: Any) -> RunnableCallable:
    """:func:`_light_node` for a node that also reads the run's config."""

    async def afunc(state: RouterState, config: RunnableConfig) -> Any:
        return func(state, config)

    return node(func, afunc, func.__name__)
