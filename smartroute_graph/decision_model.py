"""The router's classifier as a LangChain decision model (``langchain_core.decisions``).

For the agents' ``ModelRouterMiddleware`` and any code that asks typed questions.

``SmartRouteDecisionModel`` answers, offline and with no model call:

- a ``Choice`` among routes (``ModelRouterMiddleware``'s question): each label is a catalog
  model or is mapped to one (``routes={"fast": "gpt-4.1-nano", ...}``); the router's decision
  picks the label (the chosen model's, else the next stronger label's), and the probabilities
  are the classifier's mass on each label's models through the policy table;
- a ``Choice`` whose labels are the router's domains (``coding``, ``math``, …): the domain
  probabilities;
- a three-level ``Score`` (simple, moderate, complex): the complexity distribution.

Needs langchain-core 1.8 or later (``pip install 'smartroute-graph[agents]'``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.decisions import (
    BaseDecisionModel,
    Choice,
    ChoiceAnswer,
    ClassifierResponse,
    Question,
    Score,
    ScoreAnswer,
)
from langchain_core.messages import BaseMessage
from pydantic import ConfigDict, Field

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS
from smartroute_graph.routing.policy import RoutingDecision
from smartroute_graph.runnable import SmartRouter

__all__ = ["SmartRouteDecisionModel"]


class SmartRouteDecisionModel(BaseDecisionModel):
    """The router's encoder and policy as a decision model (see the module docstring).

    Args:
        router: the router whose classifier and policy answer.
        routes: route label → catalog model, for labels that are not catalog names.
        model: the name reported to tracing (default: the router's classifier).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: SmartRouter = Field(exclude=True)
    routes: dict[str, str] = Field(default_factory=dict)
    model: str = ""

    def model_post_init(self, context: Any, /) -> None:
        """Check the routes and name the model."""
        unknown = {m for m in self.routes.values() if m not in self.router.catalog}
        if unknown:
            raise ConfigError(
                f"routes name models not in the catalog: {sorted(unknown)}; the catalog has: "
                f"{', '.join(self.router.catalog)}"
            )
        if not self.model:
            self.model = f"smartroute:{self.router.classifier.name}"

    @property
    def _provider(self) -> str:
        return "smartroute"

    def _classify(self, state: Any, questions: dict[str, Question]) -> ClassifierResponse:
        return self._answer(self.router.route(_messages(state)), questions)

    async def _aclassify(self, state: Any, questions: dict[str, Question]) -> ClassifierResponse:
        return self._answer(await self.router.aroute(_messages(state)), questions)

    def _answer(
        self, decision: RoutingDecision, questions: Mapping[str, Question]
    ) -> ClassifierResponse:
        answers: dict[str, Any] = {}
        for key, question in questions.items():
            if isinstance(question, Choice):
                answers[key] = self._choice(decision, list(question.criteria))
            elif isinstance(question, Score) and len(question.criteria) == len(COMPLEXITIES):
                probs = {i: decision.complexity_probs[c] for i, c in enumerate(COMPLEXITIES)}
                answers[key] = ScoreAnswer(
                    type="score",
                    score=sum(i * p for i, p in probs.items()),
                    legend=dict(enumerate(question.criteria)),
                    probabilities=probs,
                    confidence=max(probs.values()),
                )
            else:
                raise ConfigError(
                    f"question {key!r} ({question.type}) cannot be answered by the router: it "
                    "answers Choice questions among routes or domains and three-level Score "
                    "questions (complexity: simple, moderate, complex)"
                )
        return ClassifierResponse(model=self.model, answers=answers)

    def _choice(self, decision: RoutingDecision, labels: Sequence[str]) -> ChoiceAnswer:
        if set(labels) <= set(DOMAINS):
            probs = {label: decision.domain_probs.get(label, 0.0) for label in labels}
            choice = max(labels, key=lambda label: probs[label])
            return _choice_answer(choice, probs)
        catalog = self.router.catalog
        models = {label: self.routes.get(label, label) for label in labels}
        unknown = [label for label, model in models.items() if model not in catalog]
        if unknown:
            raise ConfigError(
                f"route labels {unknown} are neither catalog models nor mapped to one: pass "
                f"routes={{label: model}} (catalog: {', '.join(catalog)})"
            )
        by_strength = sorted(labels, key=lambda label: catalog.ladder.index(models[label]))
        tier = catalog[decision.model].tier
        exact = [label for label in by_strength if models[label] == decision.model]
        stronger = [label for label in by_strength if catalog[models[label]].tier >= tier]
        choice = (exact or stronger or by_strength[-1:])[0]
        table = self.router.policy.table
        mass = dict.fromkeys(labels, 0.0)
        for domain in DOMAINS:
            p_domain = decision.domain_probs.get(domain, 0.0)
            for level in COMPLEXITIES:
                model = table[domain][level]
                for label in labels:
                    if models[label] == model:
                        mass[label] += p_domain * decision.complexity_probs[level]
        total = sum(mass.values())
        probs = {k: v / total for k, v in mass.items()} if total else dict.fromkeys(labels, 0.0)
        if not total:
            probs[choice] = 1.0
        return _choice_answer(choice, probs, confidence=decision.confidence)


def _choice_answer(
    choice: str, probs: dict[str, float], confidence: float | None = None
) -> ChoiceAnswer:
    return ChoiceAnswer(
        type="choice",
        choice=choice,
        probabilities=probs,
        confidence=min(1.0, max(0.0, probs[choice] if confidence is None else confidence)),
    )


def _messages(state: Any) -> Any:
    """Router input from a decision model's state (text, messages or JSON)."""
    if isinstance(state, str | BaseMessage):
        return state
    if isinstance(state, Sequence) and all(isinstance(m, BaseMessage) for m in state):
        return list(state)
    return json.dumps(state, default=str, ensure_ascii=False)
