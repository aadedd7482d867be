"""The router graph's nodes and edges, at module level.

Each reads its run's settings from ``runtime.context`` and returns a partial state update.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

# LangGraph's own node wrapper, as its prebuilt ToolNode uses it: a sync and an async body,
# and no second traced run per node (RunnableLambda adds one, ~0.2 ms a call).
from langgraph.graph import END
from langgraph.runtime import Runtime

from smartroute_graph.classifiers.base import Classification, Classifier, ClassifierUsage
from smartroute_graph.core.agent_turns import loop_model
from smartroute_graph.core.catalog import Catalog, ModelSpec, preset_catalog
from smartroute_graph.core.errors import (
    AllModelsFailedError,
    ConfigError,
    EmptyQueryError,
    MissingAPIKeyError,
)
from smartroute_graph.core.inputs import check_text, classification_text
from smartroute_graph.core.pricing import (
    COST_EVENT,
    attempt_cost,
    cost_event,
    estimate_message_tokens,
)
from smartroute_graph.core.providers import (
    API_KEY_ENV,
    ModelProvider,
    is_retryable,
    request_keys,
)
from smartroute_graph.graph.judging import judge_event, judge_failed, judged
from smartroute_graph.graph.learning import (
    aclassify_and_embed,
    classify_and_embed,
    learned_update,
    record_review,
    remember_answer,
)
from smartroute_graph.graph.metadata import failure_message, finalise, last_user_text
from smartroute_graph.graph.model_node import past_deadline
from smartroute_graph.graph.state import (
    RouterState,
    current_context,
)
from smartroute_graph.graph.tracing import annotate_router_run
from smartroute_graph.quality.review import (
    JUDGE_CONFIG,
    Review,
    judge_messages,
    logprob_confidence,
    scorer_review,
    structured_judge,
    validate_review_method,
)
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.cooldown import cooling_from_config
from smartroute_graph.routing.decide import condition, decide
from smartroute_graph.routing.online import OnlineLearner
from smartroute_graph.routing.policy import Policy, RoutingDecision
from smartroute_graph.routing.settings import check_bounds

_T = TypeVar("_T")

__all__ = [
    "NO_KEY_DRY_RUN",
    "TURN_ALONE_CONFIDENCE",
    "RouterNodes",
    "is_keyless_dry_run",
    "keyless_if_own_keys",
    "price_usage",
    "union_catalog",
]


@dataclass(kw_only=True)
class RouterNodes:
    """The router graph's nodes and edge functions, built once per router.

    Each node reads its run's settings from ``runtime.context`` (:class:`RouterContext`) and
    returns a partial state update; sync and async twins share their bodies.

    Args:
        policies: policies by preset name; their catalogs together give the model nodes.
        classifiers: classifiers by backend name.
        provider: the one model factory (answers and the judge).
        default_preset: the preset a run without ``preset`` uses.
        default_classifier: the backend a run without ``classifier`` uses.
        learner: an outcome store's learned policy; without it the ``learned`` node passes.
        keyless_dry_run: a run whose chosen model cannot be built for lack of a key ends
            with the decision, as a dry run whose reason says so (LangGraph Studio).
    """

    policies: Mapping[str, Policy]
    classifiers: Mapping[str, Classifier]
    provider: ModelProvider
    default_preset: str
    default_classifier: str
    learner: OnlineLearner | None = None
    keyless_dry_run: bool = False
    catalog: Catalog = field(init=False)
    """Every model of every policy: one graph node each."""

    def __post_init__(self) -> None:
        _named(self.policies, self.default_preset, "default preset")
        _named(self.classifiers, self.default_classifier, "default classifier")
        self.catalog = union_catalog(self.policies)

    def policy_for(self, context: RouterContext) -> Policy:
        """The policy of the run's preset."""
        return _named(self.policies, context.preset or self.default_preset, "preset")

    def prepare(self, state: RouterState) -> dict[str, Any]:
        """Node: check the run's settings, add the query, measure the input and find the task."""
        context = current_context()
        check_bounds(context)  # a context that bypassed SmartRouter (Studio, graph.invoke)
        messages: list[BaseMessage] = list(state.get("messages") or [])
        new_messages: list[BaseMessage] = []
        query = (state.get("query") or "").strip()
        if query and not (messages and messages[-1].type == "human" and messages[-1].text == query):
            new_messages.append(HumanMessage(content=query))
        attachments = list(state.get("attachments") or [])
        all_messages = messages + new_messages
        check_text(all_messages, attachments)  # input that bypassed normalise_input (Studio)
        text = classification_text(all_messages, attachments)
        if not text.strip():
            raise EmptyQueryError(
                "the query is empty: send 'query' text, 'messages' with a user message, "
                "or attachments"
            )
        tokens = estimate_message_tokens(all_messages) + sum(
            a.estimated_tokens for a in attachments
        )
        alone = classification_text(all_messages, attachments, with_context=False)
        total = context.total_timeout_s
        update: dict[str, Any] = {
            "text": text,
            "turn_text": alone if alone != text else None,
            "loop_model": loop_model(all_messages),
            "input_tokens": tokens,
            # Wall-clock time, so the deadline means the same to every node and process.
            "deadline_at": time.time() + total if total is not None else None,
        }
        if new_messages:
            update["messages"] = new_messages
        return update

    def classifier_for(self, context: RouterContext) -> Classifier:
        """The classifier the run names, else the router's own."""
        return _named(self.classifiers, context.classifier or self.default_classifier, "classifier")

    def priced(
        self, results: Sequence[Classification]
    ) -> tuple[Classification, list[dict[str, Any]]]:
        """The classification to route on, its model calls priced, and one cost event each."""
        classification = _with_context(results)
        if not classification.usage:
            return classification, []
        catalog = self.policy_for(current_context()).catalog
        usage = tuple(price_usage(u, catalog) for u in classification.usage)
        events = [
            cost_event(
                u.model,
                u.cost_usd or 0.0,
                u.input_tokens,
                u.output_tokens,
                purpose="classifier",
                unpriced=u.cost_usd is None,  # its model is in no catalog we know
            )
            for u in usage
        ]
        return classification.model_copy(update={"usage": usage}), events

    def classify_domain(self, state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        """Node: the first level, the query's domain (and the embedding when learning)."""
        classifier = keyless_if_own_keys(self.classifier_for(current_context()), config)
        texts = _texts_to_classify(state)
        learning = self.learner, current_context(), TURN_ALONE_CONFIDENCE
        results, update = classify_and_embed(classifier, texts, *learning)
        classification, events = self.priced(results)
        for event in events:
            dispatch_custom_event(COST_EVENT, event, config=config)
        return {"classification": classification, **update}

    async def aclassify_domain(self, state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        """Async :meth:`classify_domain` (the LLM classifier waits without blocking)."""
        # A classifier that waits on the network (the LLM backend) has an async twin; the
        # CPU-light ones run inline, as a light node does.
        classifier = keyless_if_own_keys(self.classifier_for(current_context()), config)
        texts = _texts_to_classify(state)
        learning = self.learner, current_context(), TURN_ALONE_CONFIDENCE
        results, update = await aclassify_and_embed(classifier, texts, *learning)
        classification, events = self.priced(results)
        for event in events:
            await adispatch_custom_event(COST_EVENT, event, config=config)
        return {"classification": classification, **update}

    def assess_complexity(self, state: RouterState) -> dict[str, Any]:
        """Node: the second level, complexity conditioned on the domain."""
        classification = state["classification"]
        assert classification is not None
        conditioned = condition(classification, current_context())
        return {} if conditioned is classification else {"classification": conditioned}

    def learned(self, state: RouterState) -> dict[str, Any]:
        """Node: the learned policy's pick from stored outcomes (passes without a store)."""
        return learned_update(
            self.learner, self.policy_for(current_context()), current_context(), state
        )

    def select_model(self, state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        """Node: the one routing decision (:func:`~smartroute_graph.routing.decide.decide`)."""
        context = current_context()
        classification = state["classification"]
        assert classification is not None
        policy = self.policy_for(context)
        looping = state.get("loop_model")
        keep = looping is not None and not context.model and looping in policy.catalog
        decision = decide(
            policy,
            classification,
            dataclasses.replace(context, model=looping) if keep else context,
            input_tokens=state["input_tokens"],
            attachments=state.get("attachments") or [],
            learned=None if keep else state.get("learned"),
            cooling=cooling_from_config(config),
        )
        if keep:
            assert looping is not None
            limit = (context.max_attempts or policy.max_attempts) - 1
            reason = f"tool loop: {looping} keeps the task it is working on"
            fallbacks = policy.catalog.fallback_order(looping)[: max(limit, 0)]
            decision = decision.model_copy(update={"reason": reason, "fallbacks": fallbacks})
        if self.keyless_dry_run and not context.dry_run:
            decision = self._without_key(decision, config)
        dry_run = context.dry_run or is_keyless_dry_run(decision)
        annotate_router_run(decision, dry_run=dry_run)
        return {"decision": decision, "next_model": None if dry_run else decision.model}

    def _without_key(self, decision: RoutingDecision, config: RunnableConfig) -> RoutingDecision:
        """``decision`` marked as a dry run when its model cannot be built.

        That is when there is no key, or no chat model for a custom provider: Studio shows what the
        router would do, not an error.
        """
        spec = self.catalog[decision.model]
        keys, own_only = request_keys(config)
        try:
            # Builds (and caches) the chat model the next node will call anyway.
            self.provider.get(spec, keys, own_keys_only=own_only)
        except MissingAPIKeyError:
            missing = (
                f"no API key for {spec.provider}"
                if spec.provider in API_KEY_ENV
                else f"no chat model for {spec.name}"
            )
            reason = f"{decision.reason}; {missing}: {NO_KEY_DRY_RUN}"
            return decision.model_copy(update={"reason": reason})
        return decision

    def route_to_model(self, state: RouterState) -> str:
        """Edge: the model node to call next, or the end (dry run)."""
        return state.get("next_model") or END

    def judge_for(self, context: RouterContext, config: RunnableConfig) -> tuple[Any, ModelSpec]:
        """The judge model (structured output) and its catalog entry for ``review='judge'``."""
        catalog_ = self.policy_for(context).catalog
        spec = catalog_[context.judge_model or catalog_.ladder[0]]
        keys, own_only = request_keys(config)
        return structured_judge(self.provider.get(spec, keys, own_keys_only=own_only)), spec

    def _judge_call(
        self, state: RouterState, config: RunnableConfig
    ) -> tuple[Any, ModelSpec, list[BaseMessage]] | dict[str, Any]:
        """The judge to ask (model, spec, messages), or the review's update when none is."""
        attempts = state.get("attempts") or []
        if not attempts[-1].ok:
            return self.after_failure(state)
        context = current_context()
        response = state["response"]
        assert response is not None
        if context.review != "judge":
            return self.review_answer(state, context, None)
        judge, spec = self.judge_for(context, config)
        messages: list[BaseMessage] = [*judge_messages(last_user_text(state), response.text)]
        return judge, spec, messages

    def _after_judge(
        self,
        state: RouterState,
        config: RunnableConfig,
        call: tuple[Any, ModelSpec, list[BaseMessage]],
        output: Any,
        error: Exception | None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The review's update from the judge's output (or failure), and its cost event."""
        _, spec, messages = call
        context = current_context()
        if error is not None:
            return self.review_answer(state, context, judge_failed(spec.name, error, config)), None
        verdict = judged(spec, messages, output)
        return self.review_answer(state, context, verdict), judge_event(spec, verdict)

    def review(self, state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        """Node: score the last answer, or move on after a failed call."""
        call = self._judge_call(state, config)
        if isinstance(call, dict):
            return call
        output, error = None, None
        try:
            output = call[0].invoke(call[2], {**config, **JUDGE_CONFIG})
        except Exception as exc:
            error = exc
        update, event = self._after_judge(state, config, call, output, error)
        if event is not None:
            dispatch_custom_event(COST_EVENT, event, config=config)
        return update

    async def areview(self, state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        """Async :meth:`review`."""
        call = self._judge_call(state, config)
        if isinstance(call, dict):
            return call
        output, error = None, None
        try:
            output = await call[0].ainvoke(call[2], {**config, **JUDGE_CONFIG})
        except Exception as exc:
            error = exc
        update, event = self._after_judge(state, config, call, output, error)
        if event is not None:
            await adispatch_custom_event(COST_EVENT, event, config=config)
        return update

    def review_answer(
        self,
        state: RouterState,
        context: RouterContext,
        judged: tuple[float | None, dict[str, Any], float] | None,
    ) -> dict[str, Any]:
        """Score the last answer; keep it, re-ask a stronger model, or keep the best so far."""
        attempts = state.get("attempts") or []
        decision = state["decision"]
        response = state["response"]
        assert decision is not None and response is not None
        last = attempts[-1]
        method = validate_review_method(context.review)
        note: str | None = None
        details: dict[str, Any] | None = None
        score: float | None
        cost = 0.0
        if judged is not None:
            score, details, cost = judged
            note = details.get("note") if details else None
        elif method == "scorer":
            score, details = scorer_review(last_user_text(state), response.text, decision.domain)
        else:
            score = logprob_confidence(response)
            if score is None:
                note = "the provider returned no log-probabilities: answer kept unreviewed"
        threshold = context.review_threshold
        passed = score is None or score >= threshold
        verdict = Review(
            model=last.model,
            method=method,
            score=score,
            threshold=threshold,
            passed=passed,
            note=note,
            details=details,
            cost_usd=cost,
        )
        record_review(self.learner, context, state, verdict, last)
        reviews = [*(state.get("reviews") or []), verdict]
        candidates = [*(state.get("candidates") or []), response]
        update: dict[str, Any] = {"reviews": [verdict], "candidates": [response]}
        if not passed:
            limit = context.max_attempts or self.policy_for(context).max_attempts
            catalog_ = self.policy_for(context).catalog
            tried = {a.model for a in attempts}
            stronger = [
                m
                for m in decision.fallbacks
                if m not in tried and catalog_[m].tier > catalog_[last.model].tier
            ]
            if stronger and len(attempts) < limit and not past_deadline(state):
                return {**update, "next_model": stronger[0]}
        # A passing answer is kept; when none passed, the best-scored one (later, stronger
        # answers win ties).
        best = (
            len(reviews) - 1
            if passed
            else max(range(len(reviews)), key=lambda i: (reviews[i].score or 0.0, i))
        )
        final = finalise(candidates[best], decision, attempts, reviews)
        final = remember_answer(self.learner, context, state, final, attempts)
        return {**update, "response": final, "messages": [final], "next_model": None}

    def after_failure(self, state: RouterState) -> dict[str, Any]:
        """The next model after a failed call, or every attempt's failure raised."""
        attempts = state.get("attempts") or []
        decision = state["decision"]
        assert decision is not None
        last = attempts[-1]
        context = current_context()
        limit = context.max_attempts or self.policy_for(context).max_attempts
        tried = {a.model for a in attempts}
        remaining = [m for m in decision.fallbacks if m not in tried]
        late = past_deadline(state)
        if (
            is_retryable(last.error_kind or "other")
            and remaining
            and len(attempts) < limit
            and not late
        ):
            return {"next_model": remaining[0]}
        total = context.total_timeout_s if late else None
        raise AllModelsFailedError(
            failure_message(attempts, limit, total), [a.model_dump() for a in attempts]
        )

    def after_review(self, state: RouterState) -> str:
        """Edge: escalate to a stronger model, or end."""
        return "escalate" if state.get("next_model") else END

    def after_model(self, state: RouterState, runtime: Runtime[RouterContext]) -> str:
        """Edge: review the answer, or end when review is off and the call succeeded."""
        # Edge functions run untraced, outside the config context: take the runtime as given.
        context = runtime.context if isinstance(runtime.context, RouterContext) else None
        attempts = state.get("attempts") or []
        if attempts and attempts[-1].ok and (context is None or context.review == "off"):
            return END
        return "review"

    def escalate(self, state: RouterState) -> dict[str, Any]:
        """Node: a visible step before the stronger model is asked."""
        # A separate node so the retry is visible in Studio and traces (and so drawing the
        # graph never meets a self-loop).
        return {}


# A follow-up turn is read alone first; when the classifier is at least this sure of it alone
# ("hi!", a new question) the previous turn is left out, else ("now in Rust") it is read
# with the previous turn.
TURN_ALONE_CONFIDENCE = 0.9


def keyless_if_own_keys(classifier: Classifier, config: RunnableConfig) -> Classifier:
    """``classifier``, or its key-free part when the run may spend only the request's keys.

    The LLM classifier runs on the operator's key: a request that brought its own key is
    classified by the encoder instead (the LLM classifier's fallback, a cascade's first stage).
    """
    if not request_keys(config)[1]:
        return classifier
    from smartroute_graph.classifiers.cascade import CascadeClassifier
    from smartroute_graph.classifiers.llm import LLMClassifier

    if isinstance(classifier, CascadeClassifier):
        return classifier.first
    if isinstance(classifier, LLMClassifier):
        return classifier.fallback
    return classifier


def _texts_to_classify(state: RouterState) -> list[str]:
    alone = state.get("turn_text")
    return [state["text"]] if not alone else [alone, state["text"]]


def _with_context(results: Sequence[Classification]) -> Classification:
    if len(results) == 1:
        return results[0]
    alone, with_previous = results
    # Both readings were asked for, so both calls count (an LLM classifier's tokens).
    usage = (*alone.usage, *with_previous.usage)
    if alone.confidence >= TURN_ALONE_CONFIDENCE:
        return alone.model_copy(update={"usage": usage})
    note = f"read with the previous turn (alone: confidence {alone.confidence:.2f})"
    return with_previous.model_copy(update={"note": with_previous.note or note, "usage": usage})


def _spec_named(model: str, catalog: Catalog) -> ModelSpec | None:
    """The catalog entry a chat model's reported name means.

    The name is a catalog name, or the provider's model id (OpenRouter's ``mistralai/...``, as
    ChatOpenAI reports it).
    """
    if model in catalog:
        return catalog[model]
    return next((s for s in catalog.values() if s.provider_model_id == model), None)


def price_usage(usage: ClassifierUsage, catalog: Catalog) -> ClassifierUsage:
    """``usage`` with its cost from the router's catalog, else the ``openai`` preset's prices.

    The default LLM classifier is gpt-4.1-nano, hence the ``openai`` preset; an unknown model stays
    unpriced (None).
    """
    spec = _spec_named(usage.model, catalog) or _spec_named(usage.model, preset_catalog("openai"))
    if spec is None:
        return usage
    cost = attempt_cost(spec, usage.input_tokens, usage.output_tokens)
    return usage.model_copy(update={"cost_usd": cost})


def union_catalog(policies: Mapping[str, Policy]) -> Catalog:
    """Every model of every policy's catalog, one node each."""
    specs: dict[str, ModelSpec] = {}
    for policy in policies.values():
        for name, spec in policy.catalog.items():
            if name in specs and specs[name] != spec:
                raise ConfigError(
                    f"model {name!r} is defined differently in two presets; give one a new name"
                )
            specs[name] = spec
    return Catalog(list(specs.values()))


# The end of a keyless run's reason: ``"...; no API key for openai: dry run"``.
NO_KEY_DRY_RUN = "dry run"


def _named(choices: Mapping[str, _T], name: str, what: str) -> _T:
    """``choices[name]``, or a :class:`ConfigError` naming what this router has."""
    try:
        return choices[name]
    except KeyError:
        raise ConfigError(
            f"unknown {what} {name!r}; this router has: {', '.join(choices)}"
        ) from None


def is_keyless_dry_run(decision: RoutingDecision | None) -> bool:
    """Whether ``decision`` ended a run because no API key (or chat model) was found."""
    return decision is not None and decision.reason.endswith(f": {NO_KEY_DRY_RUN}")
