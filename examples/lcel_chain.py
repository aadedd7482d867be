"""The router inside an LCEL chain: ``prompt | router | StrOutputParser()``.

Shows invoke, stream (tokens printed as they arrive), batch, the routing metadata on the
router's ``AIMessage`` (``response_metadata["smartroute"]``) and a ``CostTracker`` callback
that totals the cost of every model call.

Runs offline by default: each model of the ``openai`` preset is a scripted
``FakeChatModel``. With ``OPENAI_API_KEY`` set it calls the real models instead.

    python examples/lcel_chain.py
"""

from __future__ import annotations

import os

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig

from smartroute_graph import CostTracker, SmartRouter
from smartroute_graph.testing import FakeChatModel


def offline_models() -> dict[str, BaseChatModel]:
    """A scripted stand-in for each model of the ``openai`` preset."""
    return {
        name: FakeChatModel(
            responses=[f"[{name}] Here is a short, careful answer to your question."],
            model_name=name,
        )
        for name in ("gpt-4.1-nano", "gpt-4.1", "o4-mini")
    }


def make_router() -> SmartRouter:
    if os.environ.get("OPENAI_API_KEY"):
        print("OPENAI_API_KEY is set: calling the real openai preset models\n")
        return SmartRouter.from_preset("openai")
    print("No OPENAI_API_KEY: using offline FakeChatModel stand-ins\n")
    return SmartRouter.from_preset("openai", models=offline_models())


def main() -> None:
    router = make_router()
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a concise assistant."), ("human", "{question}")]
    )
    chain = prompt | router | StrOutputParser()
    tracker = CostTracker()
    config: RunnableConfig = {"callbacks": [tracker]}

    # invoke: one question, one answer string.
    print("== invoke")
    answer = chain.invoke({"question": "What is the capital of Australia?"}, config=config)
    print(answer)

    # stream: the chosen model's tokens as they arrive.
    print("\n== stream")
    for token in chain.stream(
        {"question": "Write a haiku about routers choosing models."}, config=config
    ):
        print(token, end="", flush=True)
    print()

    # batch: several questions at once (run concurrently).
    print("\n== batch")
    questions = [
        "hi there!",
        "Write a Python function that reverses a linked list.",
        "Prove that sqrt(2) is irrational.",
    ]
    answers = chain.batch([{"question": q} for q in questions], config=config)
    for question, text in zip(questions, answers, strict=True):
        print(f"{question!r:58} -> {text}")

    # The routing metadata lives on the router's AIMessage: stop the chain before the parser.
    print("\n== response_metadata['smartroute']")
    message = (prompt | router).invoke(
        {"question": "Design a rate limiter for a distributed API, with the trade-offs."},
        config=config,
    )
    meta = message.response_metadata["smartroute"]
    for key in ("domain", "complexity", "confidence", "model", "reason", "cost_usd"):
        print(f"  {key:11} {meta[key]}")
    print(f"  attempts    {[(a['model'], a['ok']) for a in meta['attempts']]}")

    print("\n== CostTracker")
    print(f"  calls:      {tracker.calls}")
    print(f"  tokens:     {tracker.input_tokens} in / {tracker.output_tokens} out")
    print(f"  by model:   { {m: round(c, 6) for m, c in tracker.by_model.items()} }")
    print(f"  total cost: ${tracker.total_cost_usd:.6f}")


if __name__ == "__main__":
    main()
