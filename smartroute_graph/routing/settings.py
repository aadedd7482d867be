"""Views of the one settings declaration (:class:`RouterContext`) for each place settings enter.

- :data:`RouterSettings`: a pydantic model with every setting, its bounds and description
  (validates ``SmartRouter`` keyword arguments, per-call settings and the config file's keys).
- :func:`setting_field`: a pydantic field for one setting (the HTTP API's request bodies).
- :func:`add_settings_options` / :func:`settings_from_args`: one command-line flag per setting.

A new setting is one field of :class:`RouterContext`; each view picks it up from there.
"""

from __future__ import annotations

import argparse
import dataclasses
import operator
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.routing.context import RouterContext

__all__ = [
    "SETTING_NAMES",
    "RouterSettings",
    "add_settings_options",
    "check_bounds",
    "setting_field",
    "settings_from_args",
    "validate_settings",
]

_FIELDS = {spec.name: spec for spec in dataclasses.fields(RouterContext)}
_HINTS = get_type_hints(RouterContext)
SETTING_NAMES: frozenset[str] = frozenset(_FIELDS)
"""The name of every routing setting (the fields of :class:`RouterContext`)."""


def setting_field(name: str, **overrides: Any) -> Any:
    """A pydantic ``Field`` for setting ``name``: its default, description and bounds.

    ``overrides`` replace any of them (e.g. ``default=None`` where an endpoint leaves the
    setting to the router).
    """
    spec = _FIELDS[name]
    kwargs: dict[str, Any] = {
        "default": spec.default,
        "description": spec.metadata["description"],
        **spec.metadata["bounds"],
    }
    return Field(**{**kwargs, **overrides})


class _SettingsBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _cutoffs_in_order(self) -> _SettingsBase:
        cutoffs = getattr(self, "complexity_cutoffs", None)
        if cutoffs is not None and not 0.0 <= cutoffs[0] <= cutoffs[1] <= 1.0:
            raise ValueError("complexity_cutoffs must be [low, high] with 0 <= low <= high <= 1")
        return self


RouterSettings: type[BaseModel] = create_model(
    "RouterSettings",
    __base__=_SettingsBase,
    **{name: (_HINTS[name], setting_field(name)) for name in _FIELDS},  # type: ignore[call-overload]
)
"""Every routing setting as a pydantic model, derived from :class:`RouterContext`."""


def validate_settings(values: Mapping[str, Any], *, where: str = "settings") -> dict[str, Any]:
    """Check routing settings by name and value; return them (coerced) as a dict.

    Only the names given come back, so the result can override a router's defaults.

    Raises:
        ConfigError: an unknown name (the message lists the valid ones) or a value out of
            bounds or of the wrong type (the message names the setting and the rule).
    """
    unknown = set(values) - SETTING_NAMES
    if unknown:
        raise ConfigError(
            f"{where}: unknown router setting(s) {sorted(unknown)}; valid: "
            f"{', '.join(sorted(SETTING_NAMES))}"
        )
    try:
        model = RouterSettings.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(_problem(err, values) for err in exc.errors())
        raise ConfigError(f"{where}: {problems}") from None
    return {name: getattr(model, name) for name in values}


_RULES: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "gt": (operator.gt, "greater than"),
    "ge": (operator.ge, "greater than or equal to"),
    "lt": (operator.lt, "less than"),
    "le": (operator.le, "less than or equal to"),
}
_BOUNDED = [
    (name, spec.metadata["bounds"]) for name, spec in _FIELDS.items() if spec.metadata["bounds"]
]


def check_bounds(context: RouterContext, *, where: str = "router setting") -> None:
    """Check a context's values against the settings' bounds (cheap: no pydantic).

    For contexts that did not come through :func:`validate_settings` (LangGraph Studio,
    ``graph.invoke(..., context=...)``).

    Raises:
        ConfigError: naming the setting, its value and the rule it breaks.
    """
    for name, bounds in _BOUNDED:
        value = getattr(context, name)
        if value is None or not bounds:
            continue
        for rule, limit in bounds.items():
            test, words = _RULES[rule]
            if not test(value, limit):
                raise ConfigError(f"{where}: {name}={value!r}: Input should be {words} {limit:g}")


def _problem(err: Any, values: Mapping[str, Any]) -> str:
    """One invalid setting as ``name=value: rule``."""
    name = str(err["loc"][0]) if err["loc"] else "complexity_cutoffs"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{name}={values.get(name)!r}: {msg}"


_SETTING_DEST = "setting_"
# Older spellings that stay accepted.
_SETTING_ALIASES = {"budget_usd": ("--budget",)}


def add_settings_options(
    parser: argparse.ArgumentParser, *, skip: tuple[str, ...] = ("preset", "classifier")
) -> None:
    """Add one flag per setting (``--budget-usd``, ``--review``, ``--timeout-s``, …).

    The fields' descriptions are the help; :func:`settings_from_args` reads back the ones
    given.
    """
    for name, spec in _FIELDS.items():
        if name in skip:
            continue
        names = ("--" + name.replace("_", "-"), *_SETTING_ALIASES.get(name, ()))
        kwargs: dict[str, Any] = {
            "dest": _SETTING_DEST + name,
            "default": argparse.SUPPRESS,
            "help": spec.metadata["description"],
        }
        hint = _HINTS[name]
        kinds = [t for t in get_args(hint) if t is not type(None)] or [hint]
        kind = kinds[0]
        if get_origin(hint) is Literal:
            kwargs["choices"] = get_args(hint)
        elif kind is bool and spec.default is False:
            kwargs["action"] = "store_true"
        elif kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif get_origin(kind) is tuple:
            kwargs.update(nargs=len(get_args(kind)), type=get_args(kind)[0], metavar="X")
        else:
            kwargs.update(type=kind, metavar=name.upper())
        parser.add_argument(*names, **kwargs)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (see :func:`add_settings_options`), checked."""
    given = {
        name.removeprefix(_SETTING_DEST): value
        for name, value in vars(args).items()
        if name.startswith(_SETTING_DEST)
    }
    return validate_settings(given, where="command line")
