"""``smartroute serve``: run the HTTP API (:mod:`smartroute_graph.serving.app`) with uvicorn.

Wired into the CLI by ``add_parser``; ``python -m smartroute_graph.serving.command`` runs it
alone. The server token is read from the environment variable named by ``--token-env``
(never from the command line, where other users of the machine could read it in the process
list). A server whose environment holds provider keys refuses to start without a token
unless ``--insecure-open`` is given.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from smartroute_graph.core.errors import ConfigError, SmartRouteError
from smartroute_graph.routing.config import add_router_options

__all__ = [
    "DEFAULT_KEEP_ALIVE_S",
    "DEFAULT_MAX_BODY_MB",
    "DEFAULT_TOKEN_ENV",
    "ENV_PREFIX",
    "FACTORY",
    "add_parser",
    "args_from_env",
    "build_app",
    "env_from_args",
    "main",
    "run",
    "use_server_encoder_settings",
]

DEFAULT_TOKEN_ENV = "SMARTROUTE_SERVER_TOKEN"
# Longer than the idle timeouts of common clients and proxies (httpx 5 s, load balancers
# 60 s): the client then closes an idle connection first. With uvicorn's 5 s, a busy client
# reusing a connection just as the server closes it gets a reset (measured by
# bench/bench_server_load.py: 3 of 1000 requests at 100 in flight).
DEFAULT_KEEP_ALIVE_S = 75
DEFAULT_MAX_BODY_MB = 32.0
# The server's deadlines (smartroute_graph.serving.calls), repeated here so that `--help` needs
# no server packages.
DEFAULT_FIRST_TOKEN_TIMEOUT_S = 120.0
DEFAULT_TOTAL_TIMEOUT_S = 300.0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add the ``serve`` sub-command to ``subparsers``; ``args.func(args)`` runs it."""
    p = subparsers.add_parser(
        "serve",
        help="run the HTTP API (REST, OpenAI-compatible /v1, /playground)",
        description=(
            "Serve the router over HTTP: the older systems' endpoints (/route, /query, ...), "
            "an OpenAI-compatible /v1/chat/completions, OpenAPI docs at /docs and a browser "
            "playground at /playground."
        ),
    )
    _add_arguments(p)
    p.set_defaults(func=run)
    parser: argparse.ArgumentParser = p
    return parser


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    add_router_options(p)
    p.add_argument(
        "--outcome-store",
        metavar="URL",
        help="learn from outcomes kept here (a SQLite path, sqlite:///... or postgresql://...): "
        "reviewed answers and POST /feedback become observations (docs/learning.md)",
    )
    _add_gateway_arguments(p)
    p.add_argument(
        "--token-env",
        default=DEFAULT_TOKEN_ENV,
        metavar="VAR",
        help=(
            "environment variable holding the server token that protected endpoints require "
            f"as 'Authorization: Bearer <token>' (default: {DEFAULT_TOKEN_ENV}; unset: no "
            "token)"
        ),
    )
    p.add_argument(
        "--insecure-open",
        action="store_true",
        help=(
            "serve without a token even though provider keys are set: anyone who can reach "
            "the server can spend them"
        ),
    )
    p.add_argument("--max-batch", type=int, default=100, help="most queries per batch request")
    p.add_argument(
        "--max-body-mb",
        type=_positive_float,
        default=DEFAULT_MAX_BODY_MB,
        metavar="MB",
        help=(
            f"largest JSON request body, in MiB (default: {DEFAULT_MAX_BODY_MB:g}); bigger "
            "bodies are refused with 413 as they stream in"
        ),
    )
    p.add_argument(
        "--first-token-timeout",
        type=_positive_float,
        default=DEFAULT_FIRST_TOKEN_TIMEOUT_S,
        metavar="SECONDS",
        help=(
            "longest wait for a stream's first token, fallbacks included (default: "
            f"{DEFAULT_FIRST_TOKEN_TIMEOUT_S:g}); past it the request fails with 504"
        ),
    )
    p.add_argument(
        "--total-timeout",
        type=_positive_float,
        default=DEFAULT_TOTAL_TIMEOUT_S,
        metavar="SECONDS",
        help=(
            f"longest any request may take (default: {DEFAULT_TOTAL_TIMEOUT_S:g}); a stream "
            "past it ends with an error event, any other request gets 504"
        ),
    )
    p.add_argument(
        "--allowed-hosts",
        metavar="HOSTS",
        help=(
            "comma-separated Host names to answer for (e.g. api.example.com,*.example.com); "
            "requests for any other Host get 400 (default: any host)"
        ),
    )
    p.add_argument(
        "--keep-alive",
        type=int,
        default=DEFAULT_KEEP_ALIVE_S,
        metavar="SECONDS",
        help=f"close idle connections after this long (default: {DEFAULT_KEEP_ALIVE_S})",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level (default: info)",
    )


