"""Router configuration from YAML, TOML, JSON or a dict, validated with pydantic."""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from smartroute_graph.core.catalog import PRESETS, ModelSpec
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.policy import DEFAULT_CONFIDENCE_THRESHOLD, DEFAULT_MAX_ATTEMPTS

__all__ = [
    "LearningConfig",
    "PolicyConfig",
    "RouterConfig",
    "add_router_options",
    "add_settings_options",
    "load_config",
    "settings_from_args",
]


class PolicyConfig(BaseModel):
    """The policy part of a config: the table and the rule thresholds."""

    model_config = ConfigDict(extra="forbid")

    table: dict[str, dict[str, str]] | None = Field(
        default=None, description="domain → complexity → model; missing cells use the preset"
    )
    confidence_threshold: float = Field(default=DEFAULT_CONFIDENCE_THRESHOLD, ge=0.0, le=1.0)
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, le=10)
    complexity_cutoffs: tuple[float, float] | None = Field(
        default=None,
        description="(low, high) on complexity_score: below low is simple, at or above high "
        "is complex; null takes the classifier's most likely level",
    )

    @model_validator(mode="after")
    def _cutoffs_in_order(self) -> PolicyConfig:
        if self.complexity_cutoffs is not None:
            low, high = self.complexity_cutoffs
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(
                    "complexity_cutoffs must be [low, high] with 0 <= low <= high <= 1"
                )
        return self


class LearningConfig(BaseModel):
    """Learning from outcomes (docs/learning.md): the outcome store and the operating point."""

    model_config = ConfigDict(extra="forbid")

    outcome_store: str = Field(
        description="a SQLite file path or sqlite:///PATH, or postgresql://... (postgres extra)"
    )
    learn: bool = True
    quality_tolerance: float | None = Field(default=None, ge=0.0, le=1.0)
    cost_weight: float | None = Field(default=None, ge=0.0)


class RouterConfig(BaseModel):
    """A whole router: a preset to start from, models to add or override, the policy."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = Field(default="openai", description="'openai', 'openrouter' or null")
    models: list[ModelSpec] = Field(default_factory=list)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    classifier: str = "default"
    timeout_s: float | None = Field(default=60.0, gt=0)
    first_token_timeout_s: float | None = Field(default=None, gt=0)
    total_timeout_s: float | None = Field(default=None, gt=0)
    budget_usd: float | None = Field(default=None, gt=0)
    learning: LearningConfig | None = None


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
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{where} is invalid: {problems}") from None
    if config.preset is not None and config.preset not in PRESETS:
        raise ConfigError(
            f"{where} is invalid: preset: unknown preset {config.preset!r}; choose one of "
            f"{', '.join(PRESETS)} or null"
        )
    if config.preset is None and not config.models:
        raise ConfigError(f"{where} is invalid: models: with no preset, list at least one model")
    return config


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


_SETTING_DEST = "setting_"
# Older spellings that stay accepted.
_SETTING_ALIASES = {"budget_usd": ("--budget",)}


def add_settings_options(
    parser: argparse.ArgumentParser, *, skip: tuple[str, ...] = ("preset", "classifier")
) -> None:
    """Add one flag per per-run setting, derived from :class:`RouterContext` (its one
    declaration): ``--budget-usd``, ``--review``, ``--timeout-s``, ``--dry-run``, … with the
    fields' descriptions as help. :func:`settings_from_args` reads back the ones given.
    """
    hints = get_type_hints(RouterContext)
    for spec in dataclasses.fields(RouterContext):
        if spec.name in skip:
            continue
        names = ("--" + spec.name.replace("_", "-"), *_SETTING_ALIASES.get(spec.name, ()))
        kwargs: dict[str, Any] = {
            "dest": _SETTING_DEST + spec.name,
            "default": argparse.SUPPRESS,
            "help": spec.metadata.get("description"),
        }
        kinds = [t for t in get_args(hints[spec.name]) if t is not type(None)] or [hints[spec.name]]
        kind = kinds[0]
        if kind is bool and spec.default is False:
            kwargs["action"] = "store_true"
        elif kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif get_origin(kind) is tuple:
            kwargs.update(nargs=len(get_args(kind)), type=get_args(kind)[0], metavar="X")
        else:
            kwargs.update(type=kind, metavar=spec.name.upper())
        parser.add_argument(*names, **kwargs)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The per-run settings given on the command line (see :func:`add_settings_options`)."""
    return {
        name.removeprefix(_SETTING_DEST): value
        for name, value in vars(args).items()
        if name.startswith(_SETTING_DEST)
    }
