"""The graph's side of learning from outcomes: the ``learned`` node and what feeds the store.

With an :class:`~smartroute_graph.routing.online.OnlineLearner` (a router with an outcome
store) and learning on for the run (``RouterContext.learn`` not False):

- ``classify_domain`` asks the encoder for the classification and the query's sentence
  embedding from one forward pass (:func:`classify_and_embed`); the embedding goes into the
  state as a tuple of floats, which checkpoints serialise;
- the ``learned`` node (:func:`learned_update`) asks the learner for its decision at the run's
  operating point and puts it in the state; ``select_model`` hands it to
  :func:`smartroute_graph.routing.decide.decide`, which applies the usual rules to it;
- every reviewed answer becomes an observation (:func:`record_review`, source ``review``);
- the final answer is remembered under an outcome id for later feedback
  (:func:`remember_answer`), which ``response_metadata["smartroute"]["outcome_id"]`` carries.

Without a learner (or with ``learn=False``) each of these does nothing: the graph routes as
it does without a store.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from langchain_core.messages import AIMessage
from langgraph.config import get_config

from smartroute_graph.classifiers import load_classifier
from smartroute_graph.classifiers.base import Classification, Classifier
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.core.pricing import estimate_cost
from smartroute_graph.graph.state import Attempt, RouterState
from smartroute_graph.quality.review import Review
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.observations import Observation, PendingOutcome
from smartroute_graph.routing.online import Embedder, OnlineLearner
from smartroute_graph.routing.operating import OperatingPoint
from smartroute_graph.routing.policy import Policy

__all__ = [
    "OUTCOME_ID_CONFIG_KEY",
    "aclassify_and_embed",
    "classify_and_embed",
    "embedder_for",
    "learned_update",
    "learning_on",
    "operating_point",
    "record_review",
    "remember_answer",
]

OUTCOME_ID_CONFIG_KEY = "smartroute_outcome_id"
"""``config["configurable"]`` key of the id an answer is remembered under (``SmartRouter``
sets it to the run id the caller gave, else the graph makes one)."""


def learning_on(learner: OnlineLearner | None, context: RouterContext) -> bool:
    """Whether this run learns: the router has a learner and the run did not turn it off."""
    return learner is not None and context.learn is not False


def classify_and_embed(
    classifier: Classifier,
    texts: Sequence[str],
    learner: OnlineLearner | None,
    context: RouterContext,
    alone_confidence: float,
) -> tuple[list[Classification], dict[str, Any]]:
    """Classify ``texts`` and, when the run learns, embed the query.

    The learner's encoder classifies and embeds in one forward pass when it is the run's
    classifier; another classifier (rules, LLM) classifies and the encoder embeds. The
    embedding is of the text the classification is read from: the last turn alone when its
    reading is at least ``alone_confidence`` sure, else the turn with the previous one.

    Returns:
        The classifications, in order, and the state update (``{"embedding": ...}`` or empty).
    """
    if not learning_on(learner, context):
        return classifier.classify(texts), {}
    assert learner is not None
    embedder = learner.embedder
    if embedder is None:
        return classifier.classify(texts), {}
    if classifier is cast(object, embedder):  # one forward pass for both
        results, vectors = embedder.classify_with_embeddings(texts)
    else:
        results = classifier.classify(texts)
        vectors = embedder.classify_with_embeddings(texts)[1]
    return results, _embedding_update(results, vectors, alone_confidence)


async def aclassify_and_embed(
    classifier: Classifier,
    texts: Sequence[str],
    learner: OnlineLearner | None,
    context: RouterContext,
    alone_confidence: float,
) -> tuple[list[Classification], dict[str, Any]]:
    """:func:`classify_and_embed` with the classifier's async twin when it has one.

    The LLM backend waits on the network; the encoder's embedding is computed inline.
    """
    aclassify = getattr(classifier, "aclassify", None)
    if aclassify is None:
        return classify_and_embed(classifier, texts, learner, context, alone_confidence)
    results = list(await aclassify(texts))
    embedder = learner.embedder if learner is not None else None
    if embedder is None or not learning_on(learner, context):
        return results, {}
    vectors = embedder.classify_with_embeddings(texts)[1]
    return results, _embedding_update(results, vectors, alone_confidence)


def _embedding_update(
    results: Sequence[Classification], vectors: np.ndarray, alone_confidence: float
) -> dict[str, Any]:
    row = 0 if len(results) == 1 or results[0].confidence >= alone_confidence else 1
    return {"embedding": [float(x) for x in np.asarray(vectors[row]).tolist()]}


def operating_point(learner: OnlineLearner, context: RouterContext) -> OperatingPoint:
    """The run's operating point: its ``cost_weight`` or ``quality_tolerance``, else the learner's.

    Raises:
        ConfigError: a knob is out of range.
    """
    base = learner.operating_point
    if context.cost_weight is not None:
        return OperatingPoint(cost_weight=context.cost_weight, latency_weight=base.latency_weight)
    if context.quality_tolerance is not None:
        return OperatingPoint(tolerance=context.quality_tolerance)
    return base


def learned_update(
    learner: OnlineLearner | None,
    policy: Policy,
    context: RouterContext,
    state: RouterState,
) -> dict[str, Any]:
    """The ``learned`` node: the learned decision and the run's outcome id.

    Nothing when the run does not learn; no decision when a model is forced. Runs inside the graph
    (it reads the run's config for the outcome id the caller gave).
    """
    if not learning_on(learner, context):
        return {}
    assert learner is not None
    given = (get_config().get("configurable") or {}).get(OUTCOME_ID_CONFIG_KEY)
    update: dict[str, Any] = {"outcome_id": str(given or uuid.uuid4())}
    embedding = state.get("embedding")
    classification = state.get("classification")
    if context.model or embedding is None or classification is None:
        return update
    tokens = state.get("input_tokens", 0)
    ladder = list(policy.catalog.ladder)
    costs = {m: estimate_cost(policy.catalog[m], tokens, classification.complexity) for m in ladder}
    update["learned"] = learner.decide(
        np.asarray(embedding, dtype=np.float32),
        prior=classification,
        candidates=ladder,
        costs=costs,
        operating_point=operating_point(learner, context),
    )
    return update


def record_review(
    learner: OnlineLearner | None,
    context: RouterContext,
    state: RouterState,
    verdict: Review,
    attempt: Attempt,
) -> None:
    """Store a reviewed answer's score as an observation (source ``review``)."""
    embedding = state.get("embedding")
    if not learning_on(learner, context) or verdict.score is None or embedding is None:
        return
    assert learner is not None
    classification = state.get("classification")
    learner.observe(
        [
            Observation(
                embedding=np.asarray(embedding, dtype=np.float32),
                model=attempt.model,
                score=min(1.0, max(0.0, verdict.score)),
                cost_usd=attempt.cost_usd,
                latency_ms=attempt.latency_ms,
                source="review",
                run_id=state.get("outcome_id"),
                domain=classification.domain if classification else None,
                complexity=classification.complexity if classification else None,
            )
        ]
    )


def remember_answer(
    learner: OnlineLearner | None,
    context: RouterContext,
    state: RouterState,
    final: AIMessage,
    attempts: Sequence[Attempt],
) -> AIMessage:
    """``final`` with its ``outcome_id`` in ``response_metadata["smartroute"]``.

    The outcome is remembered by the learner, so that feedback on it becomes an observation.
    """
    outcome_id = state.get("outcome_id")
    embedding = state.get("embedding")
    if not learning_on(learner, context) or not outcome_id or embedding is None:
        return final
    assert learner is not None
    meta = dict(final.response_metadata.get("smartroute") or {})
    model = str(meta.get("model") or "")
    attempt = next((a for a in reversed(attempts) if a.ok and a.model == model), None)
    classification = state.get("classification")
    if model:
        learner.remember(
            outcome_id,
            PendingOutcome(
                embedding=np.asarray(embedding, dtype=np.float32),
                model=model,
                cost_usd=attempt.cost_usd if attempt else None,
                latency_ms=attempt.latency_ms if attempt else None,
                domain=classification.domain if classification else None,
                complexity=classification.complexity if classification else None,
            ),
        )
    meta["outcome_id"] = outcome_id
    metadata = {**final.response_metadata, "smartroute": meta}
    return final.model_copy(update={"response_metadata": metadata})


def embedder_for(classifier: Classifier) -> Embedder:
    """What embeds queries: the router's classifier when it can (one forward pass).

    Otherwise the encoder inside it (a cascade's first stage, an LLM classifier's fallback), else
    the packaged encoder.
    """
    for candidate in (
        classifier,
        getattr(classifier, "first", None),
        getattr(classifier, "fallback", None),
    ):
        if hasattr(candidate, "classify_with_embeddings"):
            if getattr(candidate, "embedding_dim", 0) is None:
                raise ConfigError(
                    f"classifier {getattr(candidate, 'name', candidate)!r} exports no sentence "
                    "embedding, which learning needs: add it with python "
                    "tools/add_embedding_outputs.py FOLDER, or use the packaged encoder"
                )
            return cast(Embedder, candidate)
    return cast(Embedder, load_classifier("encoder"))
