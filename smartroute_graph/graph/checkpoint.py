"""Checkpointing the router graph: a serializer that knows its state types, PostgreSQL.

The serializer, and a PostgreSQL checkpointer with it.

LangGraph's checkpoint serializer deserialises a type it was not told about with a warning
("Deserializing unregistered type ... will be blocked in a future version"), or refuses it
under ``LANGGRAPH_STRICT_MSGPACK=true``. The router's state holds its own types (the decision,
attempts, reviews, classifications, attachments, the learned step's estimates):
:data:`ROUTER_STATE_TYPES` lists them, :func:`router_serde` is a serializer that allows exactly
those beyond LangGraph's safe set (messages, dates, ...), and :func:`postgres_checkpointer`
opens a ``PostgresSaver`` with it (``langgraph-checkpoint-postgres``, the ``postgres`` extra)::

    with postgres_checkpointer("postgresql://user:pw@db/smartroute") as saver:
        graph = router.graph_builder.compile(checkpointer=saver)
        graph.invoke({"query": "..."}, {"configurable": {"thread_id": "t1"}})

Any other saver takes the serializer too: ``AsyncPostgresSaver(conn, serde=router_serde())``,
``SqliteSaver(conn, serde=router_serde())``. ``graphs/langgraph.json`` lists the same types
under ``checkpointer.serde.allowed_msgpack_modules`` for ``langgraph dev`` and LangGraph
server (a test keeps the two lists equal).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from smartroute_graph.classifiers.base import Classification
from smartroute_graph.core.attachments import Attachment
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.graph.state import Attempt
from smartroute_graph.quality.review import Review
from smartroute_graph.routing.learned import LearnedDecision, ModelEstimate, Prediction
from smartroute_graph.routing.operating import OperatingPoint
from smartroute_graph.routing.policy import RoutingDecision

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres import PostgresSaver

__all__ = ["ROUTER_STATE_TYPES", "postgres_checkpointer", "router_serde"]

ROUTER_STATE_TYPES: tuple[tuple[str, str], ...] = tuple(
    (cls.__module__, cls.__name__)
    for cls in (
        RoutingDecision,
        Attempt,
        Review,
        Classification,
        Attachment,
        LearnedDecision,
        Prediction,
        ModelEstimate,
        OperatingPoint,
    )
)
"""(module, class) of every type of the router's own in its graph state."""


def router_serde() -> JsonPlusSerializer:
    """A checkpoint serializer that reads the router's state types without a warning.

    It allows those and LangGraph's safe set, and refuses any other type.
    """
    return JsonPlusSerializer(allowed_msgpack_modules=ROUTER_STATE_TYPES)


@contextmanager
def postgres_checkpointer(url: str, *, setup: bool = True) -> Iterator[PostgresSaver]:
    """A ``PostgresSaver`` on ``url`` with :func:`router_serde`, its connection closed on exit.

    Args:
        url: ``postgresql://user:password@host:port/database``.
        setup: create or migrate the checkpoint tables first (idempotent).

    Raises:
        ConfigError: ``langgraph-checkpoint-postgres`` is not installed.
    """
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection
        from psycopg.rows import dict_row
    except ImportError:
        raise ConfigError(
            "a PostgreSQL checkpointer needs langgraph-checkpoint-postgres: pip install "
            "'smartroute-graph[postgres]'"
        ) from None
    with Connection.connect(
        url, autocommit=True, prepare_threshold=0, row_factory=dict_row
    ) as conn:
        saver = PostgresSaver(conn, serde=router_serde())
        if setup:
            saver.setup()
        yield saver
