"""langchain-tests' standard integration suite for ``ChatSmartRouter``: every call goes
through the router's graph to scripted models that call tools and answer in JSON as a
provider would (no network; the tests that download files are off, as the suite allows).
"""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import ChatModelIntegrationTests

from smartroute_graph.chat_model import ChatSmartRouter
from tests.support.scripted_tools import tool_router

_ROUTER = tool_router(classifier="rules")


class TestChatSmartRouterIntegration(ChatModelIntegrationTests):
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
