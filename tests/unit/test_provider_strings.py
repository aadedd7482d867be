"""Any LangChain chat model by provider string: catalog entries and ``models`` keys like
``"openai:gpt-4.1"``, values built through ``init_chat_model``, limits from model profiles.
"""

from __future__ import annotations

import importlib.util

import pytest
from langchain_openai import ChatOpenAI

from smartroute_graph import ModelSpec, SmartRouter
from smartroute_graph.core.catalog import Catalog, preset_catalog
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.testing import FakeChatModel


def test_provider_strings_name_preset_models_with_their_prices() -> None:
    catalog = Catalog(["openai:gpt-4.1", "openrouter:deepseek/deepseek-r1"])
    assert catalog["gpt-4.1"] == preset_catalog("openai")["gpt-4.1"]
    assert catalog["deepseek-r1"].provider == "openrouter"
    with pytest.raises(ConfigError, match="no prices for 'anthropic:claude-x'"):
        Catalog(["anthropic:claude-x"])
    with pytest.raises(ConfigError, match="write 'provider:model'"):
        Catalog(["gpt-4.1:"])


def test_models_keyed_by_provider_string_make_the_catalog() -> None:
    router = SmartRouter(
        models={"openai:gpt-4.1-nano": FakeChatModel(), "openai:o4-mini": FakeChatModel()},
        classifier="rules",
    )
    assert list(router.catalog) == ["gpt-4.1-nano", "o4-mini"]
    assert router.invoke("hi!").text == "ok"


def test_a_models_profile_sets_its_context_window_and_capabilities() -> None:
    small = FakeChatModel(profile={"max_input_tokens": 1000, "image_inputs": False})
    router = SmartRouter.from_preset("openai", models={"gpt-4.1-nano": small}, classifier="rules")
    spec = router.catalog["gpt-4.1-nano"]
    assert spec.context_window == 1000 and spec.supports_images is False
    assert spec.input_price_per_m == preset_catalog("openai")["gpt-4.1-nano"].input_price_per_m
    real = ChatOpenAI(model="gpt-4.1", api_key="sk-test-0123456789")  # type: ignore[arg-type]
    assert real.profile and real.profile.get("max_input_tokens")
    router = SmartRouter.from_preset("openai", models={"gpt-4.1": real}, classifier="rules")
    assert router.catalog["gpt-4.1"].context_window == real.profile["max_input_tokens"]
    assert list(router.catalog) == ["gpt-4.1-nano", "gpt-4.1", "o4-mini"]  # order kept


def test_a_string_model_is_built_through_init_chat_model() -> None:
    router = SmartRouter.from_preset(
        "openai",
        models={"gpt-4.1": "openai:gpt-4.1-mini"},
        api_keys={"openai": "sk-test-0123456789"},
        classifier="rules",
    )
    built = router.provider.get(router.catalog["gpt-4.1"])
    assert isinstance(built, ChatOpenAI) and built.model_name == "gpt-4.1-mini"
    assert built.max_retries == 0


@pytest.mark.skipif(
    importlib.util.find_spec("langchain_anthropic") is not None,
    reason="langchain-anthropic is installed: the missing-package message cannot be shown",
)
def test_a_provider_without_its_package_says_which_to_install() -> None:
    spec = ModelSpec(
        name="haiku",
        provider="anthropic",
        model_id="claude-3-5-haiku-latest",
        input_price_per_m=0.8,
        output_price_per_m=4.0,
        context_window=200_000,
        tier=1,
    )
    router = SmartRouter(catalog=[spec], classifier="rules")
    with pytest.raises(ConfigError, match="langchain-anthropic"):
        router.invoke("hi!")
    with pytest.raises(ValueError, match="is not a provider name"):
        ModelSpec(**{**spec.model_dump(), "provider": "Anthropic Inc"})
