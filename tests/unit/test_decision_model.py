"""The router's classifier as a LangChain decision model, driving the agents'
``ModelRouterMiddleware`` (langchain) with no model call of its own.
"""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("langchain_core.decisions", reason="decision models need langchain-core 1.8")
agents = pytest.importorskip("langchain.agents", reason="the agents extra (langchain) is absent")

from langchain_core.decisions import Choice, Noul, Score  # noqa: E402

from smartroute_graph import SmartRouter  # noqa: E402
from smartroute_graph.core.errors import ConfigError  # noqa: E402
from smartroute_graph.decision_model import SmartRouteDecisionModel  # noqa: E402
from smartroute_graph.testing import FakeChatModel  # noqa: E402
from tests.support.fakes import fake_models  # noqa: E402

PROOF = "Prove that there are infinitely many primes, rigorously, step by step."


@pytest.fixture
def decider() -> SmartRouteDecisionModel:
    router = SmartRouter.from_preset("openai", models=fake_models())
    return SmartRouteDecisionModel(router=router, routes={"fast": "gpt-4.1-nano"})


def test_choice_among_routes_domains_and_a_complexity_score(
    decider: SmartRouteDecisionModel,
) -> None:
    routes = Choice(instructions="Pick a model.", criteria={"fast": "easy", "o4-mini": "hard"})
    domains = Choice(instructions="Domain?", criteria={"math": "m", "chat": "c", "coding": "x"})
    level = Score(instructions="How hard?", criteria=["simple", "moderate", "complex"])
    questions = {"route": routes, "domain": domains, "level": level}
    easy = decider.invoke({"state": "hi there!", "questions": questions})
    hard = decider.invoke({"state": PROOF, "questions": questions})
    assert easy.choices["route"].choice == "fast" and hard.choices["route"].choice == "o4-mini"
    assert easy.choices["domain"].choice == "chat" and hard.choices["domain"].choice == "math"
    assert abs(sum(hard.choices["route"].probabilities.values()) - 1) < 1e-6
    assert hard.scores["level"].score > easy.scores["level"].score
    with pytest.raises(ConfigError, match="cannot be answered by the router"):
        decider.invoke({"state": "hi", "questions": {"q": Noul(instructions="urgent?")}})
    bad = Choice(instructions="?", criteria={"cheap": "x"})
    with pytest.raises(ConfigError, match="neither catalog models nor mapped"):
        decider.invoke({"state": "hi", "questions": {"q": bad}})


def test_it_drives_the_agents_model_router_middleware(decider: SmartRouteDecisionModel) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the middleware is marked beta
        from langchain.agents.middleware import ModelChoice, ModelRouterMiddleware

        fast = FakeChatModel(responses=["fast answer"], model_name="fast")
        strong = FakeChatModel(responses=["strong answer"], model_name="strong")
        middleware = ModelRouterMiddleware(
            choices={
                "fast": ModelChoice(model=fast, criteria="simple requests"),
                "o4-mini": ModelChoice(model=strong, criteria="hard reasoning"),
            },
            instructions="Choose the cheapest model suited to the task.",
            classifier=decider,
        )
        agent = agents.create_agent(FakeChatModel(), tools=[], middleware=[middleware])
    greeting = agent.invoke({"messages": [("user", "hi there!")]})
    proof = agent.invoke({"messages": [("user", PROOF)]})
    assert greeting["messages"][-1].text == "fast answer"
    assert proof["messages"][-1].text == "strong answer"
    assert proof["model_route"].choice == "o4-mini"
