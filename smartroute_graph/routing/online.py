"""Learning online: the learned policy over a live outcome store, kept off the request path.

:class:`OnlineLearner` is what a router with ``outcome_store=...`` holds. It

- opens the store and loads the :class:`~.learned.LearnedPolicy` in a background thread (the
  first load of a big store takes seconds: until it is ready, :meth:`OnlineLearner.decide`
  answers "the prior decides" at once), reads what other processes wrote every ``refresh_s``
  there, and refits the estimator's settings there when the store has grown by half;
- decides (:meth:`OnlineLearner.decide`) in well under a millisecond, never raising: a store
  that cannot be opened or read (corrupt, unreachable) makes a decision whose ``model`` is None
  and whose reason says so, and the background retries every ``retry_s``;
- records observations (:meth:`OnlineLearner.observe`, e.g. every reviewed answer) and reads
  them before its next decision, so what this process learnt is used at once; called from a
  running event loop (an async graph run) it hands the write to its thread instead, so the
  loop never waits on the store;
- remembers each answer under an outcome id (:meth:`OnlineLearner.remember`: a bounded map in
  memory and the store's pending table), so :meth:`OnlineLearner.feedback` can turn a later
  score into an observation, in this process or another one sharing the store.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from smartroute_graph.core.errors import InputError, OutcomeStoreError
from smartroute_graph.routing.learned import (
    LearnedDecision,
    LearnedPolicy,
    LearnedSettings,
    Prediction,
)
from smartroute_graph.routing.memory import OutcomeMemory
from smartroute_graph.routing.observations import Observation, PendingOutcome
from smartroute_graph.routing.operating import OperatingPoint
from smartroute_graph.routing.outcomes import OutcomeStore, redact_url

if TYPE_CHECKING:
    from smartroute_graph.classifiers.base import Classification

__all__ = ["Embedder", "OnlineLearner", "UnknownOutcomeError", "prior_decides"]

logger = logging.getLogger(__name__)

_LOCK_WAIT_S = 0.05  # a decision waits at most this long for the background's brief work
_LOOP_LOCK_WAIT_S = 0.005  # ... and this long inside an event loop


class Embedder(Protocol):
    """What embeds queries for learning.

    The packaged encoder (:class:`~smartroute_graph.classifiers.encoder.EncoderClassifier`) or any
    classifier that also returns sentence embeddings.
    """

    name: str

    def classify_with_embeddings(
        self, texts: Sequence[str]
    ) -> tuple[list[Classification], np.ndarray]:
        """Classify each text and embed it (unit rows), from one forward pass."""
        ...


class UnknownOutcomeError(InputError, KeyError):
    """Feedback names an outcome id this router does not remember; HTTP 404.

    Either it was never answered here, learning was off, or the answer is older than the pending
    time-to-live.
    """

    http_status = 404

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def prior_decides(reason: str, point: OperatingPoint | None = None) -> LearnedDecision:
    """A learned decision that leaves the prior in charge, saying why (``reason``)."""
    empty = Prediction(estimates={}, evidence=0.0, neighbours=0, nearest=math.nan)
    return LearnedDecision(None, reason, empty, point or OperatingPoint())


class OnlineLearner:
    """The learned policy over an outcome store, loaded and refreshed in the background.

    Args:
        store: an open :class:`~.outcomes.OutcomeStore`, or a URL/path for
            :func:`~.stores.open_outcome_store` (opened in the background).
        embedder: what embeds queries (the graph asks it for classifications with
            embeddings); its ``name`` (e.g. ``encoder:accurate``) is the store's embedding,
            and a store made with another one is refused. None: the learner decides from
            embeddings given to it and the store accepts any.
        settings: the estimator's knobs; refitted from the store when ``settings.tune``.
        operating_point: the default knob of :meth:`decide`.
        refresh_s: how often the background reads what other processes wrote.
        retry_s: after a store failure, how long before the store is tried again.
        pending_size: answers remembered in memory for feedback (the oldest go first).
        pending_ttl_s: how long the store keeps an answer waiting for feedback.
    """

    def __init__(
        self,
        store: OutcomeStore | str | Path,
        *,
        embedder: Embedder | None = None,
        settings: LearnedSettings | None = None,
        operating_point: OperatingPoint | None = None,
        refresh_s: float = 1.0,
        retry_s: float = 30.0,
        pending_size: int = 10_000,
        pending_ttl_s: float = 7 * 86_400.0,
    ) -> None:
        self._url = store if not isinstance(store, OutcomeStore) else None
        self._store = store if isinstance(store, OutcomeStore) else None
        self.embedder = embedder
        self.settings = settings or LearnedSettings()
        self.operating_point = operating_point or OperatingPoint()
        self.refresh_s = refresh_s
        self.retry_s = retry_s
        self.pending_size = max(0, pending_size)
        self.pending_ttl_s = pending_ttl_s
        self.dropped = 0
        """Observations and pending answers not written because the store failed."""
        self._policy: LearnedPolicy | None = None
        self._error: str | None = None
        self._failed_at = -math.inf
        self._dirty = False
        self._fitting = False
        self._pending: OrderedDict[str, PendingOutcome] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._requested = 0
        self._served = 0
        self._force_fit = False
        self._writes: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="smartroute-learner", daemon=True)
        self._thread.start()

    # -- state --------------------------------------------------------------------------------
    @property
    def store(self) -> OutcomeStore | None:
        """The store once open (None while it is being opened or cannot be)."""
        return self._store

    @property
    def url(self) -> str | None:
        """The store's URL (``None`` for a store given as an object not yet known)."""
        if self._store is not None:
            return self._store.url
        return None if self._url is None else str(self._url)

    @property
    def ready(self) -> bool:
        """Whether the learned policy is loaded (decisions can use it)."""
        return self._policy is not None

    @property
    def error(self) -> str | None:
        """The last store failure's message, until the store works again."""
        return self._error

    @property
    def policy(self) -> LearnedPolicy | None:
        """The loaded learned policy (None until ready)."""
        return self._policy

    def _where(self) -> str:
        if self._store is not None:
            return redact_url(self._store.url)
        return redact_url(str(self._url))

    # -- deciding ----------------------------------------------------------------------------
    def decide(
        self,
        embedding: np.ndarray,
        *,
        prior: Classification | None = None,
        candidates: Sequence[str] | None = None,
        costs: Mapping[str, float] | None = None,
        operating_point: OperatingPoint | None = None,
    ) -> LearnedDecision:
        """The learned decision for one query (see :meth:`.LearnedPolicy.decide`); never raises.

        While the policy loads, or when the store fails, its ``model`` is None and its reason says
        why the prior decides. Inside an event loop it reads nothing from the store (the learner's
        thread does) and waits for the thread's work at most 5 ms.
        """
        point = operating_point or self.operating_point
        in_loop = _in_event_loop()
        if not self._lock.acquire(timeout=_LOOP_LOCK_WAIT_S if in_loop else _LOCK_WAIT_S):
            return prior_decides(
                "learned: the outcome store is being read; the prior decides", point
            )
        try:
            policy = self._policy
            if self._error or policy is None:
                why = (
                    f"outcome store unavailable ({self._error})"
                    if self._error
                    else "loading the outcome store (in the background)"
                )
                return prior_decides(f"learned: {why}; the prior decides", point)
            if self._dirty and not self._fitting and not in_loop:
                # (in an event loop the writes, and the reads after them, are the thread's)
                policy.memory.refresh()
                self._dirty = False
            return policy.decide(
                np.asarray(embedding, dtype=np.float32),
                prior=prior,
                candidates=candidates,
                costs=costs,
                operating_point=point,
            )
        except OutcomeStoreError as exc:
            self._failed(exc)
            return prior_decides(
                f"learned: outcome store unavailable ({exc}); the prior decides", point
            )
        finally:
            self._lock.release()

    # -- recording ---------------------------------------------------------------------------
    def observe(self, observations: Sequence[Observation]) -> int:
        """Write observations to the store; returns how many were written or queued.

        They are queued for the learner's thread when called from a running event loop. Returns 0
        when the store is unavailable: they are counted in :attr:`dropped` and logged, never raised.
        """
        if not observations:
            return 0
        if _in_event_loop():
            batch = list(observations)
            self._later(lambda: self.observe_now(batch))
            return len(batch)
        return self.observe_now(observations)

    def observe_now(self, observations: Sequence[Observation]) -> int:
        """:meth:`observe` in the caller's thread, event loop or not."""
        if not observations:
            return 0
        store = self._usable_store()
        if store is None:
            self.dropped += len(observations)
            return 0
        try:
            written = store.add(observations)
        except OutcomeStoreError as exc:
            self._failed(exc)
            self.dropped += len(observations)
            return 0
        self._dirty = True
        self._wake.set()
        return written

    def remember(self, outcome_id: str, pending: PendingOutcome) -> None:
        """Remember an answer for feedback under ``outcome_id`` (memory and the store)."""
        if self.pending_size:
            with self._lock:
                self._pending[outcome_id] = pending
                self._pending.move_to_end(outcome_id)
                while len(self._pending) > self.pending_size:
                    self._pending.popitem(last=False)
        if _in_event_loop():
            self._later(lambda: self._persist_pending(outcome_id, pending))
        else:
            self._persist_pending(outcome_id, pending)

    def _persist_pending(self, outcome_id: str, pending: PendingOutcome) -> None:
        store = self._usable_store()
        if store is None:
            self.dropped += 1
            return
        try:
            store.add_pending(outcome_id, pending, ttl_s=self.pending_ttl_s)
        except OutcomeStoreError as exc:
            self._failed(exc)
            self.dropped += 1

    def feedback(
        self,
        outcome_id: str,
        score: float,
        *,
        model: str | None = None,
        source: str = "feedback",
    ) -> Observation:
        """Turn a score for a remembered answer into an observation and store it.

        Args:
            outcome_id: the answer's ``response_metadata["smartroute"]["outcome_id"]`` (the
                run id the caller gave, else one the router made).
            score: how good the answer was, in [0, 1].
            model: the model the score is about (default: the one that answered).
            source: the observation's source.

        Raises:
            ValueError: ``score`` is outside [0, 1].
            UnknownOutcomeError: no answer is remembered under ``outcome_id``.
            OutcomeStoreError: the store cannot be read or written.
        """
        if not (isinstance(score, int | float) and 0.0 <= float(score) <= 1.0):
            raise ValueError(f"score must lie in [0, 1], got {score!r}")
        with self._lock:
            pending = self._pending.get(outcome_id)
        store = self._store
        if pending is None and store is not None:
            pending = store.pending(outcome_id)
        if pending is None:
            raise UnknownOutcomeError(
                f"no answer is remembered under outcome id {outcome_id!r}: give the id from "
                "response_metadata['smartroute']['outcome_id'] of an answer this router (or "
                "another sharing its outcome store) gave with learning on, within "
                f"{self.pending_ttl_s / 86_400:g} days"
            )
        observation = pending.observation(score, model=model, source=source, run_id=outcome_id)
        if store is None:
            raise OutcomeStoreError(f"outcome store {self._where()} is not open ({self._error})")
        store.add([observation])
        self._dirty = True
        self._wake.set()
        return observation

    # -- background ----------------------------------------------------------------------------
    def sync(self, timeout_s: float | None = 60.0) -> bool:
        """Have the background read the store and refit the settings now, and wait for it.

        Returns whether it finished within ``timeout_s`` (scripts and tests use it to make what they
        measure not depend on timing).
        """
        with self._cond:
            self._requested += 1
            wanted = self._requested
            self._force_fit = True
        self._wake.set()
        with self._cond:
            return self._cond.wait_for(lambda: self._served >= wanted, timeout=timeout_s)

    def close(self) -> None:
        """Stop the background thread (after the writes it was handed).

        A store this learner opened is closed too.
        """
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        if self._store is not None:
            self._drain()
        if self._url is not None and self._store is not None:
            self._store.close()

    def _later(self, write: Callable[[], object]) -> None:
        self._writes.put(write)
        self._wake.set()

    def _drain(self) -> None:
        while True:
            try:
                write = self._writes.get_nowait()
            except queue.Empty:
                return
            write()

    def _usable_store(self) -> OutcomeStore | None:
        if self._store is None or time.monotonic() - self._failed_at < self.retry_s:
            return None
        return self._store

    def _failed(self, exc: Exception) -> None:
        message = str(exc)
        if message != self._error:
            logger.warning("outcome store %s: %s; routing uses the prior", self._where(), message)
        self._error = message
        self._failed_at = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._cond:
                wanted, force = self._requested, self._force_fit
                self._force_fit = False
            wait = self.refresh_s
            try:
                if self._store is not None:
                    self._drain()
                self._step(force)
            except OutcomeStoreError as exc:
                self._failed(exc)
                wait = self.retry_s
            except Exception as exc:  # never let the thread die: routing uses the prior
                logger.exception("the outcome learner failed; retrying in %g s", self.retry_s)
                self._failed(exc)
                wait = self.retry_s
            with self._cond:
                self._served = max(self._served, wanted)
                self._cond.notify_all()
            self._wake.wait(wait)

    def _step(self, force_fit: bool) -> None:
        if self._store is None:
            from smartroute_graph.routing.stores import open_outcome_store

            name = self.embedder.name if self.embedder is not None else None
            self._store = open_outcome_store(str(self._url), embedder=name)
        policy = self._policy
        if policy is None:
            # Loaded and fitted before anyone sees it: decisions never wait for this.
            policy = LearnedPolicy(
                OutcomeMemory.from_store(self._store),
                settings=replace(self.settings, tune=False),
                operating_point=self.operating_point,
                refresh_s=math.inf,
            )
            if self.settings.tune:
                policy.fit()
            with self._lock:
                self._policy, self._dirty = policy, False
                self._error, self._failed_at = None, -math.inf
            return
        with self._lock:
            policy.memory.refresh()
            self._dirty = False
            self._error, self._failed_at = None, -math.inf
            due = policy.memory.n_queries >= 1.5 * policy.tuned_at
            if not (self.settings.tune and (due or force_fit)):
                return
            self._fitting = True
        try:
            policy.fit()  # reads only; the memory changes in this thread alone meanwhile
        finally:
            with self._lock:
                self._fitting = False


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
