from __future__ import annotations

from pathlib import Path

import pytest

from smartroute_graph import Catalog, ConfigError, ModelSpec, SmartRouter, load_config
from smartroute_graph.core.catalog import preset_catalog
from smartroute_graph.core.errors import UnknownModelError
from smartroute_graph.testing import FakeChatModel
from tests.support.fakes import fake_models


def spec(name: str, tier: int, price: float = 1.0, **kw: object) -> ModelSpec:
    return ModelSpec(
        name=name,
        input_price_per_m=price,
        output_price_per_m=price * 4,
        context_window=100_000,
        tier=tier,
        **kw,
    )  # type: ignore[arg-type]


def test_presets_have_their_models_in_strength_order() -> None:
    assert preset_catalog("openai").ladder == ("gpt-4.1-nano", "gpt-4.1", "o4-mini")
    openrouter = preset_catalog("openrouter")
    assert len(openrouter) == 5 and openrouter.ladder[-1] == "deepseek-r1"


def test_fallback_order_goes_up_then_down() -> None:
    catalog = Catalog([spec("a", 1), spec("b", 2), spec("c", 3)])
    assert catalog.fallback_order("a") == ["b", "c"]
    assert catalog.fallback_order("c") == ["b", "a"]
    assert catalog.stronger_than("b") == ["c"]


def test_catalog_errors() -> None:
    with pytest.raises(ConfigError, match="twice"):
        Catalog([spec("a", 1), spec("a", 2)])
    with pytest.raises(ConfigError, match="empty"):
        Catalog([])
    with pytest.raises(UnknownModelError, match="unknown model 'zz'; the catalog has: a"):
        Catalog([spec("a", 1)])["zz"]
    with pytest.raises(ValueError, match="cannot contain spaces"):
        spec("bad name", 1)
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        preset_catalog("nope")


YAML = """
preset: null
models:
  - {name: small, input_price_per_m: 0.1, output_price_per_m: 0.4, context_window: 8000, tier: 1}
  - {name: large, input_price_per_m: 2, output_price_per_m: 8, context_window: 128000, tier: 2}
policy:
  confidence_threshold: 0.2
  table:
    math: {simple: small, moderate: large, complex: large}
"""


def test_config_from_yaml_toml_json_and_dict(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(YAML)
    config = load_config(tmp_path / "r.yaml")
    assert [m.name for m in config.models] == ["small", "large"]
    assert config.settings["confidence_threshold"] == 0.2
    (tmp_path / "r.toml").write_text('preset = "openrouter"\n[policy]\nmax_attempts = 2\n')
    assert load_config(tmp_path / "r.toml").settings["max_attempts"] == 2
    (tmp_path / "r.json").write_text('{"preset": "openai", "budget_usd": 0.01}')
    assert load_config(tmp_path / "r.json").settings["budget_usd"] == 0.01
    assert load_config({"preset": "openai"}).preset == "openai"


def test_router_from_config_uses_its_models(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(YAML)
    router = SmartRouter.from_config(
        tmp_path / "r.yaml",
        models={"small": FakeChatModel(responses=["s"]), "large": FakeChatModel(responses=["L"])},
    )
    assert list(router.catalog) == ["small", "large"]
    assert router.policy.table["math"]["moderate"] == "large"
    assert router.policy.table["chat"]["simple"] == "small"  # unset cells: by tier


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"preset": "openai", "polcy": {}}, r"polcy: Extra inputs are not permitted"),
        ({"policy": {"confidence_threshold": 2}}, r"confidence_threshold: Input should be"),
        ({"models": [{"name": "x", "tier": 1}]}, r"models.0.input_price_per_m: Field required"),
        ({"preset": "azure"}, r"unknown preset 'azure'"),
        ({"preset": None}, r"list at least one model"),
        ([1, 2], r"expected a mapping"),
    ],
)
def test_bad_config_names_the_field(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(data)  # type: ignore[arg-type]


def test_bad_config_files(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("preset: [unclosed")
    with pytest.raises(ConfigError, match="is not valid yaml"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "r.ini").write_text("x")
    with pytest.raises(ConfigError, match=r"unknown format '\.ini'"):
        load_config(tmp_path / "r.ini")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_unknown_model_in_policy_table() -> None:
    with pytest.raises(ConfigError, match=r"policy table.math.simple: unknown model 'gpt-5'"):
        SmartRouter.from_config(
            {"preset": "openai", "policy": {"table": {"math": {"simple": "gpt-5"}}}}
        )
    with pytest.raises(ConfigError, match="unknown domain"):
        SmartRouter.from_preset("openai", table={"cooking": {"simple": "gpt-4.1"}})


def test_models_for_unknown_names_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"not in the catalog: \['gpt-5'\]"):
        SmartRouter.from_preset("openai", models={"gpt-5": FakeChatModel()})


def test_router_needs_a_catalog_or_preset() -> None:
    with pytest.raises(ConfigError, match="give a catalog of models or a preset"):
        SmartRouter()


def test_a_config_file_turns_learning_on(tmp_path: Path) -> None:
    store = tmp_path / "outcomes.db"
    (tmp_path / "r.yaml").write_text(
        f"preset: openai\nlearning:\n  outcome_store: {store}\n  quality_tolerance: 0.1\n"
    )
    router = SmartRouter.from_config(tmp_path / "r.yaml", models=fake_models())
    assert router.learner is not None
    router.invoke("hi there")
    router.learner.sync()
    assert store.exists()
    with pytest.raises(ConfigError, match=r"learning.outcome_store: Field required"):
        load_config({"learning": {"learn": True}})
