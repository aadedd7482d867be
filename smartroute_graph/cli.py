"""The ``smartroute`` command line.

Sub-commands: route, compare, classify, models, draw, train, eval, calibrate, serve.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from smartroute_graph.core.errors import MissingAPIKeyError, SmartRouteError, UnknownModelError

# The router's modules load inside the commands that need them: `smartroute classify` starts
# without LangChain or LangGraph (see _classify_parser).

__all__ = ["main"]

CLASSIFY_BATCH = 4096  # prompts per classifier call: it sorts them by length and batches inside


def _console(stream: IO[str]) -> Any:
    from rich.console import Console

    # Piped output gets a wide page so tables are not cut to 80 columns.
    width = None if stream.isatty() else 160
    return Console(file=stream, highlight=False, soft_wrap=True, width=width)


def _router(args: argparse.Namespace) -> Any:
    from smartroute_graph.runnable import SmartRouter

    kwargs: dict[str, Any] = {}
    if args.classifier:
        kwargs["classifier"] = args.classifier
    if args.config:
        return SmartRouter.from_config(args.config, **kwargs)
    return SmartRouter.from_preset(args.preset, **kwargs)


def _missing_keys(router: Any, names: Sequence[str] | None = None) -> list[str]:
    """Environment variables still needed to call ``names`` (default: every catalog model).

    Models given as ready chat objects need none.
    """
    from smartroute_graph.core.providers import API_KEY_ENV

    specs = [router.catalog[n] for n in (names or router.catalog)]
    providers = {spec.provider for spec in specs if not router.provider.has_model(spec.name)}
    return sorted(
        API_KEY_ENV[p] for p in providers if p in API_KEY_ENV and not os.environ.get(API_KEY_ENV[p])
    )


def _decision_table(decision: Any, console: Any) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan")
    table.add_column()
    probs = sorted(decision.domain_probs.items(), key=lambda kv: -kv[1])[:3]
    table.add_row("domain", f"{decision.domain}  ({', '.join(f'{d} {p:.2f}' for d, p in probs)})")
    cprobs = ", ".join(f"{c} {p:.2f}" for c, p in decision.complexity_probs.items())
    table.add_row(
        "complexity", f"{decision.complexity}  ({cprobs}; score {decision.complexity_score:.2f})"
    )
    table.add_row("confidence", f"{decision.confidence:.2f}")
    table.add_row("model", f"[bold]{decision.model}[/bold]")
    table.add_row("reason", decision.reason)
    table.add_row("fallbacks", ", ".join(decision.fallbacks) or "none")
    table.add_row(
        "est. cost",
        f"${decision.estimated_cost_usd:.6f} (~{decision.estimated_input_tokens} input tokens)",
    )
    console.print(table)


def _query_payload(args: argparse.Namespace) -> Any:
    """The router input of `route` and `compare`.

    The query words (or standard input for '-'), with the ``--file`` attachments.
    """
    query = " ".join(args.query).strip()
    if query == "-":
        query = sys.stdin.read()
    return {"query": query, "attachments": args.file} if args.file else query


def _cmd_route(args: argparse.Namespace) -> int:
    from smartroute_graph.routing.settings import settings_from_args

    router = _router(args)
    payload = _query_payload(args)
    settings = settings_from_args(args)
    dry_run = bool(settings.pop("dry_run", False))
    missing = _missing_keys(router)
    err = _console(sys.stderr)
    if dry_run or missing:
        decision = router.route(payload, **settings)
        if args.json:
            print(json.dumps({"dry_run": True, "decision": decision.model_dump(mode="json")}))
        else:
            _decision_table(decision, _console(sys.stdout))
        if missing and not dry_run:
            err.print(
                f"[yellow]No answer: {' and '.join(missing)} not set.[/yellow] This is the "
                f"routing decision only. Set the key (export {missing[0]}=...) to get the answer "
                "from the chosen model."
            )
        return 0
    if args.json:
        answer = router.invoke(payload, **settings)
        print(
            json.dumps(
                {
                    "answer": answer.text,
                    "smartroute": answer.response_metadata["smartroute"],
                    "usage": answer.usage_metadata,
                }
            )
        )
        return 0
    meta: dict[str, Any] = {}
    for chunk in router.stream(payload, **settings):
        if chunk.content:
            sys.stdout.write(chunk.text)
            sys.stdout.flush()
        meta = chunk.response_metadata.get("smartroute", meta)
    sys.stdout.write("\n")
    err.print(
        f"[dim]{meta.get('domain')}/{meta.get('complexity')} → {meta.get('model')}"
        f"{' (escalated)' if meta.get('escalated') else ''} · ${meta.get('cost_usd', 0):.6f} · "
        f"{meta.get('reason')}[/dim]"
    )
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    router = _router(args)
    payload = _query_payload(args)
    names = [n.strip() for n in args.models.split(",") if n.strip()] if args.models else None
    unknown = [n for n in names or () if n not in router.catalog]
    if unknown:
        raise UnknownModelError(
            f"unknown model(s) {', '.join(unknown)}; the catalog has: {', '.join(router.catalog)}"
        )
    missing = _missing_keys(router, names)
    if missing:
        raise MissingAPIKeyError(
            f"compare calls every model, so it needs {' and '.join(missing)}: export "
            f"{missing[0]}=... (or see what the router alone would pick with "
            "`smartroute route --dry-run`)"
        )
    report = router.compare(payload, models=names, timeout_s=args.timeout)
    if args.json:
        print(report.model_dump_json())
        return 0
    from rich.table import Table

    out = _console(sys.stdout)
    table = Table(
        title=f"{report.decision.domain}/{report.decision.complexity}: "
        f"the router picks {report.decision.model} ({report.decision.reason})"
    )
    for column in ("model", "router", "score", "cost $", "latency ms", "tokens in/out", "answer"):
        table.add_column(column, justify="right" if column not in ("model", "answer") else "left")
    for r in report.results:
        table.add_row(
            r.model + (" (best)" if r.model == report.best_model else ""),
            "★" if r.selected else "",
            "-" if r.score is None else f"{r.score:.2f}",
            f"{r.cost_usd:.6f}",
            f"{r.latency_ms:.0f}",
            f"{r.input_tokens}/{r.output_tokens}",
            (r.content if args.full else r.content[:80].replace("\n", " "))
            if r.ok
            else f"[red]{r.error_kind}: {r.error}[/red]",
        )
    out.print(table)
    out.print(
        f"best answer: {report.best_model or 'none'} · cheapest within 0.05 of the best: "
        f"{report.cheapest_good_model or 'none'}"
    )
    return 0


def _read_prompts(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in enumerate(stream, 1):
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SmartRouteError(f"line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
                raise SmartRouteError(
                    f'line {number}: a JSON line needs a non-empty "prompt" string '
                    f"(keys found: {sorted(row)})"
                )
            yield number, row
        else:
            yield number, {"prompt": line}


def _cmd_classify(args: argparse.Namespace) -> int:
    from smartroute_graph.classifiers import load_classifier

    classifier = load_classifier(args.classifier or "default")
    source = sys.stdin if args.file in (None, "-") else open(args.file, encoding="utf-8")  # noqa: SIM115
    try:
        batch: list[dict[str, Any]] = []
        for _, row in _read_prompts(source):
            batch.append(row)
            if len(batch) >= CLASSIFY_BATCH:
                _emit(classifier, batch)
                batch = []
        if batch:
            _emit(classifier, batch)
    finally:
        if source is not sys.stdin:
            source.close()
    return 0


def _emit(classifier: Any, rows: Sequence[dict[str, Any]]) -> None:
    results = classifier.classify([r["prompt"] for r in rows])
    out = []
    for row, result in zip(rows, results, strict=True):
        record = result.to_json_dict()
        if "id" in row:
            record = {"id": row["id"], **record}
        out.append(json.dumps(record, ensure_ascii=False))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def _cmd_models(args: argparse.Namespace) -> int:
    from smartroute_graph.core.catalog import preset_catalog

    catalog = preset_catalog(args.preset)
    if args.json:
        print(json.dumps([spec.model_dump() for spec in catalog.values()], indent=2))
        return 0
    from rich.table import Table

    table = Table(title=f"preset {args.preset!r}: weakest → strongest")
    for column in (
        "model",
        "provider id",
        "tier",
        "$/1M in",
        "$/1M out",
        "context",
        "images",
        "pdfs",
        "reasoning",
    ):
        table.add_column(
            column, justify="right" if column.startswith(("$", "context", "tier")) else "left"
        )
    for name in catalog.ladder:
        s = catalog[name]
        table.add_row(
            name,
            s.provider_model_id,
            str(s.tier),
            f"{s.input_price_per_m:.2f}",
            f"{s.output_price_per_m:.2f}",
            f"{s.context_window:,}",
            "yes" if s.supports_images else "-",
            "yes" if s.supports_pdfs else "-",
            "yes" if s.reasoning else "-",
        )
    _console(sys.stdout).print(table)
    return 0


def _cmd_draw(args: argparse.Namespace) -> int:
    router = _router(args)
    if args.png:
        from smartroute_graph.graph.studio import NO_PNG_RENDERER, draw_png, png_renderer

        if not draw_png(router.graph, args.png):
            why = NO_PNG_RENDERER if png_renderer() is None else "every local renderer failed"
            _console(sys.stderr).print(f"[red]error:[/red] no PNG written: {why}", markup=True)
            return 1
        print(args.png)
        return 0
    print(router.graph.get_graph().draw_mermaid())
    return 0


def _add_classify(sub: Any) -> None:
    classify = sub.add_parser(
        "classify",
        help='classify prompts: JSON Lines {"id"?, "prompt"} or plain lines → JSON Lines',
    )
    classify.add_argument("file", nargs="?", help="input file ('-' or omitted: standard input)")
    classify.add_argument("--classifier", help="classifier backend (default: the shipped default)")
    classify.set_defaults(func=_cmd_classify)


def _classify_parser() -> argparse.ArgumentParser:
    """``smartroute classify`` alone: parsed without importing the router's other commands."""
    parser = argparse.ArgumentParser(prog="smartroute")
    _add_classify(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``smartroute``."""
    from smartroute_graph.core.catalog import PRESETS
    from smartroute_graph.routing.config import add_router_options
    from smartroute_graph.routing.settings import add_settings_options

    parser = argparse.ArgumentParser(
        prog="smartroute",
        description="Route each query to the cheapest LLM that will answer it well.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    route = sub.add_parser("route", help="answer a query with the model the router picks")
    route.add_argument("query", nargs="+", help="the query ('-' reads standard input)")
    route.add_argument("--json", action="store_true", help="print one JSON object")
    route.add_argument("--file", action="append", help="attach a file (image, PDF or text)")
    add_router_options(route)
    add_settings_options(route)
    route.set_defaults(func=_cmd_route)

    compare = sub.add_parser(
        "compare", help="ask every catalog model (or --models) and score each answer"
    )
    compare.add_argument("query", nargs="+", help="the query ('-' reads standard input)")
    compare.add_argument("--models", help="comma-separated catalog models (default: all)")
    compare.add_argument("--timeout", type=float, help="seconds allowed per model")
    compare.add_argument("--file", action="append", help="attach a file (image, PDF or text)")
    compare.add_argument("--full", action="store_true", help="print whole answers")
    compare.add_argument("--json", action="store_true", help="print the report as JSON")
    add_router_options(compare)
    compare.set_defaults(func=_cmd_compare)

    _add_classify(sub)

    models = sub.add_parser("models", help="list a preset's models and prices")
    models.add_argument("--preset", default="openai", choices=sorted(PRESETS))
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=_cmd_models)

    draw = sub.add_parser("draw", help="print the routing graph as mermaid")
    add_router_options(draw)
    draw.add_argument("--png", metavar="PATH", help="write a PNG with a local renderer instead")
    draw.set_defaults(func=_cmd_draw)

    try:
        from smartroute_graph.training.command import add_parser as add_train_parser
    except ImportError:  # pragma: no cover - the training module is part of the package
        pass
    else:
        add_train_parser(sub)
    from smartroute_graph.evaluation.command import add_parser as add_eval_parser
    from smartroute_graph.serving.command import add_parser as add_serve_parser

    add_eval_parser(sub)  # `eval` and `calibrate`
    from smartroute_graph.evaluation.learn_command import add_parser as add_learn_parser

    add_learn_parser(sub)

    add_serve_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    fast = argv[:1] == ["classify"] and not {"-h", "--help"} & set(argv)
    args = (_classify_parser() if fast else build_parser()).parse_args(argv)
    try:
        return int(args.func(args))
    except SmartRouteError as exc:
        _console(sys.stderr).print(f"[red]error:[/red] {exc}", markup=True)
        return 2
    except BrokenPipeError:  # e.g. `smartroute classify big.jsonl | head`
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
