"""``SmartRouter``: the router graph as a LangChain Runnable (str, messages, prompt → AIMessage)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langgraph.graph.state import CompiledStateGraph
from pydantic import SecretStr

from smartroute_graph.classifiers import (
    DEFAULT_CLASSIFIER,
    Classifier,
    ClassifierRegistry,
    load_classifier,
)
from smartroute_graph.core.attachments import Attachment
from smartroute_graph.core.catalog import Catalog, ModelSpec, preset_catalog
from smartroute_graph.core.errors import ConfigError, UnknownModelError
from smartroute_graph.core.inputs import RouterInputLike, normalise_input
from smartroute_graph.core.providers import (
    API_KEYS_CONFIG_KEY,
    OWN_KEYS_ONLY_CONFIG_KEY,
    ModelProvider,
    catalog_with_models,
)
from smartroute_graph.graph.build import STREAMING_CONFIG_KEY, build_graph
from smartroute_graph.graph.call_options import (
    CALL_OPTION_NAMES,
    CALL_OPTIONS_CONFIG_KEY,
    as_chunk,
    pop_call_options,
    wants_structured_output,
)
from smartroute_graph.graph.learning import OUTCOME_ID_CONFIG_KEY, embedder_for
from smartroute_graph.graph.metadata import routing_metadata
from smartroute_graph.graph.nodes import RouterNodes
from smartroute_graph.graph.state import RouterInput, RouterOutput, RouterState
from smartroute_graph.quality.compare import ComparisonReport, Scorer, acompare
from smartroute_graph.routing.config import RouterConfig, load_config
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.observations import Observation
from smartroute_graph.routing.online import OnlineLearner, UnknownOutcomeError
from smartroute_graph.routing.operating import OperatingPoint
from smartroute_graph.routing.outcomes import OutcomeStore
from smartroute_graph.routing.policy import (
    DEFAULT_CONFIDENCE_THRESHOLD,
    DEFAULT_MAX_ATTEMPTS,
    PRESET_TABLES,
    Policy,
    RoutingDecision,
)
from smartroute_graph.routing.settings import SETTING_NAMES, validate_settings

__all__ = ["SmartRouter"]

# "updates" says when a model node returned: later tokens from it are a given-up call's.
_STREAM_MODES: list[Any] = ["messages", "updates", "values"]


class SmartRouter(Runnable[RouterInputLike, AIMessage]):
    """Routes each query to the cheapest catalog model that will answer it well.

    A LangChain ``Runnable``: use it alone or inside a chain
    (``prompt | router | StrOutputParser()``). Input: a string, messages, a ``PromptValue``
    or a dict with ``query``/``messages`` and optional ``attachments``. Output: the chosen
    model's ``AIMessage`` with ``response_metadata["smartroute"]`` (domain, complexity,
    confidences, model, reason, attempts, escalated, cost_usd) and ``usage_metadata``.

    Per-call settings are keyword arguments of ``invoke``/``stream``/…, named as the fields
    of :class:`RouterContext` (``model``, ``budget_usd``, ``dry_run``, ``preset``, …), plus
    ``api_keys`` (a ``{provider: key}`` dict, never logged or traced) and ``own_keys_only``
    (spend only those keys: never the router's own, the environment's, or a ready-made
    model's; a server sets it for every request that brings its own key).

    Args:
        catalog: the models (specs) to route among; default: the ``preset``'s catalog.
        models: chat models for catalog names (any ``BaseChatModel``, or a provider string
            such as ``"anthropic:claude-3-5-haiku-latest"`` built with ``init_chat_model``);
            a key may be a provider string naming a preset model (``"openai:gpt-4.1"``),
            and without a catalog or preset those keys are the catalog. A model's
            ``profile`` sets its entry's context window and capabilities (prices stay the
            catalog's). Entries without a model are built on first use: ``openai`` and
            ``openrouter`` with langchain-openai, other providers with ``init_chat_model``.
        preset: ``"openai"`` or ``"openrouter"``: catalog and policy table to start from.
        table: policy table ``{domain: {complexity: model}}``; overrides the preset's cells.
        classifier: a backend name or any object with ``classify(texts)``.
        api_keys: ``{provider: key}``; a call's own ``api_keys`` come first, the
            environment last.
        outcome_store: where outcomes are kept and learnt from (docs/learning.md): a SQLite
            file path or ``sqlite:///path.db``, ``postgresql://...``, or an open
            :class:`~smartroute_graph.routing.outcomes.OutcomeStore`. Opened and loaded in
            the background; the prior routes until it is ready or when it fails.
        **settings: defaults for the per-call settings, any field of :class:`RouterContext`
            by name, checked against its bounds (``budget_usd``, ``timeout_s`` (default
            60), ``review``/``review_threshold``/``judge_model`` (answer review, off by
            default), ``confidence_threshold``, ``max_attempts``, ``learn`` (default: on
            when ``outcome_store`` is given), ``quality_tolerance``/``cost_weight`` (the
            learned policy's operating point), …). An unknown name is a ``ConfigError``
            listing the valid ones.
    """

    def __init__(
        self,
        *,
        catalog: Catalog | Sequence[ModelSpec] | None = None,
        models: Mapping[str, BaseChatModel | str] | None = None,
        preset: str | None = None,
        table: Mapping[str, Mapping[str, str]] | None = None,
        classifier: Classifier | str = DEFAULT_CLASSIFIER,
        api_keys: Mapping[str, str | SecretStr] | None = None,
        outcome_store: str | Path | OutcomeStore | None = None,
        **settings: Any,
    ) -> None:
        if catalog is None and preset is None and models:
            # {"openai:gpt-4.1": ..., "anthropic:...": ...}: the strings name the catalog.
            catalog, models = catalog_with_models(None, models)
        if catalog is None and preset is None:
            raise ConfigError(
                "give a catalog of models or a preset: SmartRouter.from_preset('openai'), or "
                "SmartRouter(catalog=[ModelSpec(...)], models={...})"
            )
        resolved = (
            catalog
            if isinstance(catalog, Catalog)
            else Catalog(list(catalog))
            if catalog is not None
            else preset_catalog(cast(str, preset))
        )
        if catalog is not None and preset is not None:
            # A preset's catalog, extended or overridden by the given specs.
            base = preset_catalog(preset)
            for spec in resolved.values():
                base = base.with_model(spec)
            resolved = base
        with_models, models = catalog_with_models(resolved, models)
        resolved = with_models or resolved
        unknown = set(models or {}) - set(resolved)
        if unknown:
            raise ConfigError(
                f"models given for names not in the catalog: {sorted(unknown)}; the catalog "
                f"has: {', '.join(resolved)}"
            )
        preset_table = PRESET_TABLES.get(preset or "", {})
        cells: dict[str, dict[str, str]] = {
            d: {str(c): m for c, m in row.items()} for d, row in preset_table.items()
        }
        for domain, row in (table or {}).items():
            cells.setdefault(domain, {}).update(row)
        merged_table = cells or None
        self.defaults = RouterContext(**validate_settings(settings, where="SmartRouter"))
        defaults = self.defaults
        self.policy_name = preset or "custom"
        self.policy = Policy(
            resolved,
            merged_table,
            name=self.policy_name,
            confidence_threshold=defaults.confidence_threshold or DEFAULT_CONFIDENCE_THRESHOLD,
            max_attempts=defaults.max_attempts or DEFAULT_MAX_ATTEMPTS,
        )
        self.classifier = load_classifier(classifier) if isinstance(classifier, str) else classifier
        self.provider = ModelProvider(models, api_keys, timeout_s=defaults.timeout_s)
        for name in ("judge_model", "model"):
            chosen = getattr(defaults, name)
            if chosen is not None and chosen not in resolved:
                raise ConfigError(f"{name} {chosen!r} is not in the catalog: {', '.join(resolved)}")
        self.learner = _learner(self.classifier, outcome_store, defaults)
        self.graph_builder = build_graph(
            RouterNodes(
                policies={self.policy_name: self.policy},
                classifiers=ClassifierRegistry(
                    {self.classifier.name: self.classifier}, default=self.classifier.name
                ),
                provider=self.provider,
                default_preset=self.policy_name,
                default_classifier=self.classifier.name,
                learner=self.learner,
            )
        )
        self.graph: CompiledStateGraph[RouterState, RouterContext, RouterInput, RouterOutput] = (
            self.graph_builder.compile(name="smartroute")
        )

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_preset(cls, preset: str = "openai", **kwargs: Any) -> SmartRouter:
        """A router over a preset's models and policy (``"openai"`` or ``"openrouter"``)."""
        return cls(preset=preset, **kwargs)

    @classmethod
    def from_config(
        cls, source: str | Path | Mapping[str, Any] | RouterConfig, **kwargs: Any
    ) -> SmartRouter:
        """A router from a YAML/TOML/JSON file or dict (see :class:`RouterConfig`)."""
        config = source if isinstance(source, RouterConfig) else load_config(source)
        built: dict[str, Any] = {
            "preset": config.preset,
            "catalog": config.models or None,
            "table": config.policy.table,
            "classifier": config.classifier,
            "outcome_store": config.learning.outcome_store if config.learning else None,
            **config.settings,
        }
        return cls(**{**built, **kwargs})  # keyword arguments win over the file

    @property
    def catalog(self) -> Catalog:
        """The models this router routes among."""
        return self.policy.catalog

    # -- per-call settings -------------------------------------------------------------

    def _prepare(
        self, input: RouterInputLike, config: RunnableConfig | None, kwargs: dict[str, Any]
    ) -> tuple[RouterState, RunnableConfig, RouterContext]:
        api_keys = kwargs.pop("api_keys", None)
        own_keys_only = bool(kwargs.pop("own_keys_only", False))
        options = pop_call_options(kwargs)  # tools, stop, max_tokens: for the chosen model
        unknown = set(kwargs) - SETTING_NAMES
        if unknown:
            valid = SETTING_NAMES | CALL_OPTION_NAMES | {"api_keys", "own_keys_only"}
            raise TypeError(
                f"unknown router setting(s) {sorted(unknown)}; valid: {', '.join(sorted(valid))}"
            )
        given = validate_settings(kwargs, where="per-call setting") if kwargs else {}
        context = dataclasses.replace(self.defaults, **given) if given else self.defaults
        config = ensure_config(config)
        if options:
            config["configurable"] = {
                **config.get("configurable", {}),
                CALL_OPTIONS_CONFIG_KEY: options,
            }
        if api_keys or own_keys_only:
            secrets = {
                k: v if isinstance(v, SecretStr) else SecretStr(v)
                for k, v in (api_keys or {}).items()
            }
            config["configurable"] = {
                **config.get("configurable", {}),
                API_KEYS_CONFIG_KEY: secrets,
                OWN_KEYS_ONLY_CONFIG_KEY: own_keys_only,
            }
        if self.learner is not None and config.get("run_id"):
            # Feedback can then name the answer by the run id the caller gave.
            outcome = {OUTCOME_ID_CONFIG_KEY: str(config["run_id"])}
            config["configurable"] = {**config.get("configurable", {}), **outcome}
        messages, attachments = normalise_input(input)
        state: RouterState = {"messages": messages, "attachments": attachments}
        return state, config, context

    async def _aprepare(
        self, input: RouterInputLike, config: RunnableConfig | None, kwargs: dict[str, Any]
    ) -> tuple[RouterState, RunnableConfig, RouterContext]:
        """:meth:`_prepare`, in a worker thread when files are to be read.

        A PDF can take up to ``max_pdf_seconds``; the event loop keeps serving meanwhile.
        """
        files = input.get("attachments") if isinstance(input, Mapping) else None
        if files and not all(isinstance(f, Attachment) for f in files):
            return await asyncio.to_thread(self._prepare, input, config, kwargs)
        return self._prepare(input, config, kwargs)

    @staticmethod
    def _answer(output: Mapping[str, Any]) -> AIMessage:
        response = output.get("response")
        if response is not None:
            return cast(AIMessage, response)
        decision = cast(RoutingDecision, output["decision"])
        # Dry run: no model was called; the decision is the whole answer.
        meta = {**routing_metadata(decision, []), "dry_run": True}
        return AIMessage(content="", response_metadata={"smartroute": meta})

    # -- Runnable ------------------------------------------------------------------------

    def invoke(
        self, input: RouterInputLike, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AIMessage:
        """Route ``input`` and return the chosen model's answer."""
        state, config, context = self._prepare(input, config, kwargs)
        return self._answer(self.graph.invoke(state, config, context=context))

    async def ainvoke(
        self, input: RouterInputLike, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AIMessage:
        """Async :meth:`invoke`."""
        state, config, context = await self._aprepare(input, config, kwargs)
        return self._answer(await self.graph.ainvoke(state, config, context=context))

    def stream(
        self, input: RouterInputLike, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        """Yield the chosen model's tokens as they arrive, then one chunk with the routing metadata.

        Cost and model name travel on that chunk only, so chunks merge cleanly.
        """
        state, config, context = self._prepare(input, config, kwargs)
        if context.review != "off" or wants_structured_output(config):
            # A reviewed answer may be replaced by a stronger model's, and a structured one
            # is parsed whole: send it once it is kept.
            yield from self._reviewed_chunks(self.graph.invoke(state, config, context=context))
            return
        relay = _Relay(self, config)
        for mode, payload in self.graph.stream(
            state, relay.config, context=context, stream_mode=_STREAM_MODES
        ):
            chunk = relay.take(mode, payload)
            if chunk is not None:
                yield chunk
        yield relay.last()

    async def astream(
        self, input: RouterInputLike, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        """Async :meth:`stream`."""
        state, config, context = await self._aprepare(input, config, kwargs)
        if context.review != "off" or wants_structured_output(config):
            output = await self.graph.ainvoke(state, config, context=context)
            for reviewed in self._reviewed_chunks(output):
                yield reviewed
            return
        relay = _Relay(self, config)
        async for mode, payload in self.graph.astream(
            state, relay.config, context=context, stream_mode=_STREAM_MODES
        ):
            chunk = relay.take(mode, payload)
            if chunk is not None:
                yield chunk
        yield relay.last()

    def _reviewed_chunks(self, output: Mapping[str, Any]) -> Iterator[AIMessageChunk]:
        answer = self._answer(output)
        yield self._metadata_chunk(output, [as_chunk(answer)])

    def _metadata_chunk(
        self, final: Mapping[str, Any], held: Sequence[AIMessageChunk] = ()
    ) -> AIMessageChunk:
        """The stream's last chunk, with the routing metadata on it.

        The held chunks merged, the routing metadata on it, and ``chunk_position="last"``
        (cost and model name travel on this chunk only).
        """
        answer = self._answer(final)
        meta = {"smartroute": answer.response_metadata["smartroute"]}
        last = AIMessageChunk(content="", response_metadata=meta, chunk_position="last")
        if held:
            merged = held[0]
            for chunk in held[1:]:
                merged = merged + chunk
            update = {
                "response_metadata": {**merged.response_metadata, **meta},
                "chunk_position": "last",
            }
            last = merged.model_copy(update=update)
        return last

    # -- decisions without a call ----------------------------------------------------------

    def route(self, input: RouterInputLike, **kwargs: Any) -> RoutingDecision:
        """The routing decision for ``input``, calling no model (and needing no API key)."""
        kwargs["dry_run"] = True
        state, config, context = self._prepare(input, None, kwargs)
        return cast(RoutingDecision, self.graph.invoke(state, config, context=context)["decision"])

    async def aroute(self, input: RouterInputLike, **kwargs: Any) -> RoutingDecision:
        """Async :meth:`route`."""
        kwargs["dry_run"] = True
        state, config, context = await self._aprepare(input, None, kwargs)
        output = await self.graph.ainvoke(state, config, context=context)
        return cast(RoutingDecision, output["decision"])

    # -- comparing models --------------------------------------------------------------------

    async def acompare(
        self,
        input: RouterInputLike,
        *,
        models: Sequence[str] | None = None,
        scorer: Scorer | None = None,
        timeout_s: float | None = None,
        api_keys: Mapping[str, str | SecretStr] | None = None,
        own_keys_only: bool = False,
    ) -> ComparisonReport:
        """Run ``input`` on every catalog model (or ``models``) concurrently.

        Score, cost and time each answer, and mark the model the router would pick (see
        :mod:`compare`).
        """
        return await acompare(
            self,
            input,
            models=models,
            scorer=scorer,
            timeout_s=timeout_s,
            api_keys=dict(api_keys) if api_keys else None,
            own_keys_only=own_keys_only,
        )

    def compare(
        self,
        input: RouterInputLike,
        *,
        models: Sequence[str] | None = None,
        scorer: Scorer | None = None,
        timeout_s: float | None = None,
        api_keys: Mapping[str, str | SecretStr] | None = None,
    ) -> ComparisonReport:
        """Sync :meth:`acompare` (runs its own event loop; from async code use ``acompare``)."""
        return asyncio.run(
            self.acompare(
                input, models=models, scorer=scorer, timeout_s=timeout_s, api_keys=api_keys
            )
        )

    # -- learning from outcomes --------------------------------------------------------------

    def record_feedback(
        self, answer: AIMessage | BaseMessage | str | Any, score: float, *, model: str | None = None
    ) -> Observation:
        """Store a score for an answer this router gave (learning on) as an observation.

        Args:
            answer: the answer (its ``response_metadata["smartroute"]["outcome_id"]`` names
                it) or that outcome id: the ``run_id`` given in the call's config, else the
                id the router made. Another process sharing the outcome store can record it.
            score: how good the answer was, in [0, 1] (e.g. thumbs up 1, down 0).
            model: the model the score is about (default: the one that answered).

        Returns:
            The observation stored (source ``feedback``).

        Raises:
            ConfigError: this router does not learn (no ``outcome_store``).
            UnknownOutcomeError: the answer is not remembered (given with learning off, by
                another store's router, or longer ago than the pending time-to-live).
            UnknownModelError: ``model`` is not in the catalog.
            ValueError: ``score`` is outside [0, 1].
            OutcomeStoreError: the store cannot be read or written.
        """
        if self.learner is None:
            raise ConfigError(
                "record_feedback needs learning on: SmartRouter(..., outcome_store="
                "'sqlite:///outcomes.db', learn=True)"
            )
        if model is not None and model not in self.catalog:
            raise UnknownModelError(
                f"unknown model {model!r}; the catalog has: {', '.join(self.catalog)}"
            )
        if model is not None:
            model = self.catalog.resolve(model)
        if isinstance(answer, BaseMessage):
            outcome_id = (answer.response_metadata.get("smartroute") or {}).get("outcome_id")
            if not outcome_id:
                raise UnknownOutcomeError(
                    "this answer carries no outcome_id: it was given with learning off (or "
                    "by another router); route with outcome_store=... and learn=True"
                )
        else:
            outcome_id = answer
        return self.learner.feedback(str(outcome_id), score, model=model)

    def close(self) -> None:
        """Stop learning in the background and close the outcome store it opened."""
        if self.learner is not None:
            self.learner.close()

    def __repr__(self) -> str:
        return (
            f"SmartRouter(preset={self.policy_name!r}, models={list(self.catalog)}, "
            f"classifier={self.classifier.name!r})"
        )


class _Relay:
    """What a stream passes on: the answering model's chunks, then the last one with metadata.

    ``take`` reads the graph's ``messages``/``updates``/``values`` stream; ``last`` is the
    stream's final chunk (see :meth:`SmartRouter._metadata_chunk`).
    """

    def __init__(self, router: SmartRouter, config: RunnableConfig) -> None:
        self.router = router
        streaming = {**config.get("configurable", {}), STREAMING_CONFIG_KEY: True}
        self.config: RunnableConfig = {**config, "configurable": streaming}
        self.final: Mapping[str, Any] = {}
        self.finished: set[str] = set()
        self.held: list[AIMessageChunk] = []

    def take(self, mode: str, payload: Any) -> AIMessageChunk | None:
        """The chunk to pass on for one item of the graph's stream, if any."""
        if mode == "messages":
            return self.model_chunk(payload)
        if mode == "updates":
            self.finished.update(cast(Mapping[str, Any], payload))
        else:
            self.final = cast(Mapping[str, Any], payload)
        return None

    def last(self) -> AIMessageChunk:
        """The stream's last chunk: held chunks merged, the routing metadata on it."""
        return self.router._metadata_chunk(self.final, self.held)

    def model_chunk(self, payload: Any) -> AIMessageChunk | None:
        """The chunk for the caller, if ``payload`` is a token of the model answering now.

        A model node that already returned (in ``finished``) gave up on its call: a sync
        stream's reader thread can still deliver the one chunk it was waiting for, and the
        next model's answer is the one the caller gets. Chunks with no text and no tool-call
        part (usage, the provider's last chunk) are ``held``: they go out merged into the
        last chunk, with the routing metadata.
        """
        message, metadata = payload
        node = metadata.get("langgraph_node")
        if type(message) is AIMessage and message.response_metadata.get("cache_hit"):
            # A response-cache hit arrives whole (core.response_cache): one chunk.
            message = AIMessageChunk(content=message.content, id=message.id)
        if (
            isinstance(message, AIMessageChunk)
            and node in self.router.catalog
            and node not in self.finished
        ):
            if message.content or message.tool_call_chunks:
                return message
            if message.usage_metadata or message.response_metadata:
                self.held.append(message)
        return None


def _learner(
    classifier: Classifier, store: str | Path | OutcomeStore | None, settings: RouterContext
) -> OnlineLearner | None:
    """The router's learner: None unless it learns (``outcome_store`` and ``learn``)."""
    if settings.learn and store is None:
        raise ConfigError(
            "learn=True needs an outcome store: SmartRouter(..., outcome_store="
            "'sqlite:///outcomes.db') (a file path, sqlite:///... or postgresql://...)"
        )
    if store is None or settings.learn is False:
        return None
    point = (
        OperatingPoint(cost_weight=settings.cost_weight)
        if settings.cost_weight is not None
        else OperatingPoint(tolerance=settings.quality_tolerance)
        if settings.quality_tolerance is not None
        else OperatingPoint()
    )
    return OnlineLearner(store, embedder=embedder_for(classifier), operating_point=point)
