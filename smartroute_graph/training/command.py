"""``smartroute train``: the argparse sub-command (wired into the CLI by ``add_parser``)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from smartroute_graph.core.catalog import PRESETS
from smartroute_graph.core.errors import SmartRouteError

__all__ = ["DEFAULT_CORPUS", "DEFAULT_DATA", "DEFAULT_SUPPLEMENT", "add_parser", "run"]

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"
DEFAULT_SUPPLEMENT = Path(__file__).resolve().parent.parent / "data" / "supplement"
DEFAULT_DATA = [str(DEFAULT_CORPUS), str(DEFAULT_SUPPLEMENT)]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add the ``train`` sub-command to ``subparsers``; ``args.func(args)`` runs it."""
    p = subparsers.add_parser(
        "train",
        help="train an encoder classifier and export an ONNX model folder",
        description=(
            "Fine-tune an encoder (domain head + domain-conditioned complexity heads) on "
            "labelled prompts, calibrate it on a held-out split and export a model folder "
            "(model.onnx, tokenizer.json, labels.json, metrics.json, MODEL_CARD.md)."
        ),
        # A flag left out is absent from the arguments, so TrainConfig's default applies:
        # the defaults are declared once, there.
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument(
        "data",
        nargs="*",
        default=DEFAULT_DATA,
        help="JSONL/JSON/CSV/TSV files or folders (default: the packaged corpus and its "
        "supplement folder)",
    )
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--name", help="model name recorded in labels.json")
    p.add_argument(
        "--base",
        help="'minilm' (packaged MiniLM-L6), 'scratch' (small BERT + WordPiece trained on "
        "the data), or a Hugging Face encoder name/folder (e.g. distilbert-base-uncased)",
    )
    p.add_argument(
        "--layers",
        type=int,
        help="keep the first N layers of a pretrained base / layers of a scratch model",
    )
    p.add_argument("--hidden", type=int, help="hidden size of a scratch model")
    p.add_argument("--vocab-size", type=int, help="scratch WordPiece vocabulary")
    p.add_argument("--max-len", type=int, help="tokens per query (head + tail)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate (default 8e-5 pretrained, 5e-4 scratch)")
    p.add_argument("--val-fraction", type=float, help="held-out share")
    p.add_argument("--seed", type=int)
    p.add_argument("--augment", type=float, help="noisy copies per training example (0 disables)")
    p.add_argument(
        "--wrap",
        type=float,
        help="wrapped copies per training example (chat templates, harness text, e-mail, JSON "
        "…; labels kept; 0 disables)",
    )
    p.add_argument(
        "--auto-label",
        choices=["rules", "encoder", "llm"],
        help="label rows that lack a domain or complexity with this classifier",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help='read model labels ({"text", "label": "deepseek-r1"}, the older routers\' '
        "files) as this preset's models: a model's tier gives the complexity (default: any "
        "preset's names); the domain comes from --auto-label",
    )
    p.add_argument(
        "--strong",
        default=None,
        help="outcome rows ({prompt, scores: {model: score}}): the strong model's name",
    )
    p.add_argument("--weak", default=None, help="outcome rows: the weak model's name")
    p.add_argument(
        "--outcome-margin",
        type=float,
        default=None,
        help="score gap (strong - weak) at which a prompt counts as complex (default 0.1)",
    )
    p.add_argument("--no-quantize", action="store_true", default=False, help="keep float32 weights")
    p.add_argument(
        "--keep-fp32", help="also write the float32 ONNX graph to this path (for re-export)"
    )
    p.add_argument("--teacher", help="model folder to distil from")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--limit", type=int, help="use a stratified sample of N rows")
    p.set_defaults(func=run)
    parser: argparse.ArgumentParser = p
    return parser


def run(args: argparse.Namespace) -> int:
    """Run a training from parsed arguments; a clear message and exit code 2 on bad input."""
    from smartroute_graph.training.data import OutcomeLabels
    from smartroute_graph.training.trainer import TrainConfig, train

    problem = (
        "outcome labels need both --strong and --weak"
        if (args.strong is None) != (args.weak is None)
        else "--outcome-margin needs --strong and --weak (it applies to outcome labels)"
        if args.outcome_margin is not None and args.strong is None
        else None
    )
    if problem:
        print(f"smartroute train: error: {problem}", file=sys.stderr)  # noqa: T201
        return 2
    margin = OutcomeLabels.margin if args.outcome_margin is None else args.outcome_margin
    try:
        outcomes = OutcomeLabels(args.strong, args.weak, margin) if args.strong else None
    except SmartRouteError as exc:
        print(f"smartroute train: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    # Every flag given that names a TrainConfig field sets it (see add_parser).
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    config = TrainConfig(
        **{
            **given,
            "data": list(args.data),
            "outcomes": outcomes,
            "quantize": not args.no_quantize,
            "log": lambda message: print(message, file=sys.stderr, flush=True),  # noqa: T201
        }
    )
    try:
        result = train(config)
    except SmartRouteError as exc:
        print(f"smartroute train: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    val = result.metrics["validation"]
    print(  # noqa: T201
        f"{result.folder}: domain macro-F1 {val['domain_macro_f1']:.3f}, complexity accuracy "
        f"{val['complexity_accuracy_gold_domain']:.3f}, domain ECE {val['domain_ece']:.3f} "
        f"(held-out n={val['n']})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m smartroute_graph.training.command --out DIR``."""
    parser = argparse.ArgumentParser(prog="smartroute")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["train", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
