"""langchain-tests' standard integration suite for ``ChatSmartRouter``: every call goes
through the router's graph to scripted models that call tools and answer in JSON as a
provider would. The suite's image, PDF and audio tests download their files from the web and
skip here (the suite marks them off by default); so does its VCR-recorded timing test.
"""

from __future__ import annotations

from langchain_tests.integration_tests import ChatModelIntegrationTests

from tests.support.standard_suites import RouterSuiteSettings


class TestChatSmartRouterIntegration(RouterSuiteSettings, ChatModelIntegrationTests):
    """The standard integration tests over scripted models."""
