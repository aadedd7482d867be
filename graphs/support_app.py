"""A small chat app with the router as one of its nodes: guard → router → finish.

It shows how the router drops into a LangGraph application as a subgraph: the app's state
shares ``messages`` and ``decision`` with the router, the router's context knobs (preset,
budget, dry_run, …) pass through from the app's context, and the app decides what to do
with a dry run. In Studio, expand the ``router`` node to see its own nodes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from smartroute_graph.graph.state import Attempt
from smartroute_graph.graph.studio import RouterGraph, build_router_graph, is_keyless_dry_run
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.policy import RoutingDecision

MAX_MESSAGE_CHARS = 32_000
"""Longer user messages are turned away before any model is chosen."""

Status = Literal["accepted", "rejected", "answered", "dry_run"]


class SupportInput(TypedDict, total=False):
    """The conversation so far; its last message is the user's question."""

    messages: Annotated[list[AnyMessage], add_messages]


class SupportOutput(TypedDict, total=False):
    """The conversation with the answer (or an explanation) appended, and the routing."""

    messages: Annotated[list[AnyMessage], add_messages]
    decision: RoutingDecision | None
    status: Status


class SupportState(SupportInput, SupportOutput, total=False):
    """Everything the app's nodes read and write; ``response`` and ``attempts`` come back
    from the router subgraph (keys the two states share pass between them)."""

    response: AIMessage | None
    attempts: list[Attempt]


def guard(state: SupportState) -> dict[str, Any]:
    """Check and tidy the user's message before any model is chosen."""
    messages = state.get("messages") or []
    last = messages[-1] if messages else None
    if last is None or last.type != "human":
        return _reject("Send your question as a user message.")
    text = last.text.replace("\r\n", "\n").strip()
    if not text and not isinstance(last.content, list):
        return _reject("Your message is empty: write a question.")
    if len(text) > MAX_MESSAGE_CHARS:
        return _reject(
            f"Your message has {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}. "
            "Shorten it or send the long text as an attachment."
        )
    # A new turn starts clean: the previous turn's answer must not look like this one's.
    update: dict[str, Any] = {"status": "accepted", "decision": None, "response": None}
    if isinstance(last.content, str) and text != last.content:
        # Same id: add_messages replaces the message instead of appending a copy.
        update["messages"] = [HumanMessage(content=text, id=last.id)]
    return update


def after_guard(state: SupportState) -> str:
    """Route accepted messages to the router; rejected ones end the run."""
    return "router" if state.get("status") == "accepted" else END


def finish(state: SupportState) -> dict[str, Any]:
    """Mark the turn answered, or explain a dry run to the user in the chat."""
    if state.get("response") is not None:
        return {"status": "answered"}
    decision = state.get("decision")
    if decision is None:  # the router always decides or raises; keep the app honest
        raise RuntimeError("the router returned neither an answer nor a decision")
    why = (
        "no API key is set for this model's provider"
        if is_keyless_dry_run(decision)
        else "this run asked for a dry run"
    )
    text = (
        f"No model was called ({why}). The router would answer with {decision.model}: "
        f"{decision.domain} question, {decision.complexity} "
        f"(confidence {decision.confidence:.2f}), estimated cost "
        f"${decision.estimated_cost_usd:.6f}.\nReason: {decision.reason}"
    )
    message = AIMessage(
        content=text,
        name="smartroute",
        response_metadata={"smartroute": {"dry_run": True, "model": decision.model}},
    )
    return {"status": "dry_run", "messages": [message]}


def _reject(text: str) -> dict[str, Any]:
    return {
        "status": "rejected",
        "decision": None,
        "response": None,
        "messages": [AIMessage(content=text, name="guard")],
    }


def build_support_app(
    router: RouterGraph | None = None,
) -> StateGraph[SupportState, RouterContext, SupportInput, SupportOutput]:
    """The uncompiled app graph; ``router`` (default: the Studio router graph, both presets,
    dry run without keys) becomes its ``router`` node."""
    builder = StateGraph(
        SupportState,
        context_schema=RouterContext,
        input_schema=SupportInput,
        output_schema=SupportOutput,
    )
    builder.add_node("guard", guard)
    builder.add_node("router", router or build_router_graph(name="router"))
    builder.add_node("finish", finish)
    builder.add_edge(START, "guard")
    builder.add_conditional_edges("guard", after_guard, {"router": "router", END: END})
    builder.add_edge("router", "finish")
    builder.add_edge("finish", END)
    return builder


# Compiled without a checkpointer: `langgraph dev` brings its own and refuses a graph's.
graph = build_support_app().compile(name="support_app")
