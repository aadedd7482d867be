"""The routing graph: prepare → classify_domain → assess_complexity → learned → select_model →
one node per model → review → (escalate → next model | END)."""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.runnables import RunnableConfig

# LangGraph's own node wrapper, as its prebuilt ToolNode uses it: a sync and an async body,
# and no second traced run per node (RunnableLambda adds one, ~0.2 ms a call).
from langgraph._internal._runnable import RunnableCallable
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime, get_runtime

from smartroute_graph.classifiers.base import Classification, Classifier, ClassifierUsage
from smartroute_graph.core.catalog import Catalog, ModelSpec, preset_catalog
from smartroute_graph.core.errors import (
    AllModelsFailedError,
    ConfigError,
    EmptyQueryError,
    SmartRouteError,
)
from smartroute_graph.core.inputs import check_text, classification_text, with_attachments
from smartroute_graph.core.pricing import (
    COST_EVENT,
    attempt_cost,
    call_tokens,
    cost_event,
    estimate_message_tokens,
)
from smartroute_graph.core.providers import (
    API_KEYS_CONFIG_KEY,
    ModelProvider,
    error_kind,
    is_retryable,
    redact_secrets,
    request_keys,
    secret_values,
)
from smartroute_graph.core.taxonomy import COMPLEXITIES
from smartroute_graph.graph.deadlines import (
    DeadlineError,
    acall_with_timeout,
    astream_within,
    call_timeout,
    call_with_timeout,
    has_token,
    stream_limits,
    stream_within,
    time_left,
    total_label,
)
from smartroute_graph.graph.judging import judge_event, judge_failed, judged
from smartroute_graph.graph.learning import (
    aclassify_and_embed,
    classify_and_embed,
    learned_update,
    record_review,
    remember_answer,
)
from smartroute_graph.graph.state import Attempt, RouterInput, RouterOutput, RouterState
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
from smartroute_graph.routing.decide import condition, decide
from smartroute_graph.routing.online import OnlineLearner
from smartroute_graph.routing.policy import Policy, RoutingDecision

__all__ = [
    "API_KEYS_CONFIG_KEY",
    "NODE_NAMES",
    "STREAMING_CONFIG_KEY",
    "StreamInterruptedError",
    "build_graph",
]

# Set by SmartRouter.stream: tokens reach the caller as they come, so a model that fails
# after its first token cannot be replaced silently.
STREAMING_CONFIG_KEY = "smartroute_streaming"
NODE_NAMES = (
    "prepare",
    "classify_domain",
    "assess_complexity",
    "learned",
    "select_model",
    "review",
    "escalate",
)


class StreamInterruptedError(SmartRouteError):
    """A model's stream broke, or passed a time limit, after tokens reached the caller; no
    fallback is possible. ``error_kind``: ``"timeout"`` (a limit of the router's, such as
    ``total_timeout_s``) or ``"stream_broken"`` (the provider's stream failed)."""

    def __init__(self, message: str, error_kind: str = "stream_broken") -> None:
        super().__init__(message)
        self.error_kind = error_kind


def _context() -> RouterContext:
    context = get_runtime(RouterContext).context
    return context if isinstance(context, RouterContext) else RouterContext()


def _with_logprobs(model: BaseChatModel) -> BaseChatModel:
    """The model asked to return token log-probabilities, where it has the switch
    (``ChatOpenAI.logprobs``); ``review="logprobs"`` reads them. Reasoning models refuse it."""
    from langchain_openai.chat_models.base import BaseChatOpenAI

    if isinstance(model, BaseChatOpenAI) and not model.logprobs:
        return model.model_copy(update={"logprobs": True})
    return model


def _with_temperature(
    model: BaseChatModel, temperature: float
) -> tuple[BaseChatModel, float | None]:
    """A copy of ``model`` sampling at ``temperature`` and that temperature, where the model
    has the setting (ChatOpenAI and most provider models); else the model as it is and None."""
    if "temperature" in type(model).model_fields:
        return model.model_copy(update={"temperature": temperature}), temperature
    return model, None


