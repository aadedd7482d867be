"""``smartroute learn``: load an outcome table into an outcome store, or inspect and reset one.

    smartroute learn FILE --store URL [--source NAME] [--classifier accurate] [--prices P]
    smartroute learn --langsmith-project NAME [--feedback-key KEY] --store URL
    smartroute learn --store URL --summary
    smartroute learn --store URL --delete-source NAME | --reset

Each row of an outcome table (``{"prompt", "scores": {model: score}, "costs"?}``, the shape
``smartroute eval`` reads) becomes one observation per model: the prompt's embedding and
classification from the packaged encoder (one forward pass per prompt), the model, its score,
its cost (the row's own, else estimated from the prices file when there is one) and the
source. The prompt text is stored only as a hash. ``--langsmith-project`` reads the router's
runs and their feedback instead (:mod:`~smartroute_graph.evaluation.learn_langsmith`).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from smartroute_graph.core.errors import SmartRouteError

__all__ = ["add_parser", "load_table", "run_learn"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add ``learn`` to ``subparsers``; ``args.func(args)`` runs it."""
    p = subparsers.add_parser(
        "learn",
        help="load outcomes into an outcome store (or inspect / reset one)",
        description=(
            "Load an outcome table into the outcome store the learned policy reads, or show "
            "and reset what a store holds. Stores: a file path or sqlite:///PATH (default) or "
            "postgresql://... (needs the postgres extra)."
        ),
    )
    p.add_argument("file", nargs="?", help="outcome table (JSON Lines with prompt and scores)")
    p.add_argument("--store", required=True, help="outcome store URL or SQLite file")
    p.add_argument(
        "--langsmith-project",
        default=None,
        metavar="NAME",
        help="read the router's runs and their feedback from this LangSmith project",
    )
    p.add_argument(
        "--feedback-key", default=None, metavar="KEY", help="only LangSmith feedback of this key"
    )
    p.add_argument("--source", default=None, help="source name (default: table or langsmith)")
    p.add_argument("--classifier", default="accurate", help="packaged encoder or model folder")
    p.add_argument("--prices", default=None, help="prices JSON of a multi-model table")
    p.add_argument("--kind", default="auto", choices=["auto", "strong-weak", "multi-model"])
    p.add_argument("--limit", type=int, default=None, help="load an even sample of N rows")
    p.add_argument("--output-tokens", type=int, default=300, help="answer length for costs")
    p.add_argument("--summary", action="store_true", help="print what the store holds")
    p.add_argument("--delete-source", default=None, metavar="NAME", help="delete a source")
    p.add_argument("--reset", action="store_true", help="delete every observation")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_learn)
    parser: argparse.ArgumentParser = p
    return parser


def load_table(
    store: Any,
    dataset: Any,
    embedder: Any,
    *,
    source: str = "table",
    output_tokens: int = 300,
    batch: int = 256,
) -> int:
    """Write one observation per (row, model) of ``dataset`` into ``store``; returns how many.

    Args:
        store: an :class:`~smartroute_graph.routing.outcomes.OutcomeStore`.
        dataset: an outcome :class:`~smartroute_graph.evaluation.datasets.EvalDataset`.
        embedder: an encoder with ``classify_with_embeddings``.
        source: the observations' source.
        output_tokens: answer length of estimated costs (tables with prices).
        batch: rows per store transaction.
    """
    from smartroute_graph.evaluation.analysis import row_costs
    from smartroute_graph.routing.outcomes import Observation, hash_text

    models = list(dataset.models)
    costs = row_costs(dataset, output_tokens) if dataset.prices else None
    written = 0
    now = time.time()
    for start in range(0, len(dataset.rows), batch):
        rows = dataset.rows[start : start + batch]
        decisions, vectors = embedder.classify_with_embeddings([r.text for r in rows])
        observations = []
        for i, (row, decision) in enumerate(zip(rows, decisions, strict=True)):
            for j, model in enumerate(models):
                cost = (row.costs or {}).get(model)
                if cost is None and costs is not None:
                    cost = float(costs[start + i, j])
                observations.append(
                    Observation(
                        embedding=vectors[i],
                        model=model,
                        score=(row.scores or {})[model],
                        cost_usd=cost,
                        source=source,
                        time=now,
                        text_hash=hash_text(row.text),
                        run_id=row.id or None,
                        domain=decision.domain,
                        complexity=decision.complexity,
                    )
                )
        written += store.add(observations)
    return written


def run_learn(args: argparse.Namespace) -> int:
    """``smartroute learn``: load, summarise or reset a store."""
    from smartroute_graph.routing.stores import open_outcome_store

    project = getattr(args, "langsmith_project", None)
    if not (args.file or project or args.summary or args.delete_source or args.reset):
        raise SmartRouteError(
            "learn needs an outcome FILE, --langsmith-project, --summary, --delete-source or "
            "--reset"
        )
    result: dict[str, Any] = {}
    embedder = None
    name = None
    if args.file or project:
        from smartroute_graph.classifiers.encoder import EncoderClassifier

        embedder = EncoderClassifier(args.classifier)
        name = embedder.name
    store = open_outcome_store(args.store, embedder=name)
    try:
        if args.reset:
            result["deleted"] = store.clear()
        elif args.delete_source:
            result["deleted"] = store.delete(args.delete_source)
        if args.file:
            from smartroute_graph.evaluation.datasets import load_dataset

            dataset = load_dataset(args.file, args.kind, prices=args.prices, limit=args.limit)
            if dataset.kind == "labels":
                raise SmartRouteError(f"{args.file} has no scores: learn reads outcome tables")
            started = time.perf_counter()
            result["written"] = load_table(
                store,
                dataset,
                embedder,
                source=args.source or "table",
                output_tokens=args.output_tokens,
            )
            result["rows"] = len(dataset.rows)
            result["seconds"] = round(time.perf_counter() - started, 2)
        if project:
            import langsmith

            from smartroute_graph.evaluation.learn_langsmith import load_langsmith

            result["langsmith"] = load_langsmith(
                store,
                embedder,
                langsmith.Client(),
                project,
                feedback_key=getattr(args, "feedback_key", None),
                source=args.source or "langsmith",
                limit=args.limit,
            )
        result["store"] = store.info()
        if args.summary or args.file or project:
            result["summary"] = store.summary()
    finally:
        store.close()
    if args.json:
        print(json.dumps(result, indent=2))  # noqa: T201
        return 0
    _print(result)
    return 0


def _print(result: dict[str, Any]) -> None:
    info = result["store"]
    if "deleted" in result:
        print(f"deleted {result['deleted']} observations")  # noqa: T201
    if "langsmith" in result:
        counts = result["langsmith"]
        print(  # noqa: T201
            f"LangSmith: {counts['runs']} runs, {counts['feedback']} feedback, wrote "
            f"{counts['written']} observations ({counts['skipped']} feedback skipped)"
        )
    if "written" in result:
        print(  # noqa: T201
            f"wrote {result['written']} observations from {result['rows']} rows in "
            f"{result['seconds']} s"
        )
    print(  # noqa: T201
        f"{info['url']}: {info['observations']} observations of {info['queries']} queries"
        + (f" (embedding {info['embedder']}, {info['dim']} long)" if info["dim"] else "")
    )
    for row in result.get("summary", []):
        cost = "" if row["mean_cost_usd"] is None else f", mean cost ${row['mean_cost_usd']:.6f}"
        print(  # noqa: T201
            f"  {row['model']:<34} {row['source']:<12} n={row['n']:<7} mean score "
            f"{row['mean_score']:.3f}{cost}"
        )
