"""A scripted model that plays a tool-calling provider: it calls a bound tool when the user
asks (forced by ``tool_choice`` or not), answers in text after a tool result, and answers a
structured-output request with JSON for the schema. The standard LangChain suites and the
agent tests route over it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from smartroute_graph import SmartRouter
from smartroute_graph.testing import FakeChatModel
from tests.support.fakes import fake_models

__all__ = ["ToolCallingFake", "tool_router"]

_QUOTED = re.compile(r"'([^']+)'")


class ToolCallingFake(FakeChatModel):
    """A :class:`FakeChatModel` whose reply depends on the call: tools offered and the last
    message (see the module docstring). Integers in made-up arguments are 3; strings are the
    first quoted phrase of the user's message, else ``"San Francisco"``.
    """

    def script(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> str | AIMessage:
        structured = kwargs.get("response_format")
        if structured:
            schema = structured["json_schema"]["schema"]
            return json.dumps(_example(schema, _asked(messages)))
        tools = kwargs.get("tools") or []
        last = messages[-1] if messages else None
        if tools and last is not None and last.type != "tool":
            choice = kwargs.get("tool_choice")
            function = tools[0]["function"]
            if isinstance(choice, str) and choice not in ("any", "auto", "required", "none"):
                function = next(t["function"] for t in tools if t["function"]["name"] == choice)
            if choice != "none":
                args = _example(function.get("parameters") or {}, _asked(messages))
                return AIMessage(
                    content="", tool_calls=[{"name": function["name"], "args": args, "id": None}]
                )
        if last is not None and last.type == "tool":
            return f"{self.model_name}: the tool said {last.text}"
        return super().script(messages, kwargs)


def _asked(messages: list[BaseMessage]) -> str:
    return next((m.text for m in reversed(messages) if m.type == "human"), "")


def _example(schema: dict[str, Any], asked: str) -> dict[str, Any]:
    """An object matching a JSON schema's required properties (and the optional ones)."""
    quoted = _QUOTED.search(asked)
    text = quoted.group(1) if quoted else "San Francisco"
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type") or next(
            (p.get("type") for p in prop.get("anyOf", []) if p.get("type") != "null"), "string"
        )
        out[name] = {"integer": 3, "number": 3.0, "boolean": True, "array": [], "object": {}}.get(
            kind, text
        )
    return out


def tool_router(**kwargs: Any) -> SmartRouter:
    """A router over the openai preset's names, each a :class:`ToolCallingFake`."""
    return SmartRouter.from_preset("openai", models=fake_models(ToolCallingFake), **kwargs)
