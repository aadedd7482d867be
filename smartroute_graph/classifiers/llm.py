"""The LLM classifier: a chat model labels each query through ``with_structured_output``.

Any chat model that supports ``with_structured_output`` can be the classifier; by default
it is ``gpt-4.1-nano`` at temperature 0, built on first use, as the first older system
routed. Routing must not fail because the classifier is unavailable: a timeout, an API
error, a missing key or an answer that is not a valid label falls back to another
classifier (the package default unless given), and the classification says so in
``backend`` and ``note``.

The classifier's own LLM calls carry LangGraph's ``"nostream"`` tag, so they never reach a
router's token stream (``stream_mode="messages"``), and the run name
``"smartroute_classifier"`` in traces.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import math
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.constants import TAG_NOSTREAM
from pydantic import BaseModel, Field, field_validator

from smartroute_graph.classifiers.base import Classification, Classifier, ClassifierUsage
from smartroute_graph.classifiers.cache import DecisionCache
from smartroute_graph.core.catalog import preset_catalog
from smartroute_graph.core.errors import ConfigError, MissingAPIKeyError
from smartroute_graph.core.prompts import (
    CLASSIFIER_QUERY_TEMPLATE,
    CLASSIFIER_SYSTEM_PROMPT,
    CLASSIFIER_TRUNCATION_NOTE,
)
from smartroute_graph.core.providers import API_KEY_ENV, ModelProvider, redact_secrets
from smartroute_graph.core.taxonomy import (
    COMPLEXITIES,
    DOMAINS,
    Complexity,
    Domain,
    complexity_score,
)

__all__ = [
    "CLASSIFIER_RUN_NAME",
    "DEFAULT_LLM_CLASSIFIER_MODEL",
    "LLMClassifier",
    "QueryLabel",
    "label_to_classification",
]

logger = logging.getLogger(__name__)

DEFAULT_LLM_CLASSIFIER_MODEL = "gpt-4.1-nano"
CLASSIFIER_RUN_NAME = "smartroute_classifier"
_MAX_RATIONALE_WORDS = 30
_MAX_ERROR_CHARS = 200
# A JSON label with a 30-word rationale is ~70 tokens; the cap bounds a rambling answer.
_MAX_ANSWER_TOKENS = 200

# Sync calls run here so that a deadline can be enforced on them; a call past its deadline
# is abandoned, not killed, and ends at the model's own timeout.
_executor = concurrent.futures.ThreadPoolExecutor(
    max_workers=32, thread_name_prefix="smartroute-llm-classifier"
)


class QueryLabel(BaseModel):
    """Routing label of one query."""

    domain: Domain = Field(description="What the user mainly wants.")
    complexity: Complexity = Field(description="Difficulty within that domain.")
    confidence: float = Field(description="Probability that the domain is right, 0 to 1.")
    complexity_confidence: float = Field(
        description="Probability that the complexity is right, 0 to 1."
    )
    rationale: str = Field(description="Why, in at most 30 words.")

    # Checked after parsing rather than declared as bounds in the schema: OpenAI's strict
    # JSON schema mode has not always accepted minimum/maximum, and a bad value must make
    # the answer invalid (so the classifier falls back) rather than be silently clamped.
    @field_validator("confidence", "complexity_confidence")
    @classmethod
    def _probability(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"must be between 0 and 1, got {value}")
        return value

    @field_validator("rationale")
    @classmethod
    def _short(cls, value: str) -> str:
        # A long rationale is still a valid label; keep the note readable.
        words = value.split()
        if len(words) > _MAX_RATIONALE_WORDS:
            return " ".join(words[:_MAX_RATIONALE_WORDS]) + " …"
        return " ".join(words)


def _peaked(labels: Sequence[str], chosen: str, p: float) -> dict[str, float]:
    # The chosen label keeps at least an even share, so it stays the most likely one even
    # when the model reports less confidence than an even split would give it.
    top = max(p, 1.0 / len(labels))
    rest = (1.0 - top) / (len(labels) - 1)
    return {label: top if label == chosen else rest for label in labels}


def label_to_classification(label: QueryLabel, *, backend: str = "llm") -> Classification:
    """Map the model's label to a :class:`Classification`.

    The chosen domain gets ``confidence`` and the other domains share the rest evenly;
    complexity likewise with ``complexity_confidence``. Only the chosen domain's
    complexity is known, so ``complexity_by_domain`` holds that one row (forcing another
    domain keeps the model's complexity). The rationale becomes ``note``.
    """
    domain_probs = _peaked(DOMAINS, label.domain, label.confidence)
    complexity_probs = _peaked(COMPLEXITIES, label.complexity, label.complexity_confidence)
    return Classification(
        domain=label.domain,
        domain_probs=domain_probs,
        complexity=label.complexity,
        complexity_probs=complexity_probs,
        complexity_score=complexity_score(complexity_probs),
        confidence=domain_probs[label.domain] * complexity_probs[label.complexity],
        complexity_by_domain={label.domain: complexity_probs},
        backend=backend,
        note=label.rationale or None,
    )


def _describe(exc: BaseException) -> str:
    """``Type: message`` on one line, short, with secrets removed."""
    message = re.sub(r"\s+", " ", redact_secrets(str(exc))).strip()
    if len(message) > _MAX_ERROR_CHARS:
        message = message[: _MAX_ERROR_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# (label or why there is none, tokens the call spent) and (error, tokens spent).
_Outcome = tuple[QueryLabel | BaseException, tuple[ClassifierUsage, ...]]
_Failure = tuple[BaseException, tuple[ClassifierUsage, ...]]


class LLMClassifier:
    """Classifies queries by asking a chat model for a structured label.

    >>> from smartroute_graph import SmartRouter
    >>> from smartroute_graph.classifiers.llm import LLMClassifier
    >>> router = SmartRouter.from_preset("openai", classifier=LLMClassifier())  # doctest: +SKIP

    Args:
        model: any chat model that supports ``with_structured_output``. ``None``: OpenAI
            ``gpt-4.1-nano`` at temperature 0, built on first use with the key from
            ``OPENAI_API_KEY`` (no key: every query falls back, with a note saying so).
        fallback: the classifier used when the model fails, times out or gives an
            invalid label; default: the package's default classifier, loaded on first need.
        timeout_s: seconds allowed for one answer; the built model gets it as its own
            timeout, and it is also enforced here (a batch gets one ``timeout_s`` per
            ``max_concurrency`` queries).
        max_concurrency: most model calls in flight for one ``classify`` batch.
        cache_size: how many successful decisions to remember (LRU by text); 0: none.
        max_chars: longer queries are sent as their head and tail with a note of how
            much was left out (the classifier needs the gist, not every character).
    """

    name = "llm"

    def __init__(
        self,
        model: BaseChatModel | None = None,
        *,
        fallback: Classifier | None = None,
        timeout_s: float = 5.0,
        max_concurrency: int = 8,
        cache_size: int = 1024,
        max_chars: int = 8_000,
    ) -> None:
        if not timeout_s > 0:
            raise ConfigError(f"timeout_s must be a positive number of seconds, got {timeout_s}")
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if cache_size < 0:
            raise ConfigError(f"cache_size must be 0 (no cache) or more, got {cache_size}")
        if max_chars < 100:
            raise ConfigError(f"max_chars must be at least 100, got {max_chars}")
        self.timeout_s = float(timeout_s)
        self.max_concurrency = max_concurrency
        self.max_chars = max_chars
        self._model = model
        self._fallback = fallback
        self._cache: DecisionCache[Classification] = DecisionCache(cache_size)
        self._lock = threading.Lock()
        self._structured: Runnable[Any, Any] | None = None
        self._warned_missing_key = False
        if model is not None:
            # A model that cannot give structured output is a configuration mistake: say so
            # now, not as a fallback on every query.
            self._structured = self._structure(model)

    # -- the model -------------------------------------------------------------------------

    def get_model(self) -> BaseChatModel:
        """The classifier's chat model, building the default one on first use.

        Raises:
            MissingAPIKeyError: no model was given and ``OPENAI_API_KEY`` is not set.
        """
        with self._lock:
            if self._model is None:
                self._model = self._build_default_model()
            return self._model

    def _build_default_model(self) -> BaseChatModel:
        # The one model factory builds it (key resolution, timeout, retries); the classifier
        # only pins what a label needs: no sampling, a short answer.
        spec = preset_catalog("openai")[DEFAULT_LLM_CLASSIFIER_MODEL]
        try:
            model = ModelProvider(timeout_s=self.timeout_s).get(spec)
        except MissingAPIKeyError:
            raise MissingAPIKeyError(
                f"the LLM classifier asks OpenAI {DEFAULT_LLM_CLASSIFIER_MODEL} and no API key "
                f"was found: set {API_KEY_ENV['openai']}, or pass "
                "LLMClassifier(model=<any chat model with with_structured_output>)"
            ) from None
        return model.model_copy(update={"temperature": 0, "max_tokens": _MAX_ANSWER_TOKENS})

    @staticmethod
    def _structure(model: BaseChatModel) -> Runnable[Any, Any]:
        try:
            # include_raw: the raw message carries the token usage the decision cost.
            try:
                return model.with_structured_output(QueryLabel, include_raw=True)
            except TypeError:  # a custom model without include_raw: no usage, same labels
                return model.with_structured_output(QueryLabel)
        except NotImplementedError as exc:
            raise ConfigError(
                f"LLMClassifier needs a chat model that supports with_structured_output; "
                f"{type(model).__name__} does not ({exc})"
            ) from None

    def _structured_model(self) -> Runnable[Any, Any]:
        if self._structured is None:
            model = self.get_model()
            with self._lock:
                if self._structured is None:
                    self._structured = self._structure(model)
        return self._structured

    @property
    def fallback(self) -> Classifier:
        """The classifier that answers when the model cannot."""
        if self._fallback is None:
            # The packaged encoder: offline, no key, so it cannot fail the way the model did.
            from smartroute_graph.classifiers.encoder import EncoderClassifier

            self._fallback = EncoderClassifier()
        return self._fallback

    def cache_clear(self) -> None:
        """Forget every remembered decision."""
        self._cache.clear()

    # -- requests ----------------------------------------------------------------------------

    def _messages(self, text: str) -> list[BaseMessage]:
        if len(text) > self.max_chars:
            head = self.max_chars * 3 // 4
            tail = self.max_chars - head
            omitted = len(text) - head - tail
            note = CLASSIFIER_TRUNCATION_NOTE.format(omitted=omitted)
            text = text[:head] + note + text[-tail:]
        # The query cannot close its own delimiter and smuggle text outside it.
        text = text.replace("</query>", "</ query>")
        return [
            SystemMessage(content=CLASSIFIER_SYSTEM_PROMPT),
            HumanMessage(content=CLASSIFIER_QUERY_TEMPLATE.format(query=text)),
        ]

    def _run_config(self) -> RunnableConfig:
        return {
            # Keeps the classifier's tokens out of a router's stream_mode="messages".
            "tags": [TAG_NOSTREAM],
            "run_name": CLASSIFIER_RUN_NAME,
            "max_concurrency": self.max_concurrency,
        }

    def _deadline(self, n: int) -> float:
        return self.timeout_s * math.ceil(n / self.max_concurrency)

    def _timeout_error(self) -> TimeoutError:
        return TimeoutError(f"no answer within {self.timeout_s:g} s")

    def _model_name(self) -> str:
        model = self._model
        name = getattr(model, "model_name", None) or getattr(model, "model", None)
        return str(name) if name else type(model).__name__

    def _outcome(self, out: object) -> _Outcome:
        """The label (or why there is none) and the tokens the call spent."""
        if isinstance(out, Mapping) and "raw" in out:
            usage = getattr(out.get("raw"), "usage_metadata", None)
            spent = (
                (
                    ClassifierUsage(
                        model=self._model_name(),
                        input_tokens=usage["input_tokens"],
                        output_tokens=usage["output_tokens"],
                    ),
                )
                if usage
                else ()
            )
            parsed = out.get("parsed")
            if parsed is None and out.get("parsing_error") is not None:
                error = out["parsing_error"]
                return (error if isinstance(error, BaseException) else ValueError(error)), spent
            return self._as_label(parsed), spent
        return self._as_label(out), ()

    @staticmethod
    def _as_label(outcome: object) -> QueryLabel | BaseException:
        if isinstance(outcome, BaseException | QueryLabel):
            return outcome
        if outcome is None:
            return ValueError("the model's answer held no label")
        try:
            # A model whose structured output is a dict (or another object) is checked here.
            return QueryLabel.model_validate(
                outcome.model_dump() if isinstance(outcome, BaseModel) else outcome
            )
        except Exception as exc:
            return exc

    def _call(self, texts: list[str]) -> list[_Outcome]:
        try:
            structured = self._structured_model()
        except MissingAPIKeyError as exc:
            return [(exc, ())] * len(texts)
        inputs = [self._messages(t) for t in texts]
        config = self._run_config()
        answers: dict[int, object] = {}
        answers_lock = threading.Lock()

        def run() -> None:
            for index, out in structured.batch_as_completed(inputs, config, return_exceptions=True):
                with answers_lock:
                    answers[index] = out

        # Copying the context keeps the caller's callbacks and trace parent (and so the
        # graph's stream handler, which the "nostream" tag then tells to skip these calls).
        future = _executor.submit(contextvars.copy_context().run, run)
        failure: BaseException = self._timeout_error()
        try:
            future.result(timeout=self._deadline(len(inputs)))
        except TimeoutError:
            pass
        except Exception as exc:  # batch_as_completed itself failed (not one call)
            failure = exc
        with answers_lock:
            got = dict(answers)
        return [self._outcome(got[i]) if i in got else (failure, ()) for i in range(len(texts))]

    async def _acall(self, texts: list[str]) -> list[_Outcome]:
        try:
            structured = self._structured_model()
        except MissingAPIKeyError as exc:
            return [(exc, ())] * len(texts)
        config = self._run_config()
        # Per-query deadlines with real cancellation: what abatch does, plus wait_for.
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def one(text: str) -> _Outcome:
            async with semaphore:
                try:
                    out = await asyncio.wait_for(
                        structured.ainvoke(self._messages(text), config), self.timeout_s
                    )
                except TimeoutError:
                    return self._timeout_error(), ()
                except Exception as exc:
                    return exc, ()
            return self._outcome(out)

        return list(await asyncio.gather(*(one(t) for t in texts)))

    # -- the Classifier protocol ----------------------------------------------------------

    def _start(
        self, texts: Sequence[str]
    ) -> tuple[list[str], dict[str, Classification], list[str]]:
        """The texts, their cached decisions, and the distinct texts still to ask about."""
        known: dict[str, Classification] = {}
        todo: dict[str, None] = {}
        for text in texts:
            if text in known or text in todo:
                continue  # the same text twice in one batch is asked once
            cached = self._cache.get(text)
            if cached is not None:
                known[text] = cached
            else:
                todo[text] = None
        return list(texts), known, list(todo)

    def _accept(
        self, texts: list[str], outcomes: list[_Outcome]
    ) -> tuple[dict[str, Classification], list[str], list[_Failure]]:
        """Decisions from valid labels, and the failed texts with why and what their calls spent.

        Decisions are cached without their usage: a cache hit spends nothing.
        """
        decided: dict[str, Classification] = {}
        failed: list[str] = []
        errors: list[_Failure] = []
        for text, (outcome, usage) in zip(texts, outcomes, strict=True):
            if isinstance(outcome, QueryLabel):
                decision = label_to_classification(outcome, backend=self.name)
                self._cache.put(text, decision)
                decided[text] = decision.model_copy(update={"usage": usage})
            else:
                failed.append(text)
                errors.append((outcome, usage))
        return decided, failed, errors

    def _fell_back(
        self, failures: list[_Failure], fallbacks: list[Classification]
    ) -> list[Classification]:
        out = []
        errors = [error for error, _ in failures]
        for (error, usage), c in zip(failures, fallbacks, strict=True):
            note = f"llm classifier failed ({_describe(error)}); fell back to {c.backend}"
            if c.note:
                note = f"{note}; {c.note}"
            # The failed call's tokens, then whatever the fallback itself spent.
            update = {
                "backend": f"{self.name}→{c.backend}",
                "note": note,
                "usage": (*usage, *c.usage),
            }
            out.append(c.model_copy(update=update))
        if errors:
            # A missing key fails every query the same way: say it once, not per query.
            missing_key = all(isinstance(e, MissingAPIKeyError) for e in errors)
            level = logging.DEBUG if missing_key and self._warned_missing_key else logging.WARNING
            self._warned_missing_key = self._warned_missing_key or missing_key
            logger.log(
                level,
                "llm classifier failed for %d quer%s (%s); fell back to %s",
                len(errors),
                "y" if len(errors) == 1 else "ies",
                _describe(errors[0]),
                fallbacks[0].backend,
            )
        return out

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """Classify each text (in order), asking the model for texts not in the cache."""
        texts = list(texts)
        keys, known, todo = self._start(texts)
        if todo:
            decided, failed, errors = self._accept(todo, self._call(todo))
            known.update(decided)
            if failed:
                fallbacks = self._fell_back(errors, self.fallback.classify(failed))
                known.update(zip(failed, fallbacks, strict=True))
        return [known[key] for key in keys]

    async def aclassify(self, texts: Sequence[str]) -> list[Classification]:
        """Async :meth:`classify`: per-query deadlines, the event loop never blocked on the model.

        A sync-only fallback classifier runs inline: rules and encoder are CPU-light.
        """
        texts = list(texts)
        keys, known, todo = self._start(texts)
        if todo:
            decided, failed, errors = self._accept(todo, await self._acall(todo))
            known.update(decided)
            if failed:
                fallback = self.fallback
                afallback = getattr(fallback, "aclassify", None)
                results = (
                    await afallback(failed) if afallback is not None else fallback.classify(failed)
                )
                fallbacks = self._fell_back(errors, results)
                known.update(zip(failed, fallbacks, strict=True))
        return [known[key] for key in keys]

    def __repr__(self) -> str:
        model = type(self._model).__name__ if self._model is not None else "ChatOpenAI (lazy)"
        return (
            f"LLMClassifier(model={model}, timeout_s={self.timeout_s:g}, "
            f"max_concurrency={self.max_concurrency})"
        )
