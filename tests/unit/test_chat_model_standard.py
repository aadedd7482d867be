"""langchain-tests' standard unit suite for ``ChatSmartRouter`` (scripted models, offline)."""

from __future__ import annotations

from typing import Any

from langchain_tests.unit_tests import ChatModelUnitTests

from smartroute_graph.chat_model import ChatSmartRouter
from tests.support.scripted_tools import tool_router

# One router for the suite: constructing it loads the classifier; the chat model wraps it.
_ROUTER = tool_router(classifier="rules")


class TestChatSmartRouterUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatSmartRouter]:
        return ChatSmartRouter

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"router": _ROUTER}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "gpt-4.1"
