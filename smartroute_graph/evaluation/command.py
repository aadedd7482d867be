"""``smartroute eval`` and ``smartroute calibrate``: argparse sub-commands.

They are wired into the CLI by ``add_parser``.

    smartroute eval FILE [--kind auto|labels|strong-weak|multi-model] [--classifier NAME]
                         [--preset P | --config FILE] [--limit N] [--json PATH] [--plot PATH]
                         [--score complexity|domain-aware] [--per-query]
                         [--langsmith --experiment-prefix X]
                         [--learn [--folds K] [--feedback-fraction F]]
    smartroute calibrate FILE --target "strong-share<=0.3" [--out router.yaml] ...
    smartroute calibrate --store URL --target "strong-share<=0.3" [--knob cost_weight]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from smartroute_graph.core.catalog import PRESETS
from smartroute_graph.core.errors import SmartRouteError

__all__ = ["add_parser", "main", "run_calibrate", "run_eval"]

_PROGRESS_MIN_ROWS = 2_000


def _add_common(p: argparse.ArgumentParser, *, file_optional: bool = False) -> None:
    p.add_argument(
        "file",
        nargs="?" if file_optional else None,
        help="JSON Lines file (or a corpus folder of .jsonl files)",
    )
    p.add_argument(
        "--kind",
        default="auto",
        choices=["auto", "labels", "strong-weak", "multi-model"],
        help="what the file holds (default: told from its fields)",
    )
    p.add_argument(
        "--classifier",
        default=None,
        help="classifier backend, packaged encoder model or model folder (default: the "
        "router's default)",
    )
    p.add_argument("--preset", default="openai", choices=sorted(PRESETS), help="catalog/policy")
    p.add_argument("--config", default=None, help="router config file (overrides --preset)")
    p.add_argument("--limit", type=int, default=None, help="evaluate an even sample of N rows")
    p.add_argument("--strong", default=None, help="strong model of a strong/weak table")
    p.add_argument("--weak", default=None, help="weak model of a strong/weak table")
    p.add_argument("--prices", default=None, help="prices JSON of a multi-model table")
    p.add_argument(
        "--cutoffs",
        default=None,
        metavar="LOW,HIGH",
        help="complexity cut-offs on complexity_score (RouterContext.complexity_cutoffs)",
    )
    p.add_argument(
        "--confidence-threshold", type=float, default=None, help="policy confidence threshold"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add ``eval`` and ``calibrate`` to ``subparsers``; ``args.func(args)`` runs one.

    Returns the ``eval`` parser.
    """
    p = subparsers.add_parser(
        "eval",
        help="evaluate a router on labelled prompts or outcome tables",
        description=(
            "Route every prompt of a labelled set (accuracy, macro-F1, confusion, calibration) "
            "or an outcome table (strong/weak: APGR and CPT against random and the oracle; "
            "multi-model with prices: quality against cost) and report the traffic mix, cost "
            "and decision latency. No model is called."
        ),
    )
    _add_common(p)
    p.add_argument("--json", default=None, metavar="PATH", help="write every figure as JSON")
    p.add_argument("--plot", default=None, metavar="PATH.png", help="write a PNG plot")
    p.add_argument(
        "--score",
        default="complexity",
        choices=["complexity", "domain-aware"],
        help="strong/weak tables: the router's 'needs the strong model' score",
    )
    p.add_argument(
        "--ladder",
        default="frontier",
        help="multi-model tables: 'frontier', 'all' or a comma-separated list of models",
    )
    p.add_argument(
        "--output-tokens",
        type=int,
        default=300,
        help="multi-model tables: answer length for estimated costs",
    )
    p.add_argument("--fit-fraction", type=float, default=0.5, help="policy-table fit share")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="prompts per classify call (default 512: the encoder sorts each call by length)",
    )
    p.add_argument(
        "--per-query",
        action="store_true",
        help="route one prompt at a time through the graph (true single-query latency)",
    )
    p.add_argument(
        "--langsmith",
        action="store_true",
        help="also run it as a LangSmith experiment (uploaded when LANGSMITH_API_KEY is set, "
        "offline otherwise)",
    )
    p.add_argument("--experiment-prefix", default="smartroute", help="LangSmith experiment name")
    p.add_argument(
        "--learn",
        action="store_true",
        help="outcome tables: also cross-fit the learned policy (learn on the other folds, "
        "route the held-out one) with a learning curve",
    )
    p.add_argument("--folds", type=int, default=2, help="--learn: cross-fitting folds")
    p.add_argument(
        "--feedback-fraction",
        type=float,
        default=None,
        help="--learn: learn from only this share of the rows (default: all other folds)",
    )
    p.set_defaults(func=run_eval)

    c = subparsers.add_parser(
        "calibrate",
        help="choose routing thresholds that meet a target on your data",
        description=(
            "Pick complexity cut-offs and a confidence threshold that meet a target "
            "(strong-share<=X, quality>=X, pgr>=X, under-routed<=X) on a labelled set or a "
            "strong/weak table: fitted on one part, checked on the held-out rest, written "
            "into a router config (YAML). Exit status 1 when the held-out rows miss the target. "
            "With --store instead of FILE: the learned policy's operating point that meets "
            "strong-share<=X, cost<=USD or quality>=X on the stored outcomes."
        ),
    )
    _add_common(c, file_optional=True)
    c.add_argument("--store", default=None, metavar="URL", help="calibrate on an outcome store")
    c.add_argument(
        "--knob",
        default="tolerance",
        choices=["tolerance", "cost_weight"],
        help="with --store: the operating point's knob (default: tolerance)",
    )
    c.add_argument("--target", required=True, help='e.g. "strong-share<=0.3" or "quality>=0.95"')
    c.add_argument("--out", default="router.yaml", help="config file to write")
    c.add_argument("--fit-fraction", type=float, default=0.5, help="share of rows fitted on")
    c.add_argument(
        "--margin",
        type=float,
        default=0.0,
        help="fit to a target tightened by this much (safety against fitting to its edge)",
    )
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", default=None, metavar="PATH", help="write the result as JSON")
    c.set_defaults(func=run_calibrate)
    parser: argparse.ArgumentParser = p
    return parser


