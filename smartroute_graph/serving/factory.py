"""The app as an import-string factory, for several worker processes.

``uvicorn --workers N`` (and ``smartroute serve --workers N``, which runs it) starts each
worker by importing the app, so the app must be built from an import string and the
environment, not handed over as an object. :func:`app_from_env` builds it from
``SMARTROUTE_SERVE_<OPTION>`` variables, one per ``smartroute serve`` option (``--cache``:
``SMARTROUTE_SERVE_CACHE``, ``--rate-limit``: ``SMARTROUTE_SERVE_RATE_LIMIT``, a flag:
``1``)::

    export SMARTROUTE_SERVE_CACHE=redis://localhost:6379/0
    export SMARTROUTE_SERVE_REDIS=redis://localhost:6379/0
    uvicorn --factory smartroute_graph.serving.factory:app_from_env --workers 4

Secrets stay in the variables they are read from (``--token-env``, a callers file's
``token_env``), never in these.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.serving.command import DEFAULT_TOKEN_ENV, add_parser, build_app

__all__ = ["ENV_PREFIX", "FACTORY", "app_from_env", "args_from_env", "env_from_args"]

ENV_PREFIX = "SMARTROUTE_SERVE_"
FACTORY = "smartroute_graph.serving.factory:app_from_env"
# Options of the process that starts the workers, not of the app.
_NOT_APP = frozenset({"help", "host", "port", "keep_alive", "log_level", "func"})


def _parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="smartroute")
    sub = root.add_subparsers()
    return add_parser(sub)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.dest not in _NOT_APP]


def _env_name(action: argparse.Action) -> str:
    name = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.dest
    return ENV_PREFIX + name.lstrip("-").replace("-", "_").upper()


def env_from_args(args: argparse.Namespace) -> dict[str, str]:
    """The ``SMARTROUTE_SERVE_*`` variables that rebuild ``args`` (options left at their
    defaults are left out).
    """
    env: dict[str, str] = {}
    for action in _options(_parser()):
        if not hasattr(args, action.dest):
            continue
        value = getattr(args, action.dest)
        if value is None or value == action.default or value is argparse.SUPPRESS:
            continue
        if action.nargs == 0:
            env[_env_name(action)] = "1" if value else "0"
        elif isinstance(value, list | tuple):
            env[_env_name(action)] = " ".join(str(v) for v in value)
        else:
            env[_env_name(action)] = str(value)
    return env


def args_from_env(environ: Mapping[str, str]) -> argparse.Namespace:
    """The ``serve`` options the ``SMARTROUTE_SERVE_*`` variables of ``environ`` give.

    Raises:
        ConfigError: a variable's value is not valid for its option.
    """
    parser = _parser()
    argv: list[str] = []
    for action in _options(parser):
        value = environ.get(_env_name(action))
        if value is None or value == "":
            continue
        option = action.option_strings[-1]
        if action.nargs == 0:
            if value.strip().lower() in ("1", "true", "yes", "on"):
                argv.append(option)
        elif action.nargs not in (None, "?"):
            argv.extend([option, *value.split()])
        else:
            argv.extend([option, value])
    try:
        return parser.parse_args(argv)
    except SystemExit:
        raise ConfigError(
            f"the {ENV_PREFIX}* variables do not make valid serve options: {' '.join(argv)}"
        ) from None


def app_from_env() -> Any:
    """The app, built from the environment (``uvicorn --factory``; see the module)."""
    args = args_from_env(os.environ)
    if getattr(args, "token_env", None) is None:
        args.token_env = DEFAULT_TOKEN_ENV
    return build_app(args)
