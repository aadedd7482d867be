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

import os
from typing import Any

from smartroute_graph.serving.command import DEFAULT_TOKEN_ENV, args_from_env, build_app

__all__ = ["app_from_env"]


def app_from_env() -> Any:
    """The app, built from the environment (``uvicorn --factory``; see the module)."""
    args = args_from_env(os.environ)
    if getattr(args, "token_env", None) is None:
        args.token_env = DEFAULT_TOKEN_ENV
    return build_app(args)