def _cutoffs(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise SmartRouteError(f"--cutoffs takes LOW,HIGH (e.g. 0.3,0.7), got {text!r}") from None
    if not 0.0 <= low <= high <= 1.0:
        raise SmartRouteError(f"--cutoffs need 0 <= LOW <= HIGH <= 1, got {text!r}")
    return (low, high)


def _load(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from smartroute_graph.evaluation.datasets import load_dataset
    from smartroute_graph.evaluation.runner import RouteSettings, build_router

    dataset = load_dataset(
        args.file,
        args.kind,
        prices=args.prices,
        strong=args.strong,
        weak=args.weak,
        limit=args.limit,
    )
    router = build_router(classifier=args.classifier, preset=args.preset, config=args.config)
    settings = RouteSettings(
        complexity_cutoffs=_cutoffs(args.cutoffs),
        confidence_threshold=args.confidence_threshold,
    )
    return dataset, router, settings


def run_eval(args: argparse.Namespace) -> int:
    """``smartroute eval``: print the report; write JSON/plot when asked."""
    from smartroute_graph.evaluation.analysis import analyse
    from smartroute_graph.evaluation.report import (
        print_report,
        progress_bar,
        write_json,
        write_plot,
    )
    from smartroute_graph.evaluation.runner import DEFAULT_BATCH_SIZE, route_dataset

    dataset, router, settings = _load(args)
    long_run = args.per_query or len(dataset.rows) >= _PROGRESS_MIN_ROWS
    with progress_bar(
        len(dataset.rows), f"routing {dataset.name}", enabled=long_run and not args.quiet
    ) as advance:
        run = route_dataset(
            dataset,
            router,
            settings=settings,
            batch_size=DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size,
            per_query=args.per_query,
            progress=advance,
        )
    report = analyse(
        run,
        score=args.score,
        output_tokens=args.output_tokens,
        ladder=args.ladder,
        fit_fraction=args.fit_fraction,
        seed=args.seed,
    )
    if args.learn:
        report["learned"] = _learned_block(args, dataset, router, long_run)
    if args.langsmith:
        from smartroute_graph.evaluation.langsmith_eval import run_experiment

        experiment = run_experiment(
            dataset, router, experiment_prefix=args.experiment_prefix, settings=settings
        )
        report["langsmith"] = experiment.to_dict()
    print_report(report)
    if args.langsmith:
        ls = report["langsmith"]
        where = ls["url"] or ("uploaded" if ls["uploaded"] else "offline, not uploaded")
        print(  # noqa: T201
            f"LangSmith experiment {ls['experiment_name']} ({where}): "
            + ", ".join(f"{k} {v:.4g}" for k, v in {**ls["feedback"], **ls["summary"]}.items())
        )
    if args.json:
        print(f"wrote {write_json(report, args.json)}")  # noqa: T201
    if args.plot:
        print(f"wrote {write_plot(report, args.plot)}")  # noqa: T201
    return 0


def _learned_block(args: argparse.Namespace, dataset: Any, router: Any, long_run: bool) -> Any:
    """Embed every prompt (the router's encoder, else the packaged one) and cross-fit."""
    from smartroute_graph.classifiers.encoder import EncoderClassifier
    from smartroute_graph.evaluation.learned import evaluate_learned
    from smartroute_graph.evaluation.report import progress_bar

    embedder = router.classifier
    if not hasattr(embedder, "classify_with_embeddings"):
        embedder = EncoderClassifier()
    rows = dataset.rows
    decisions, vectors = [], []
    with progress_bar(len(rows), "embedding", enabled=long_run and not args.quiet) as advance:
        for start in range(0, len(rows), 256):
            chunk = rows[start : start + 256]
            d, v = embedder.classify_with_embeddings([r.text for r in chunk])
            decisions += d
            vectors.append(v)
            advance(len(chunk))
    import numpy as np

    block = evaluate_learned(
        dataset,
        np.concatenate(vectors),
        [d.domain for d in decisions],
        [d.complexity for d in decisions],
        folds=args.folds,
        feedback_fraction=args.feedback_fraction,
        seed=args.seed,
        output_tokens=args.output_tokens,
    )
    block["embedder"] = embedder.name
    return block


def run_calibrate(args: argparse.Namespace) -> int:
    """``smartroute calibrate``: fit, check held out, write the config."""
    from smartroute_graph.evaluation.calibrate import calibrate, parse_target, write_config

    if getattr(args, "store", None):
        return _calibrate_store(args)
    if not args.file:
        raise SmartRouteError("calibrate needs a FILE (or --store URL for the learned policy)")
    target = parse_target(args.target)
    dataset, router, _ = _load(args)
    result = calibrate(
        router, dataset, target, fit_fraction=args.fit_fraction, seed=args.seed, margin=args.margin
    )
    path = write_config(
        result,
        args.out,
        base=args.config,
        preset=None if args.config else args.preset,
        classifier=args.classifier,
    )
    cut = result.complexity_cutoffs
    print(  # noqa: T201
        f"target {target} on {dataset.name} ({result.fit_rows} rows fitted, "
        f"{result.held_out_rows} held out)\n"
        f"chosen: complexity cut-offs {tuple(cut) if cut else 'none (most likely level)'}, "
        f"confidence threshold {result.confidence_threshold:g}"
    )
    keys = [k for k in ("strong-share", "quality", "pgr", "under-routed") if k in result.fit]
    for label, figures in (
        ("fit", result.fit),
        ("held out", result.held_out),
        ("held out, current settings", result.held_out_default),
    ):
        print(  # noqa: T201
            f"  {label:28s} " + "  ".join(f"{k} {figures[k]:.3f}" for k in keys)
        )
    print(  # noqa: T201
        f"held-out check: {target} {'met' if result.met_on_held_out else 'NOT met'}"
    )
    for note in result.notes:
        print(f"note: {note}")  # noqa: T201
    print(f"wrote {path}")  # noqa: T201
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result.to_dict(), fh, indent=2)
    return 0 if result.met_on_held_out else 1


def _calibrate_store(args: argparse.Namespace) -> int:
    """``smartroute calibrate --store URL``: the learned policy's operating point for a target.

    It is chosen on the stored outcomes; exit status 1 when no knob value meets it.
    """
    from smartroute_graph.routing.learned import LearnedPolicy
    from smartroute_graph.routing.stores import open_outcome_store

    store = open_outcome_store(args.store)
    try:
        policy = LearnedPolicy.from_store(store)
        policy.fit()
        result = policy.calibrate(args.target, knob=args.knob)
    finally:
        store.close()
    name = "quality_tolerance" if result.knob == "tolerance" else "cost_weight"
    cost = "unknown" if result.cost_per_query is None else f"${result.cost_per_query:.6f}"
    print(  # noqa: T201
        f"target {result.target} on {result.queries} stored queries: "
        f"{'met' if result.met else 'NOT met (closest shown)'}\n"
        f"operating point: {name}={result.value:g} "
        f"(SmartRouter(..., outcome_store=..., {name}={result.value:g}))\n"
        f"  strong share {result.strong_share:.3f}  cost per query {cost}  "
        f"quality {result.quality:.3f}"
    )
    if args.json:
        block = {k: v for k, v in vars(result).items() if k != "curve"}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({**block, "setting": name, "curve": result.curve}, fh, indent=2)
    return 0 if result.met else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry: ``python -m smartroute_graph.evaluation.command eval FILE ...``."""
    parser = argparse.ArgumentParser(prog="smartroute")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(list(argv) if argv is not None else sys.argv[1:])
    try:
        return int(args.func(args))
    except SmartRouteError as exc:
        print(f"smartroute {args.command}: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