def _add_gateway_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("gateway (docs/gateway.md)")
    g.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes (default: 1); with more than one, state they share lives in "
        "--redis and --spend-store (each worker builds the app from SMARTROUTE_SERVE_* "
        "variables: smartroute_graph.serving.factory)",
    )
    g.add_argument(
        "--cache",
        metavar="URL",
        help="answer repeated requests from a response cache (LangChain's cache): "
        "sqlite:///answers.db (one machine) or redis://HOST:PORT/DB (several nodes); a hit "
        "costs $0 and says cache_hit",
    )
    g.add_argument(
        "--redis",
        metavar="URL",
        help="Redis for the rate limits and cooldowns every worker and node shares "
        "(redis://HOST:PORT/DB); without it they are per process",
    )
    g.add_argument(
        "--rate-limit",
        metavar="MODEL=RPS,...",
        help="requests per second per model, e.g. gpt-4.1=5,o4-mini=0.5 (calls wait their turn)",
    )
    g.add_argument(
        "--cooldown",
        metavar="N/T/C",
        help="skip a model that failed N times within T seconds for C seconds, e.g. 3/60/30",
    )
    g.add_argument(
        "--callers",
        metavar="FILE",
        help="several server tokens, each with a name and a daily USD budget (YAML or JSON; "
        "docs/gateway.md)",
    )
    g.add_argument(
        "--spend-store",
        metavar="URL",
        help="where callers' spend is counted: sqlite:///spend.db or postgresql://...",
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _router(args: argparse.Namespace) -> Any:
    from smartroute_graph.runnable import SmartRouter

    kwargs: dict[str, Any] = {}
    if args.classifier:
        kwargs["classifier"] = args.classifier
    if getattr(args, "outcome_store", None):
        kwargs["outcome_store"] = args.outcome_store
    if args.config:
        return SmartRouter.from_config(args.config, **kwargs)
    return SmartRouter.from_preset(args.preset, **kwargs)


ENV_PREFIX = "SMARTROUTE_SERVE_"
# The worker processes build the app here (smartroute_graph.serving.factory).
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
    """The ``SMARTROUTE_SERVE_*`` variables that rebuild ``args``.

    The ``SMARTROUTE_SERVE_*`` variables that rebuild ``args`` (options left at their defaults are
    left out).
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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def use_server_encoder_settings() -> None:
    """Tune the encoder classifier for a server, unless the environment already says.

    A server classifies many requests at once, so one ONNX Runtime thread per request without
    spin-waiting beats the library default (several spinning threads, the quickest single
    query): measured with bench/bench_server_load.py, 1,500 decisions at 32 in flight on 2
    cores, server CPU per decision 15.2 → 7.8 ms and 102 → 128 requests/s.
    """
    from smartroute_graph.classifiers.encoder import SPINNING_ENV, THREADS_ENV

    os.environ.setdefault(THREADS_ENV, "1")
    os.environ.setdefault(SPINNING_ENV, "0")


def build_app(args: argparse.Namespace) -> Any:
    """The app for parsed ``serve`` options (also what each worker builds).

    Raises:
        SmartRouteError: the server packages are missing, or an option is unsafe or invalid.
    """
    try:
        from smartroute_graph.serving.app import create_app
        from smartroute_graph.serving.budgets import load_callers
        from smartroute_graph.serving.gateway import build_gateway
    except ImportError as exc:
        raise SmartRouteError(
            f"the server needs extra packages ({exc.name} is missing): "
            "pip install 'smartroute-graph[server]'"
        ) from None
    token = os.environ.get(args.token_env, "").strip() or None
    use_server_encoder_settings()
    hosts = [h.strip() for h in (args.allowed_hosts or "").split(",") if h.strip()]
    gateway = build_gateway(
        cache_url=args.cache,
        redis_url=args.redis,
        rate_limits=args.rate_limit,
        cooldown=args.cooldown,
        callers=load_callers(args.callers) if args.callers else (),
        spend_store=args.spend_store,
        workers=args.workers,
    )
    return create_app(
        _router(args),
        server_token=token,
        insecure_open=args.insecure_open,
        max_batch=args.max_batch,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        first_token_timeout_s=args.first_token_timeout,
        total_timeout_s=args.total_timeout,
        allowed_hosts=hosts or None,
        gateway=gateway,
    )


def run(args: argparse.Namespace) -> int:
    """Build the app and serve it until interrupted; returns the exit status.

    Raises:
        SmartRouteError: the server dependencies are missing, or the configuration is
            unsafe (provider keys without a token) or invalid.
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise SmartRouteError(
            f"the server needs extra packages ({exc.name} is missing): "
            "pip install 'smartroute-graph[server]'"
        ) from None
    if not logging.getLogger().handlers:
        # Request lines (smartroute_graph.serving.app) next to uvicorn's own messages.
        logging.basicConfig(
            level=args.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    token = os.environ.get(args.token_env, "").strip() or None
    if args.workers < 1:
        raise SmartRouteError(f"--workers must be 1 or more, got {args.workers}")
    from smartroute_graph.serving.metrics import prepare_multiprocess_dir

    # Before any app exists: with several workers /metrics sums every worker's counts.
    prepare_multiprocess_dir(args.workers)
    # Built here even with several workers: a bad option fails now, not in every worker.
    app = build_app(args)
    base = f"http://{args.host}:{args.port}"
    if token:
        auth = f"token required (from ${args.token_env})"
    elif args.insecure_open:
        auth = "OPEN: no token, and provider keys are set (--insecure-open)"
    else:
        auth = f"open (no provider keys on the server; set ${args.token_env} to require a token)"
    lines = [
        f"smartroute serving on {base}",
        f"  docs:       {base}/docs",
        f"  playground: {base}/playground",
        f"  OpenAI API: {base}/v1  (model 'smartroute')",
        f"  access:     {auth}",
        f"  limits:     bodies {args.max_body_mb:g} MiB, first token "
        f"{args.first_token_timeout:g} s, total {args.total_timeout:g} s",
        f"  workers:    {args.workers}",
    ]
    if token is None and not _is_loopback(args.host):
        lines.append(
            f"  warning:    {args.host} is reachable from other machines and no token is set"
        )
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()
    # The app logs each request (path without query string); uvicorn's access log would
    # log query strings too, so it is off.
    target: Any = app
    if args.workers > 1:
        os.environ.update(env_from_args(args))
        target = FACTORY
    uvicorn.run(
        target,
        factory=args.workers > 1,
        workers=args.workers if args.workers > 1 else None,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        server_header=False,
        timeout_keep_alive=args.keep_alive,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m smartroute_graph.serving.command [options]``: serve without the full CLI."""
    parser = argparse.ArgumentParser(
        prog="smartroute serve", description="Serve the router over HTTP."
    )
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except SmartRouteError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
