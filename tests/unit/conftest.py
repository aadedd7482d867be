"""Unit tests run offline: sockets off (unix sockets stay, asyncio needs them), no keys."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pytest_socket import disable_socket

from smartroute_graph import SmartRouter
from smartroute_graph.testing import FakeChatModel
from tests.support.fakes import fake_models

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ["LANGSMITH_TEST_TRACKING"] = "false"


def pytest_runtest_setup() -> None:
    disable_socket(allow_unix_socket=True)


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "LANGSMITH_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def fakes() -> dict[str, FakeChatModel]:
    """One scripted model per openai-preset name; each answer names its model."""
    return fake_models()


@pytest.fixture
def router(fakes: dict[str, FakeChatModel]) -> SmartRouter:
    return SmartRouter.from_preset("openai", models=fakes)
