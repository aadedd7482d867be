"""``smartroute learn --langsmith-project NAME``: the router's runs and feedback as observations.

The router's runs are the root runs of a LangSmith project tagged ``smartroute`` (the graph
tags its run, :mod:`smartroute_graph.graph.tracing`). For each run with feedback (of
``--feedback-key`` when given), the query text is read from the run's inputs (``query``, or the
conversation in ``messages``, as the router classifies it), embedded and classified with the
packaged encoder (one forward pass), and each feedback score in [0, 1] becomes one observation
(source ``langsmith``) of the model that answered (the run's ``smartroute_model`` metadata),
with the run's cost and latency. Booleans count as 1 and 0; other scores are skipped and
counted. Reads go through ``langsmith.Client`` (``list_runs``, ``list_feedback``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from smartroute_graph.core.inputs import classification_text
from smartroute_graph.routing.observations import Observation, hash_text

__all__ = ["load_langsmith", "run_text"]

_FEEDBACK_BATCH = 100


def run_text(inputs: Mapping[str, Any] | None) -> str | None:
    """The text the router classified for a run's inputs, or None.

    Read from ``query``, or the conversation in ``messages``: LangChain-serialised or
    ``{"role"/"type", "content"}`` dicts.
    """
    if not inputs:
        return None
    query = inputs.get("query") or inputs.get("input") or inputs.get("prompt")
    raw = inputs.get("messages")
    if not raw and isinstance(query, str) and query.strip():
        return query.strip()
    if not isinstance(raw, list) or not raw:
        return None
    from langchain_core.load import load
    from langchain_core.messages import BaseMessage, convert_to_messages

    messages: list[BaseMessage] = []
    for item in raw:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # load() is marked beta
                # Untrusted input: only chat messages may be revived.
                lc = isinstance(item, dict) and item.get("lc")
                value = load(item, allowed_objects="messages") if lc else item
            messages.extend(convert_to_messages([value]))
        except (ValueError, TypeError, KeyError, NotImplementedError):
            continue
    text = classification_text(messages, []) if messages else ""
    return text.strip() or None


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and 0.0 <= float(value) <= 1.0:
        return float(value)
    return None


def _batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def load_langsmith(
    store: Any,
    embedder: Any,
    client: Any,
    project: str,
    *,
    feedback_key: str | None = None,
    source: str = "langsmith",
    limit: int | None = None,
) -> dict[str, int]:
    """Write the router's LangSmith runs with feedback into ``store`` as observations.

    Args:
        store: an :class:`~smartroute_graph.routing.outcomes.OutcomeStore`.
        embedder: an encoder with ``classify_with_embeddings``.
        client: a ``langsmith.Client``.
        project: the LangSmith project the router traces into.
        feedback_key: read only feedback of this key (default: every key).
        source: the observations' source.
        limit: read at most this many runs.

    Returns:
        Counts: ``runs`` read, ``feedback`` read, ``written`` observations, and ``skipped``
        feedback (no query text, no model, or a score outside [0, 1]).
    """
    with warnings.catch_warnings():
        # list_runs is deprecated in favour of client.runs.query (langsmith 0.15) but is what
        # every langsmith version this package supports has.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*list_runs.*deprecated")
        runs = {
            str(run.id): run
            for run in client.list_runs(
                project_name=project, is_root=True, filter='has(tags, "smartroute")', limit=limit
            )
        }
    counts = {"runs": len(runs), "feedback": 0, "written": 0, "skipped": 0}
    keys = [feedback_key] if feedback_key else None
    scored: list[tuple[Any, float]] = []
    for batch in _batches(list(runs), _FEEDBACK_BATCH):
        for item in client.list_feedback(run_ids=list(batch), feedback_key=keys):
            counts["feedback"] += 1
            run = runs.get(str(item.run_id))
            score = _score(item.score)
            if run is None or score is None:
                counts["skipped"] += 1
                continue
            scored.append((run, score))
    usable = []
    for run, score in scored:
        metadata = (run.extra or {}).get("metadata") or {}
        text, model = run_text(run.inputs), metadata.get("smartroute_model")
        if text and isinstance(model, str) and model:
            usable.append((run, score, text, model, metadata))
        else:
            counts["skipped"] += 1
    if not usable:
        return counts
    decisions, vectors = embedder.classify_with_embeddings([u[2] for u in usable])
    observations = []
    for (run, score, text, model, metadata), decision, vector in zip(
        usable, decisions, vectors, strict=True
    ):
        cost = metadata.get("smartroute_cost_usd")
        latency = (run.end_time - run.start_time).total_seconds() * 1000.0 if run.end_time else None
        observations.append(
            Observation(
                embedding=vector,
                model=model,
                score=score,
                cost_usd=float(cost) if isinstance(cost, int | float) and cost >= 0 else None,
                latency_ms=latency if latency is not None and latency >= 0 else None,
                source=source,
                text_hash=hash_text(text),
                run_id=str(run.id),
                domain=decision.domain,
                complexity=decision.complexity,
            )
        )
    counts["written"] = store.add(observations)
    return counts
