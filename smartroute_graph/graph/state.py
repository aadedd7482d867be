"""The router graph's state, and its input and output schemas (what Studio shows)."""

from __future__ import annotations

import operator
from typing import Annotated

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph.message import add_messages
from langgraph.runtime import get_runtime
from pydantic import BaseModel, ConfigDict
from typing_extensions import TypedDict

from smartroute_graph.classifiers.base import Classification
from smartroute_graph.core.attachments import Attachment
from smartroute_graph.quality.review import Review
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.learned import LearnedDecision
from smartroute_graph.routing.policy import RoutingDecision

__all__ = ["Attempt", "RouterInput", "RouterOutput", "RouterState", "current_context"]


class Attempt(BaseModel):
    """One call to one model, successful or not."""

    model_config = ConfigDict(frozen=True)

    model: str
    ok: bool
    latency_ms: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    error_kind: str | None = None
    error: str | None = None
    """The provider's error message with secrets redacted."""
    temperature: float | None = None
    """The sampling temperature the router set for this call (None: the model's own)."""
    cache_hit: bool = False
    """Answered from a cache (LangChain's ``set_llm_cache``, or the server's response cache).

    No provider call was made; the cost is 0.
    """


class RouterInput(TypedDict, total=False):
    """What the graph accepts: a ``query`` string or chat ``messages``, and attachments."""

    query: str
    messages: Annotated[list[AnyMessage], add_messages]
    attachments: list[Attachment]


class RouterOutput(TypedDict, total=False):
    """What the graph returns: the answer (also appended to ``messages``) and the routing."""

    messages: Annotated[list[AnyMessage], add_messages]
    response: AIMessage | None
    decision: RoutingDecision | None
    attempts: Annotated[list[Attempt], operator.add]
    reviews: Annotated[list[Review], operator.add]


class RouterState(RouterInput, RouterOutput, total=False):
    """Everything the nodes read and write."""

    text: str
    """What the classifier reads (last user turn, previous turn, attachment markers)."""
    turn_text: str | None
    """The last user turn alone, when there is a previous turn to read it with."""
    input_tokens: int
    classification: Classification | None
    next_model: str | None
    candidates: Annotated[list[AIMessage], operator.add]
    """Answers that were reviewed, in order (the best one is kept)."""
    deadline_at: float | None
    """When the run must end (``time.time()`` seconds), from ``total_timeout_s``."""
    embedding: list[float] | None
    """The query's sentence embedding (learning on), from the classifier's forward pass."""
    learned: LearnedDecision | None
    """The learned policy's decision (learning on); ``select_model`` applies the rules to it."""
    outcome_id: str | None
    """The id the answer is remembered under for feedback (learning on)."""
    loop_model: str | None
    """The model inside whose tool loop the conversation is (it keeps the task), if any."""


def current_context() -> RouterContext:
    """The running node's settings (``runtime.context``), or the defaults outside a run."""
    context = get_runtime(RouterContext).context
    return context if isinstance(context, RouterContext) else RouterContext()
