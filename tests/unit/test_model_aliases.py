"""The older OpenRouter router's model names as aliases, and OPENROUTER_BASE_URL."""

from __future__ import annotations

import pytest

from smartroute_graph import SmartRouter
from smartroute_graph.core.catalog import Catalog, ModelSpec, preset_catalog
from smartroute_graph.core.errors import ConfigError, UnknownModelError
from smartroute_graph.core.providers import OPENROUTER_BASE_URL, ModelProvider
from smartroute_graph.testing import FakeChatModel

OLD_NAMES = {
    "deepseek-r1": "deepseek-r1",
    "mistral-small": "mistral-small",
    "qwen": "qwen-2.5-72b",
    "gemini-flash": "gemini-flash",
    "llama-3.3": "llama-3.3-70b",
}


def _router() -> SmartRouter:
    models = {
        name: FakeChatModel(responses=[f"answer from {name}"], model_name=name)
        for name in preset_catalog("openrouter")
    }
    return SmartRouter.from_preset("openrouter", models=models, classifier="rules")


@pytest.mark.parametrize(("old", "name"), sorted(OLD_NAMES.items()))
def test_old_names_resolve_to_the_openrouter_models(old: str, name: str) -> None:
    catalog = preset_catalog("openrouter")
    assert old in catalog and catalog.resolve(old) == name
    assert catalog[old] is catalog[name]
    assert list(catalog) == list(catalog.ladder) or set(catalog) == set(OLD_NAMES.values())
    assert old == name or old not in list(catalog)  # aliases are not listed as models


def test_an_alias_forces_its_model_everywhere_a_name_is_taken() -> None:
    router = _router()
    message = router.invoke("hello", model="llama-3.3")
    assert message.response_metadata["smartroute"]["model"] == "llama-3.3-70b"
    assert message.text == "answer from llama-3.3-70b"
    assert router.route("hello", model="qwen").model == "qwen-2.5-72b"
    report = router.compare("hello", models=["qwen", "qwen-2.5-72b", "deepseek-r1"])
    assert [r.model for r in report.results] == ["qwen-2.5-72b", "deepseek-r1"]
    with pytest.raises(UnknownModelError, match=r"also: qwen, llama-3.3"):
        router.route("hello", model="llama-4")


def test_an_alias_may_not_name_two_models() -> None:
    spec = preset_catalog("openrouter")["qwen"]
    twin = spec.model_copy(update={"name": "qwen-3", "aliases": ("qwen",)})
    with pytest.raises(ConfigError, match="alias 'qwen'"):
        Catalog([spec, twin])
    clash = spec.model_copy(update={"name": "other", "aliases": ("deepseek-r1",)})
    with pytest.raises(ConfigError, match="alias 'deepseek-r1'"):
        Catalog([*preset_catalog("openrouter").values(), clash])
    custom = ModelSpec(
        name="mine", input_price_per_m=1, output_price_per_m=1, context_window=1000, tier=1,
        aliases=("my-old-name",),
    )  # fmt: skip
    assert Catalog([custom]).resolve("my-old-name") == "mine"


def test_openrouter_base_url_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = preset_catalog("openrouter")["deepseek-r1"]
    monkeypatch.delenv("OPENROUTER_BASE_URL", raising=False)
    model = ModelProvider(api_keys={"openrouter": "sk-or-test-key-0000"}).get(spec)
    assert str(model.openai_api_base).rstrip("/") == OPENROUTER_BASE_URL  # type: ignore[attr-defined]
    monkeypatch.setenv("OPENROUTER_BASE_URL", "http://127.0.0.1:9/v1")
    model = ModelProvider(api_keys={"openrouter": "sk-or-test-key-0000"}).get(spec)
    assert model.openai_api_base == "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]


def test_key_source_names_where_a_key_would_come_from(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = preset_catalog("openrouter")["qwen"]
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    assert ModelProvider().key_source(spec) is None
    assert ModelProvider().key_source(spec, {"openrouter": "k"}) == "request"
    assert ModelProvider(api_keys={"openrouter": "k-000000"}).key_source(spec) == "router"
    monkeypatch.setenv("OPENROUTER_API_KEY", "env-key-000")
    assert ModelProvider().key_source(spec) == "environment"
    assert ModelProvider().key_source(spec, own_keys_only=True) is None
    ready = ModelProvider(models={"qwen-2.5-72b": FakeChatModel(responses=["x"])})
    assert ready.key_source(spec) == "model"
    assert ready.key_source(spec, {"openrouter": "k"}, own_keys_only=True) is None
