"""The router graph compiled with a PostgreSQL checkpointer (a throwaway cluster,
:mod:`tests.support.postgres`): runs resume from their thread, and reading the state back
deserialises every router type without LangGraph's "unregistered type" warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph.checkpoint.serde.event_hooks import SerdeEvent, register_serde_event_listener

from smartroute_graph import SmartRouter
from smartroute_graph.graph.checkpoint import postgres_checkpointer
from smartroute_graph.graph.state import Attempt
from smartroute_graph.quality.review import Review
from smartroute_graph.routing.policy import RoutingDecision
from tests.support.postgres import pg_url
from tests.support.servers import fake_models

pytestmark = pytest.mark.integration

__all__ = ["pg_url"]

pytest.importorskip("langgraph.checkpoint.postgres", reason="the postgres extra is not installed")


@pytest.fixture
def serde_events() -> Iterator[list[SerdeEvent]]:
    events: list[SerdeEvent] = []
    unregister = register_serde_event_listener(events.append)
    yield events
    unregister()


def _router(tmp_path: Path) -> SmartRouter:
    models = fake_models()
    for model in models.values():
        model.logprobs = [-0.05, -0.1]
    # Review on (reviews in the state) and learning on (the learned step's estimates).
    return SmartRouter.from_preset(
        "openai", models=models, review="logprobs", outcome_store=tmp_path / "outcomes.db"
    )


def test_router_graph_checkpoints_to_postgres_without_serde_warnings(
    pg_url: str,
    tmp_path: Path,
    serde_events: list[SerdeEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = _router(tmp_path)
    assert router.learner is not None and router.learner.sync()
    thread = {"configurable": {"thread_id": "conversation-1"}}
    try:
        with postgres_checkpointer(pg_url) as saver, caplog.at_level(logging.WARNING):
            graph = router.graph_builder.compile(checkpointer=saver)
            context = router.defaults  # review on, as the router runs it
            first = graph.invoke({"query": "Prove sqrt(2) irrational"}, thread, context=context)
            second = graph.invoke({"query": "and sqrt(3)?"}, thread, context=context)
            state = graph.get_state(thread).values
            history = list(graph.get_state_history(thread))
    finally:
        router.close()
    assert isinstance(first["decision"], RoutingDecision)
    assert isinstance(state["decision"], RoutingDecision)
    assert state["decision"] == second["decision"]
    assert all(isinstance(a, Attempt) for a in state["attempts"]) and state["attempts"]
    assert all(isinstance(r, Review) for r in state["reviews"]) and state["reviews"]
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    assert len(history) > 4
    assert serde_events == []
    unregistered = [r for r in caplog.records if "unregistered type" in r.getMessage()]
    blocked = [r for r in caplog.records if "Blocked deserialization" in r.getMessage()]
    assert unregistered == [] and blocked == []


def test_without_the_allow_list_langgraph_would_warn(
    pg_url: str, tmp_path: Path, serde_events: list[SerdeEvent]
) -> None:
    """The check above can fail: the default serializer reports the router's types."""
    from langgraph.checkpoint.postgres import PostgresSaver

    router = _router(tmp_path)
    thread = {"configurable": {"thread_id": "conversation-2"}}
    try:
        with postgres_checkpointer(pg_url) as saver:
            router.graph_builder.compile(checkpointer=saver).invoke({"query": "hello"}, thread)
            default = PostgresSaver(saver.conn)  # LangGraph's default serializer
            router.graph_builder.compile(checkpointer=default).get_state(thread)
    finally:
        router.close()
    reported = {(e["module"], e["name"]) for e in serde_events}
    assert ("smartroute_graph.routing.policy", "RoutingDecision") in reported
    assert ("smartroute_graph.graph.state", "Attempt") in reported