def build_graph(
    *,
    policies: Mapping[str, Policy],
    classifiers: Mapping[str, Classifier],
    provider: ModelProvider,
    default_preset: str,
    default_classifier: str,
    learner: OnlineLearner | None = None,
) -> StateGraph[RouterState, RouterContext, RouterInput, RouterOutput]:
    """The uncompiled router graph (compile it with a checkpointer if you need one).

    ``policies`` maps preset names to policies; their catalogs together give the model
    nodes, one per model. ``classifiers`` maps backend names to classifiers. ``learner``
    (an outcome store's learned policy) makes the ``learned`` node decide and the answers
    feed the store (:mod:`smartroute_graph.graph.learning`); without it the node passes.
    """
    if default_preset not in policies:
        raise ConfigError(f"default preset {default_preset!r} is not among {list(policies)}")
    if default_classifier not in classifiers:
        raise ConfigError(
            f"default classifier {default_classifier!r} is not among {list(classifiers)}"
        )
    catalog = _union_catalog(policies)

    def policy_for(context: RouterContext) -> Policy:
        name = context.preset or default_preset
        try:
            return policies[name]
        except KeyError:
            raise ConfigError(
                f"unknown preset {name!r}; this router has: {', '.join(policies)}"
            ) from None

    def prepare(state: RouterState) -> dict[str, Any]:
        context = _context()
        temperature = context.temperature
        if temperature is not None and not 0.0 <= temperature <= 2.0:
            raise ConfigError(f"temperature must be between 0 and 2, got {temperature}")
        for name in ("timeout_s", "first_token_timeout_s", "total_timeout_s"):
            value = getattr(context, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be above 0 (or None for no limit), got {value}")
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
            "input_tokens": tokens,
            # Wall-clock time, so the deadline means the same to every node and process.
            "deadline_at": time.time() + total if total is not None else None,
        }
        if new_messages:
            update["messages"] = new_messages
        return update

    def classifier_for(context: RouterContext) -> Classifier:
        name = context.classifier or default_classifier
        try:
            return classifiers[name]
        except KeyError:
            raise ConfigError(
                f"unknown classifier {name!r}; this router has: {', '.join(classifiers)}"
            ) from None

    def priced(results: Sequence[Classification]) -> tuple[Classification, list[dict[str, Any]]]:
        """The classification to route on, its model calls priced, and one cost event each."""
        classification = _with_context(results)
        if not classification.usage:
            return classification, []
        catalog = policy_for(_context()).catalog
        usage = tuple(_price_usage(u, catalog) for u in classification.usage)
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

    def classify_domain(state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        classifier = keyless_if_own_keys(classifier_for(_context()), config)
        texts = _texts_to_classify(state)
        learning = learner, _context(), TURN_ALONE_CONFIDENCE
        results, update = classify_and_embed(classifier, texts, *learning)
        classification, events = priced(results)
        for event in events:
            dispatch_custom_event(COST_EVENT, event, config=config)
        return {"classification": classification, **update}

    async def aclassify_domain(state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        # A classifier that waits on the network (the LLM backend) has an async twin; the
        # CPU-light ones run inline, as a light node does.
        classifier = keyless_if_own_keys(classifier_for(_context()), config)
        texts = _texts_to_classify(state)
        learning = learner, _context(), TURN_ALONE_CONFIDENCE
        results, update = await aclassify_and_embed(classifier, texts, *learning)
        classification, events = priced(results)
        for event in events:
            await adispatch_custom_event(COST_EVENT, event, config=config)
        return {"classification": classification, **update}

    def assess_complexity(state: RouterState) -> dict[str, Any]:
        classification = state["classification"]
        assert classification is not None
        conditioned = condition(classification, _context())
        return {} if conditioned is classification else {"classification": conditioned}

    def learned(state: RouterState) -> dict[str, Any]:
        return learned_update(learner, policy_for(_context()), _context(), state)

    def select_model(state: RouterState) -> dict[str, Any]:
        context = _context()
        classification = state["classification"]
        assert classification is not None
        decision = decide(
            policy_for(context),
            classification,
            context,
            input_tokens=state["input_tokens"],
            attachments=state.get("attachments") or [],
            learned=state.get("learned"),
        )
        annotate_router_run(decision, dry_run=context.dry_run)
        return {"decision": decision, "next_model": None if context.dry_run else decision.model}

    def route_to_model(state: RouterState) -> str:
        return state.get("next_model") or END

    def judge_for(context: RouterContext, config: RunnableConfig) -> tuple[Any, ModelSpec]:
        catalog_ = policy_for(context).catalog
        spec = catalog_[context.judge_model or catalog_.ladder[0]]
        keys, own_only = request_keys(config)
        return structured_judge(provider.get(spec, keys, own_keys_only=own_only)), spec

    def review(state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        attempts = state.get("attempts") or []
        if attempts[-1].ok:
            context = _context()
            response = state["response"]
            assert response is not None
            if context.review == "judge":
                judge, spec = judge_for(context, config)
                messages = judge_messages(_last_user_text(state), response.text)
                try:
                    output = judge.invoke(messages, {**config, **JUDGE_CONFIG})
                except Exception as exc:
                    return review_answer(state, context, judge_failed(spec.name, exc, config))
                verdict = judged(spec, messages, output)
                dispatch_custom_event(COST_EVENT, judge_event(spec, verdict), config=config)
                return review_answer(state, context, verdict)
            return review_answer(state, context, None)
        return after_failure(state)

    async def areview(state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        attempts = state.get("attempts") or []
        if attempts[-1].ok:
            context = _context()
            response = state["response"]
            assert response is not None
            if context.review == "judge":
                judge, spec = judge_for(context, config)
                messages = judge_messages(_last_user_text(state), response.text)
                try:
                    output = await judge.ainvoke(messages, {**config, **JUDGE_CONFIG})
                except Exception as exc:
                    return review_answer(state, context, judge_failed(spec.name, exc, config))
                verdict = judged(spec, messages, output)
                await adispatch_custom_event(COST_EVENT, judge_event(spec, verdict), config=config)
                return review_answer(state, context, verdict)
            return review_answer(state, context, None)
        return after_failure(state)

    def review_answer(
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
            score, details = scorer_review(_last_user_text(state), response.text, decision.domain)
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
        record_review(learner, context, state, verdict, last)
        reviews = [*(state.get("reviews") or []), verdict]
        candidates = [*(state.get("candidates") or []), response]
        update: dict[str, Any] = {"reviews": [verdict], "candidates": [response]}
        if not passed:
            limit = context.max_attempts or policy_for(context).max_attempts
            catalog_ = policy_for(context).catalog
            tried = {a.model for a in attempts}
            stronger = [
                m
                for m in decision.fallbacks
                if m not in tried and catalog_[m].tier > catalog_[last.model].tier
            ]
            if stronger and len(attempts) < limit and not _past_deadline(state):
                return {**update, "next_model": stronger[0]}
        # A passing answer is kept; when none passed, the best-scored one (later, stronger
        # answers win ties).
        best = (
            len(reviews) - 1
            if passed
            else max(range(len(reviews)), key=lambda i: (reviews[i].score or 0.0, i))
        )
        final = _finalise(candidates[best], decision, attempts, reviews)
        final = remember_answer(learner, context, state, final, attempts)
        return {**update, "response": final, "messages": [final], "next_model": None}

    def after_failure(state: RouterState) -> dict[str, Any]:
        attempts = state.get("attempts") or []
        decision = state["decision"]
        assert decision is not None
        last = attempts[-1]
        context = _context()
        limit = context.max_attempts or policy_for(context).max_attempts
        tried = {a.model for a in attempts}
        remaining = [m for m in decision.fallbacks if m not in tried]
        late = _past_deadline(state)
        if (
            is_retryable(last.error_kind or "other")
            and remaining
            and len(attempts) < limit
            and not late
        ):
            return {"next_model": remaining[0]}
        total = context.total_timeout_s if late else None
        raise AllModelsFailedError(
            _failure_message(attempts, limit, total), [a.model_dump() for a in attempts]
        )

    def after_review(state: RouterState) -> str:
        return "escalate" if state.get("next_model") else END

    def after_model(state: RouterState, runtime: Runtime[RouterContext]) -> str:
        # Edge functions run untraced, outside the config context: take the runtime as given.
        context = runtime.context if isinstance(runtime.context, RouterContext) else None
        attempts = state.get("attempts") or []
        if attempts and attempts[-1].ok and (context is None or context.review == "off"):
            return END
        return "review"

    def escalate(state: RouterState) -> dict[str, Any]:
        # A separate node so the retry is visible in Studio and traces (and so drawing the
        # graph never meets a self-loop).
        return {}

    graph = StateGraph(
        RouterState,
        context_schema=RouterContext,
        input_schema=RouterInput,
        output_schema=RouterOutput,
    )
    graph.add_node("prepare", _light_node(prepare))
    graph.add_node("classify_domain", _node(classify_domain, aclassify_domain, "classify_domain"))
    for step in (assess_complexity, learned, select_model):
        graph.add_node(step.__name__, _light_node(step))
    for name in catalog:
        graph.add_node(name, _model_node(catalog[name], provider, learner))
    graph.add_node("review", _node(review, areview, "review"))
    graph.add_node("escalate", _light_node(escalate))

    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "classify_domain")
    graph.add_edge("classify_domain", "assess_complexity")
    graph.add_edge("assess_complexity", "learned")
    graph.add_edge("learned", "select_model")
    model_targets: dict[Hashable, str] = {name: name for name in catalog}
    # Every conditional edge names its targets, so Studio draws them; the path functions
    # are untraced (a traced run per edge costs more than the decision it makes).
    to_model = _path(route_to_model)
    graph.add_conditional_edges("select_model", to_model, {**model_targets, END: END})
    for name in catalog:
        graph.add_conditional_edges(name, _path(after_model), {"review": "review", END: END})
    graph.add_conditional_edges("review", _path(after_review), {"escalate": "escalate", END: END})
    graph.add_conditional_edges("escalate", to_model, model_targets)
    return graph


def _node(func: Any, afunc: Any, name: str) -> RunnableCallable:
    return RunnableCallable(func, afunc, name=name, trace=False)


def _path(func: Any) -> RunnableCallable:
    return RunnableCallable(func, name=func.__name__, trace=False)


def _light_node(func: Any) -> RunnableCallable:
    """A node of CPU-light code; its async twin runs inline instead of in a thread pool."""

    async def afunc(state: RouterState) -> Any:
        return func(state)

    return _node(func, afunc, func.__name__)


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
    """The catalog entry a chat model's reported name means: a catalog name, or the
    provider's model id (OpenRouter's ``mistralai/...``, as ChatOpenAI reports it)."""
    if model in catalog:
        return catalog[model]
    return next((s for s in catalog.values() if s.provider_model_id == model), None)


def _price_usage(usage: ClassifierUsage, catalog: Catalog) -> ClassifierUsage:
    """``usage`` with its cost from the router's catalog, else the ``openai`` preset's prices
    (the default LLM classifier is gpt-4.1-nano); an unknown model stays unpriced (None)."""
    spec = _spec_named(usage.model, catalog) or _spec_named(usage.model, preset_catalog("openai"))
    if spec is None:
        return usage
    cost = attempt_cost(spec, usage.input_tokens, usage.output_tokens)
    return usage.model_copy(update={"cost_usd": cost})


def _union_catalog(policies: Mapping[str, Policy]) -> Catalog:
    specs: dict[str, ModelSpec] = {}
    for policy in policies.values():
        for name, spec in policy.catalog.items():
            if name in specs and specs[name] != spec:
                raise ConfigError(
                    f"model {name!r} is defined differently in two presets; give one a new name"
                )
            specs[name] = spec
    return Catalog(list(specs.values()))


def _model_node(
    spec: ModelSpec, provider: ModelProvider, learner: OnlineLearner | None = None
) -> RunnableCallable:
    """The node that calls ``spec``'s chat model once and records the attempt."""

    def prepare_call(
        state: RouterState, config: RunnableConfig
    ) -> tuple[BaseChatModel, list[Any], float | None]:
        """The model to call (with the run's settings), the messages, and the temperature
        the router set on it (None: the model keeps its own)."""
        keys, own_only = request_keys(config)
        model = provider.get(spec, keys, own_keys_only=own_only)
        context = _context()
        if context.review == "logprobs" and not spec.reasoning:
            model = _with_logprobs(model)
        temperature = None
        if context.temperature is not None and not spec.reasoning:
            model, temperature = _with_temperature(model, context.temperature)
        messages = with_attachments(list(state["messages"]), state.get("attachments") or [])
        return model, messages, temperature

    def record(
        state: RouterState,
        started: float,
        result: BaseMessage | None,
        exc: BaseException | None,
        streamed_tokens: bool,
        temperature: float | None,
        config: RunnableConfig,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        latency_ms = (time.perf_counter() - started) * 1000
        if exc is not None:
            # The provider may echo the request's key in its error, in any shape.
            own = secret_values(request_keys(config)[0])
            if isinstance(exc, SmartRouteError):
                raise exc
            if streamed_tokens and isinstance(exc, DeadlineError):
                raise StreamInterruptedError(
                    f"{spec.name}'s stream was stopped after part of the answer was sent: "
                    f"{exc}; retry the request, ask for a shorter answer, or allow more time",
                    error_kind="timeout",
                ) from None
            if streamed_tokens:
                raise StreamInterruptedError(
                    f"{spec.name}'s stream broke after part of the answer was sent "
                    f"({type(exc).__name__}: {redact_secrets(str(exc), own)}); retry the request"
                ) from None
            kind = "stream_broken" if streamed_tokens else error_kind(exc)
            attempt = Attempt(
                model=spec.name,
                ok=False,
                latency_ms=latency_ms,
                error_kind=kind,
                error=redact_secrets(f"{type(exc).__name__}: {exc}", own)[:500],
                temperature=temperature,
            )
            return {"attempts": [attempt], "response": None}, None
        assert result is not None
        tokens_in, tokens_out, estimated = call_tokens(state["messages"], result)
        cost = attempt_cost(spec, tokens_in, tokens_out)
        attempt = Attempt(
            model=spec.name,
            ok=True,
            latency_ms=latency_ms,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            temperature=temperature,
        )
        event = cost_event(spec.name, cost, tokens_in, tokens_out, estimated=estimated)
        # A good answer is final here: going through `review` would cost a graph step.
        decision = state["decision"]
        assert decision is not None
        attempts = [*(state.get("attempts") or []), attempt]
        final = _finalise(_as_message(result), decision, attempts, state.get("reviews") or [])
        if _context().review == "off":  # with review on, `review` keeps and appends the answer
            final = remember_answer(learner, _context(), state, final, attempts)
        update: dict[str, Any] = {"attempts": [attempt], "response": final, "next_model": None}
        if _context().review == "off":
            update["messages"] = [final]
        return update, event

    def call(state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        model, messages, temperature = prepare_call(state, config)
        context = _context()
        started = time.perf_counter()
        result: BaseMessage | None = None
        error: BaseException | None = None
        streamed = False
        try:
            if _past_deadline(state):  # classification used up the time: call nothing
                raise DeadlineError(total_label(context), "total")
            if _streaming(config):
                chunks: list[AIMessageChunk] = []
                limits = stream_limits(context, state.get("deadline_at"))
                for chunk in stream_within(lambda: model.stream(messages, config), limits):
                    chunks.append(chunk)
                    streamed = streamed or has_token(chunk)
                result = _join_chunks(chunks)
            else:
                timeout, expired = call_timeout(context, state.get("deadline_at"))
                if timeout is None:
                    result = model.invoke(messages, config)
                else:
                    # Its own thread, never a shared pool: a hung call given up on keeps
                    # its thread until the model returns, and must not starve later calls.
                    result = call_with_timeout(
                        model.invoke, messages, config, timeout=timeout, message=expired
                    )
        except Exception as exc:
            error = exc
        update, event = record(state, started, result, error, streamed, temperature, config)
        if event is not None:
            dispatch_custom_event(COST_EVENT, event, config=config)
        return update

    async def acall(state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        model, messages, temperature = prepare_call(state, config)
        context = _context()
        started = time.perf_counter()
        result: BaseMessage | None = None
        error: BaseException | None = None
        streamed = False
        try:
            if _past_deadline(state):  # classification used up the time: call nothing
                raise DeadlineError(total_label(context), "total")
            if _streaming(config):
                chunks: list[AIMessageChunk] = []
                limits = stream_limits(context, state.get("deadline_at"))
                async for chunk in astream_within(lambda: model.astream(messages, config), limits):
                    chunks.append(chunk)
                    streamed = streamed or has_token(chunk)
                result = _join_chunks(chunks)
            else:
                timeout, expired = call_timeout(context, state.get("deadline_at"))
                result = await acall_with_timeout(
                    model.ainvoke(messages, config), timeout=timeout, message=expired
                )
        except Exception as exc:
            error = exc
        update, event = record(state, started, result, error, streamed, temperature, config)
        if event is not None:
            await adispatch_custom_event(COST_EVENT, event, config=config)
        return update

    return _node(call, acall, spec.name)


def _past_deadline(state: RouterState) -> bool:
    left = time_left(state.get("deadline_at"))
    return left is not None and left <= 0


def _streaming(config: RunnableConfig) -> bool:
    return bool((config.get("configurable") or {}).get(STREAMING_CONFIG_KEY))


def _join_chunks(chunks: Sequence[AIMessageChunk]) -> AIMessage:
    if not chunks:
        raise ConnectionError("the stream ended before its first token")
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    return _as_message(merged)


def _as_message(message: BaseMessage) -> AIMessage:
    if isinstance(message, AIMessageChunk):
        return AIMessage(
            content=message.content,
            additional_kwargs=message.additional_kwargs,
            response_metadata=message.response_metadata,
            tool_calls=message.tool_calls,
            usage_metadata=message.usage_metadata,
            id=message.id,
        )
    if isinstance(message, AIMessage):
        return message
    return AIMessage(content=message.content, id=message.id)


def _last_user_text(state: RouterState) -> str:
    return next((m.text for m in reversed(state["messages"]) if m.type == "human"), state["text"])


def routing_metadata(
    decision: RoutingDecision,
    attempts: Sequence[Attempt],
    reviews: Sequence[Review] = (),
    answered: str | None = None,
) -> dict[str, Any]:
    """The ``response_metadata["smartroute"]`` dict: the decision, every attempt and review."""
    answered = answered or next((a.model for a in reversed(attempts) if a.ok), None)
    review_cost = sum(r.cost_usd for r in reviews)
    return {
        "domain": decision.domain,
        "complexity": decision.complexity,
        "complexity_score": round(decision.complexity_score, 4),
        "confidence": round(decision.confidence, 4),
        "domain_probs": {k: round(v, 4) for k, v in decision.domain_probs.items()},
        "complexity_probs": {k: round(decision.complexity_probs[k], 4) for k in COMPLEXITIES},
        "model": answered or decision.model,
        "selected_model": decision.model,
        "reason": decision.reason,
        "preset": decision.preset,
        "classifier": decision.classifier,
        "escalated": answered is not None and answered != decision.model,
        "attempts": [a.model_dump() for a in attempts],
        "reviews": [r.model_dump() for r in reviews],
        "cost_usd": round(
            decision.classifier_cost_usd + sum(a.cost_usd for a in attempts) + review_cost, 8
        ),
        "classifier_cost_usd": round(decision.classifier_cost_usd, 8),
        "review_cost_usd": round(review_cost, 8),
        "estimated_cost_usd": round(decision.estimated_cost_usd, 8),
    }


def _finalise(
    response: AIMessage,
    decision: RoutingDecision,
    attempts: Sequence[Attempt],
    reviews: Sequence[Review] = (),
) -> AIMessage:
    usage: UsageMetadata | None = None
    for attempt in attempts:
        if attempt.ok:
            part = UsageMetadata(
                input_tokens=attempt.input_tokens,
                output_tokens=attempt.output_tokens,
                total_tokens=attempt.input_tokens + attempt.output_tokens,
            )
            usage = part if usage is None else add_usage(usage, part)
    if response.usage_metadata and len([a for a in attempts if a.ok]) == 1:
        usage = response.usage_metadata  # keep the provider's token details
    answered = response.response_metadata.get("smartroute", {}).get("answered_by")
    answered = answered or next((a.model for a in reversed(attempts) if a.ok), None)
    meta = routing_metadata(decision, attempts, reviews, answered)
    meta["answered_by"] = answered
    annotate_router_run(meta)
    metadata = {**response.response_metadata, "smartroute": meta}
    return response.model_copy(update={"response_metadata": metadata, "usage_metadata": usage})


def _failure_message(
    attempts: Sequence[Attempt], limit: int, total_timeout_s: float | None = None
) -> str:
    lines = [f"  {i}. {a.model}: {a.error_kind} — {a.error}" for i, a in enumerate(attempts, 1)]
    last = attempts[-1]
    why = (
        f"{last.error_kind} errors are not retried (the request itself was refused)"
        if not is_retryable(last.error_kind or "other")
        else f"the total deadline of {total_timeout_s:g} s passed (total_timeout_s)"
        if total_timeout_s is not None
        else f"the attempt limit is {limit}"
        if len(attempts) >= limit
        else "no fallback model was left"
    )
    return f"every model failed ({why}):\n" + "\n".join(lines)
