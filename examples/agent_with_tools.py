"""The router as the model of a tool-calling agent (``langchain.agents.create_agent``).

``ChatSmartRouter`` is a LangChain chat model: the agent binds its tools to it, the router
picks a model for the task and hands that model the tools; the model asks for a tool, the
agent runs it, and the conversation stays on that model until it answers (a tool loop keeps
its model; the next user request is routed anew). Then ``with_structured_output`` through the
same router.

Runs offline by default: each model of the ``openai`` preset is a scripted ``FakeChatModel``
that first asks for the weather tool, then answers from its result. With ``OPENAI_API_KEY``
set it calls the real models instead. Needs ``langchain`` (``pip install -e ".[agents]"``).

    python examples/agent_with_tools.py
"""

from __future__ import annotations

import os

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from smartroute_graph import ChatSmartRouter, CostTracker, SmartRouter
from smartroute_graph.testing import FakeChatModel


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"It is 18°C and sunny in {city}."


class Trip(BaseModel):
    """A weekend trip suggestion."""

    city: str = Field(description="where to go")
    reason: str = Field(description="why, in one sentence")


def offline_models() -> dict[str, BaseChatModel]:
    """Scripted stand-ins: ask for the weather in Lisbon, then answer from the tool's result;
    and a JSON reply for the structured-output request.
    """
    call = {"name": "get_weather", "args": {"city": "Lisbon"}, "id": None}
    ask = AIMessage("", tool_calls=[call])

    def script(name: str) -> list[str | AIMessage]:
        answer = f"[{name}] Lisbon is sunny and 18°C: a good weekend for a walk by the river."
        trip = '{"city": "Lisbon", "reason": "sunny, mild and walkable"}'
        return [ask, answer, trip]

    return {
        name: FakeChatModel(responses=script(name), model_name=name)
        for name in ("gpt-4.1-nano", "gpt-4.1", "o4-mini")
    }


def make_router() -> SmartRouter:
    if os.environ.get("OPENAI_API_KEY"):
        print("OPENAI_API_KEY is set: calling the real openai preset models\n")
        return SmartRouter.from_preset("openai")
    print("No OPENAI_API_KEY: using offline FakeChatModel stand-ins\n")
    return SmartRouter.from_preset("openai", models=offline_models())


def main() -> None:
    model = ChatSmartRouter(router=make_router())
    agent = create_agent(
        model,
        tools=[get_weather],
        system_prompt="You are a travel assistant. Use the tools; answer in one sentence.",
    )
    tracker = CostTracker()
    question = "What's the weather like in Lisbon this weekend? Should I go for a walk?"
    result = agent.invoke({"messages": [("user", question)]}, config={"callbacks": [tracker]})

    print("== the agent's conversation")
    for message in result["messages"]:
        routed = message.response_metadata.get("smartroute") if message.type == "ai" else None
        calls = getattr(message, "tool_calls", None)
        said = f"calls {calls[0]['name']}({calls[0]['args']})" if calls else message.text
        print(f"{message.type:>5}: {said}")
        if routed:
            print(f"       routed to {routed['model']}: {routed['reason']}")

    print("\n== structured output through the router")
    trip = model.with_structured_output(Trip).invoke("Suggest a sunny city for a weekend trip.")
    print(repr(trip))

    print(f"\n== cost: {tracker.calls} model calls, total ${tracker.total_cost_usd:.6f}")


if __name__ == "__main__":
    main()
