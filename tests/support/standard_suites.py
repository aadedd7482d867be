"""What langchain-tests' standard chat-model suites need to know about ``ChatSmartRouter``:
one router over scripted tool-calling models, tool calling, tool choice, structured output
and JSON mode on, and a catalog model to force for the model-override tests.
"""

from __future__ import annotations

from typing import Any

from smartroute_graph.chat_model import ChatSmartRouter
from tests.support.scripted_tools import tool_router

__all__ = ["RouterSuiteSettings"]

# One router for a suite: constructing it loads the classifier; each chat model wraps it.
_ROUTER = tool_router(classifier="rules")


class RouterSuiteSettings:
    """The suite properties (mixed in before the standard suite class)."""

    @property
    def chat_model_class(self) -> type[ChatSmartRouter]:
        return ChatSmartRouter

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"router": _ROUTER}

    has_tool_calling = True
    has_tool_choice = True
    has_structured_output = True
    supports_json_mode = True
    model_override_value = "gpt-4.1"
