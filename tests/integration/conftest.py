"""Integration tests start from a clean environment: no provider key or base URL from the
machine, no tracing (a test that needs one sets it itself)."""

from __future__ import annotations

import pytest

from tests.support.browser import browser
from tests.support.servers import Tracker

__all__ = ["browser", "clean_provider_env", "tracker"]


@pytest.fixture(autouse=True)
def clean_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "false")


@pytest.fixture(scope="module")
def tracker() -> Tracker:
    """One tracker for a module's scripted models."""
    return Tracker()
