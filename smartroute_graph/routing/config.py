"""Router configuration from YAML, TOML, JSON or a dict, validated with pydantic."""

from __future__ import annotations

import argparse
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from smartroute_graph.core.catalog import PRESETS, ModelSpec
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.routing.settings import SETTING_NAMES, RouterSettings

__all__ = [
    "LearningConfig",
    "PolicyConfig",
    "RouterConfig",
    "add_router_options",
    "load_config",
]


# Settings a config may also give inside its ``policy:`` / ``learning:`` sections, where
# earlier versions kept them.
_SECTION_SETTINGS = {
    "policy": ("confidence_threshold", "max_attempts", "complexity_cutoffs"),
    "learning": ("learn", "quality_tolerance", "cost_weight"),
}
# Settings that are also how the router is built: their own keys, not defaults per call.
_BUILD_KEYS = ("preset", "classifier")


def _checked_settings(values: Any) -> dict[str, Any]:
    """Validate the settings a config gives; only the ones given come back."""
    model = RouterSettings.model_validate(values)
    return {name: getattr(model, name) for name in values}


class PolicyConfig(BaseModel):
    """The policy table of a config (the rule thresholds are settings)."""

    model_config = ConfigDict(extra="forbid")

    table: dict[str, dict[str, str]] | None = Field(
        default=None, description="domain → complexity → model; missing cells use the preset"
    )


class LearningConfig(BaseModel):
    """Learning from outcomes (docs/learning.md): where outcomes are kept."""

    model_config = ConfigDict(extra="forbid")

    outcome_store: str = Field(
        description="a SQLite file path or sqlite:///PATH, or postgresql://... (postgres extra)"
    )


class RouterConfig(BaseModel):
    """A whole router: a preset to start from, models to add or override, the policy table.

    It also holds defaults for any routing setting: every field of :class:`RouterContext`, at the
    top level (the rule thresholds may also sit under ``policy:``, the operating point under
    ``learning:``).
    """

    model_config = ConfigDict(extra="forbid")

    preset: str | None = Field(default="openai", description="'openai', 'openrouter' or null")
    models: list[ModelSpec] = Field(default_factory=list)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    classifier: str = "default"
    learning: LearningConfig | None = None
    settings: Annotated[dict[str, Any], BeforeValidator(_checked_settings)] = Field(
        default_factory=dict, description="routing settings given (RouterContext fields)"
    )

    @model_validator(mode="before")
    @classmethod
    def _gather_settings(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        settings = dict(data.pop("settings", None) or {})
        for name in SETTING_NAMES - set(_BUILD_KEYS):
            if name in data:
                settings[name] = data.pop(name)
        for section, names in _SECTION_SETTINGS.items():
            if not isinstance(data.get(section), Mapping):
                continue
            data[section] = dict(data[section])
            for name in names:
                if name in data[section]:
                    if name in settings:
                        raise ValueError(f"{name} is given twice (top level and {section}:)")
                    settings[name] = data[section].pop(name)
        data["settings"] = settings
        return data


def load_config(source: str | Path | Mapping[str, Any]) -> RouterConfig:
    """Load and validate a config; errors name the file and the bad field."""
    where = "config"
    if isinstance(source, Mapping):
        data: Any = dict(source)
    elif not isinstance(source, str | Path):
        data = source  # reported below as the wrong shape
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ConfigError(f"config file {where!r} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"config file {where!r} is not UTF-8 text (byte {exc.start} cannot be "
                f"decoded: {exc.reason}): save it as UTF-8"
            ) from None
        except OSError as exc:
            raise ConfigError(f"config file {where!r} cannot be read: {exc.strerror}") from None
        try:
            if path.suffix in (".yaml", ".yml"):
                data = yaml.safe_load(text)
            elif path.suffix == ".toml":
                data = tomllib.loads(text)
            elif path.suffix == ".json":
                data = json.loads(text)
            else:
                raise ConfigError(
                    f"config file {where!r}: unknown format {path.suffix!r}; use .yaml, .toml "
                    "or .json"
                )
        except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"config file {where!r} is not valid {path.suffix[1:]}: {exc}"
            ) from None
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        config = RouterConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_where(err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{where} is invalid: {problems}") from None
    if config.preset is not None and config.preset not in PRESETS:
        raise ConfigError(
            f"{where} is invalid: preset: unknown preset {config.preset!r}; choose one of "
            f"{', '.join(PRESETS)} or null"
        )
    if config.preset is None and not config.models:
        raise ConfigError(f"{where} is invalid: models: with no preset, list at least one model")
    return config


def _where(loc: tuple[Any, ...]) -> str:
    """A config error's place as the file spells it (settings sit at the top level)."""
    parts = [str(p) for p in loc]
    if parts[:1] == ["settings"]:
        parts = parts[1:] or ["complexity_cutoffs"]
    return ".".join(parts) or "(top level)"


def add_router_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--preset``, ``--config`` and ``--classifier``: how a command builds its router."""
    parser.add_argument(
        "--preset",
        default="openai",
        choices=sorted(PRESETS),
        help="catalog and policy to route with (default: openai)",
    )
    parser.add_argument("--config", help="router config file (.yaml, .toml or .json)")
    parser.add_argument("--classifier", help="classifier backend (default: the shipped default)")
