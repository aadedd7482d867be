"""langchain-tests' standard unit suite for ``ChatSmartRouter`` (scripted models, offline)."""

from __future__ import annotations

from langchain_tests.unit_tests import ChatModelUnitTests

from tests.support.standard_suites import RouterSuiteSettings


class TestChatSmartRouterUnit(RouterSuiteSettings, ChatModelUnitTests):
    """The standard unit tests (serialisation and init-from-env skip: the router is built
    from Python objects, not from serialisable settings or environment variables).
    """
