"""What the outcome store keeps: an :class:`Observation` and a :class:`PendingOutcome`.

An observation is how well a model answered a query; a pending outcome is an answer still waiting
for its feedback score.

Both are re-exported by :mod:`smartroute_graph.routing.outcomes`, the store's module.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Observation", "PendingOutcome", "hash_text"]


def hash_text(text: str) -> str:
    """The key a query's text is stored under (SHA-256, 32 hex digits; the text is not kept)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Observation:
    """One outcome: how well ``model`` answered the query whose embedding is ``embedding``.

    Attributes:
        embedding: the query's sentence embedding (1-D; stored as float16).
        model: the catalog name of the model that answered.
        score: answer quality in [0, 1] (1 = as good as it gets).
        cost_usd: what the answer cost, when known.
        latency_ms: how long the answer took, when known.
        source: where the observation came from (``table``, ``langsmith``, ``feedback``,
            ``review``, ...); the store can be summarised and reset per source.
        time: when it was observed (Unix seconds).
        text_hash: :func:`hash_text` of the query text: observations of the same text share one
            query row (by default the key is a hash of the embedding).
        run_id: the run that produced the answer (LangSmith run id, request id), if any.
        domain: the prior's domain for the query (groups outcomes by cell).
        complexity: the prior's complexity level for the query.

    Raises:
        ValueError: a field is out of range (score outside [0, 1], empty model, non-finite
            embedding, negative cost or latency).
    """

    embedding: np.ndarray = field(repr=False)  # hundreds of floats: left out of repr
    model: str
    score: float
    cost_usd: float | None = None
    latency_ms: float | None = None
    source: str = "online"
    time: float = field(default_factory=time.time)
    text_hash: str | None = None
    run_id: str | None = None
    domain: str | None = None
    complexity: str | None = None

    def __post_init__(self) -> None:
        vector = np.ascontiguousarray(np.asarray(self.embedding, dtype=np.float32).reshape(-1))
        if vector.size == 0 or not np.all(np.isfinite(vector)):
            raise ValueError("an observation's embedding must be a non-empty finite vector")
        vector.setflags(write=False)
        object.__setattr__(self, "embedding", vector)
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("an observation needs the model's name")
        score = float(self.score)
        if not (0.0 <= score <= 1.0):
            raise ValueError(f"score must lie in [0, 1], got {self.score!r}")
        object.__setattr__(self, "score", score)
        for name in ("cost_usd", "latency_ms"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(float(value)) and float(value) >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not self.source:
            raise ValueError("an observation needs a source")

    @property
    def key(self) -> str:
        """The query row this observation belongs to: the text hash, else an embedding hash."""
        if self.text_hash:
            return self.text_hash
        blob = self.embedding.astype(np.float16).tobytes()
        return "e:" + hashlib.sha256(blob).hexdigest()[:32]


@dataclass(frozen=True)
class PendingOutcome:
    """An answer that may still receive feedback: an :class:`Observation` without its score.

    Attributes:
        embedding: the query's sentence embedding.
        model: the model that answered.
        cost_usd: what the answer cost, when known.
        latency_ms: how long it took, when known.
        domain: the prior's domain for the query.
        complexity: the prior's complexity level.
        time: when the answer was given (Unix seconds).
    """

    embedding: np.ndarray
    model: str
    cost_usd: float | None = None
    latency_ms: float | None = None
    domain: str | None = None
    complexity: str | None = None
    time: float = field(default_factory=time.time)

    def observation(
        self, score: float, *, model: str | None = None, source: str = "feedback", run_id: str
    ) -> Observation:
        """The observation this answer's feedback makes.

        ``model`` overrides the answering model, e.g. feedback on another model's answer to the same
        query.

        Raises:
            ValueError: ``score`` is outside [0, 1] (see :class:`Observation`).
        """
        same = model is None or model == self.model
        return Observation(
            embedding=self.embedding,
            model=model or self.model,
            score=score,
            cost_usd=self.cost_usd if same else None,
            latency_ms=self.latency_ms if same else None,
            source=source,
            run_id=run_id,
            domain=self.domain,
            complexity=self.complexity,
        )
