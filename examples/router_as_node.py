"""The router inside your own LangGraph app, two ways.

1. As a function node: a small support bot whose ``answer`` node calls
   ``router.invoke(state["messages"])`` and appends the reply, followed by a ``log_route``
   node that reads the routing metadata the reply carries.
2. As a subgraph: the compiled router graph (``router.graph``) added directly as a node.
   It shares the ``messages`` key with the parent, reads the conversation and appends the
   chosen model's answer.

Runs offline by default: each model of the ``openai`` preset is a scripted
``FakeChatModel``. With ``OPENAI_API_KEY`` set it calls the real models instead.

    python examples/router_as_node.py
"""

from __future__ import annotations

import os
import re
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from smartroute_graph import SmartRouter
from smartroute_graph.testing import FakeChatModel

SYSTEM = SystemMessage("You are the support assistant of Acme Cloud. Be brief and friendly.")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def offline_models() -> dict[str, BaseChatModel]:
    """A scripted stand-in for each model of the ``openai`` preset."""
    return {
        name: FakeChatModel(
            responses=[f"[{name}] Thanks for reaching out, here is what to do next."],
            model_name=name,
        )
        for name in ("gpt-4.1-nano", "gpt-4.1", "o4-mini")
    }


def make_router() -> SmartRouter:
    if os.environ.get("OPENAI_API_KEY"):
        print("OPENAI_API_KEY is set: calling the real openai preset models\n")
        return SmartRouter.from_preset("openai")
    print("No OPENAI_API_KEY: using offline FakeChatModel stand-ins\n")
    return SmartRouter.from_preset("openai", models=offline_models())


class SupportState(MessagesState):
    """The conversation plus a log of which model answered each turn."""

    route_log: list[str]


def build_support_bot(router: SmartRouter) -> Any:
    """Way 1: the router called from a node, like any other chat model."""

    def answer(state: SupportState, config: RunnableConfig) -> dict[str, Any]:
        # Passing config keeps callbacks, tracing and streaming connected to the parent run.
        reply = router.invoke([SYSTEM, *state["messages"]], config)
        return {"messages": [reply]}

    def log_route(state: SupportState) -> dict[str, Any]:
        meta = state["messages"][-1].response_metadata["smartroute"]
        line = f"{meta['model']:13} ${meta['cost_usd']:.6f}  {meta['reason']}"
        return {"route_log": [*state.get("route_log", []), line]}

    graph = StateGraph(SupportState)
    graph.add_node("answer", answer)
    graph.add_node("log_route", log_route)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", "log_route")
    graph.add_edge("log_route", END)
    # A checkpointer keeps the conversation per thread_id between turns.
    return graph.compile(checkpointer=InMemorySaver())


def build_subgraph_app(router: SmartRouter) -> Any:
    """Way 2: the compiled router graph as a subgraph node sharing ``messages``."""

    def redact(state: MessagesState) -> dict[str, Any]:
        # Anything before the router: here, mask e-mail addresses in the user's message.
        last = state["messages"][-1]
        masked = EMAIL.sub("<email>", last.text)
        if masked == last.text:
            return {}
        # Same id: add_messages replaces the message instead of appending a new one.
        return {"messages": [HumanMessage(content=masked, id=last.id)]}

    def sign_off(state: MessagesState) -> dict[str, Any]:
        last = state["messages"][-1]
        signed = last.model_copy(update={"content": f"{last.text}\n-- Acme Cloud support"})
        return {"messages": [signed]}

    graph = StateGraph(MessagesState)
    graph.add_node("redact", redact)
    graph.add_node("router", router.graph)  # the compiled router graph itself
    graph.add_node("sign_off", sign_off)
    graph.add_edge(START, "redact")
    graph.add_edge("redact", "router")
    graph.add_edge("router", "sign_off")
    graph.add_edge("sign_off", END)
    return graph.compile()


def main() -> None:
    router = make_router()

    print("== 1. router.invoke inside a node (multi-turn, one thread)")
    bot = build_support_bot(router)
    thread = {"configurable": {"thread_id": "ticket-42"}}
    for turn in (
        "My deploy fails with TypeError: cannot read properties of undefined (reading 'id') "
        "in deploy.js. How do I fix it?",
        "Write a short apology note to our customers about yesterday's outage.",
        "thanks, that's all!",
    ):
        state = bot.invoke({"messages": [("user", turn)]}, thread)
        print(f"user: {turn}")
        print(f"bot:  {state['messages'][-1].text}")
    print("route log:")
    for line in state["route_log"]:
        print(f"  {line}")

    print("\n== 2. router.graph as a subgraph node")
    app = build_subgraph_app(router)
    print("parent nodes:", " -> ".join(n for n in app.get_graph().nodes if not n.startswith("__")))
    question = "I'm jane@example.com. Explain the difference between TCP and UDP for our docs."
    result = app.invoke({"messages": [("user", question)]})
    reply = result["messages"][-1]
    meta = reply.response_metadata["smartroute"]
    for message in result["messages"]:
        print(f"{message.type}: {message.text}")
    print(f"routed: {meta['domain']}/{meta['complexity']} -> {meta['model']}")

    # The router's own steps show up when streaming with subgraphs=True.
    steps = [
        node
        for namespace, update in app.stream(
            {"messages": [("user", "hello")]}, stream_mode="updates", subgraphs=True
        )
        for node in update
        if namespace
    ]
    print(f"router steps seen from the parent: {' -> '.join(steps)}")


if __name__ == "__main__":
    main()
