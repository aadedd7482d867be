"""Render an evaluation report: rich tables on a terminal, JSON for scripts, a PNG plot.

The report is the dict :func:`smartroute_graph.evaluation.analysis.analyse` returns.
Plotting needs matplotlib (the ``eval`` extra: ``pip install 'smartroute-graph[eval]'``); it
is imported only when a plot is asked for.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from smartroute_graph.core.errors import SmartRouteError

__all__ = [
    "print_report",
    "progress_bar",
    "to_jsonable",
    "write_json",
    "write_plot",
]


def _console(stream: IO[str] | None = None) -> Any:
    import sys

    from rich.console import Console

    stream = stream or sys.stdout
    # Piped output gets a wide page so tables are not cut to 80 columns.
    width = None if stream.isatty() else 160
    return Console(file=stream, highlight=False, soft_wrap=True, width=width)


@contextmanager
def progress_bar(total: int, label: str, *, enabled: bool = True) -> Iterator[Any]:
    """A transient rich progress bar on standard error; yields ``advance(n)``.

    Shown only on a terminal and when ``enabled``; otherwise ``advance`` does nothing.
    """
    import sys

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = _console(sys.stderr)
    if not enabled or not console.is_terminal:
        yield lambda n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


# -- JSON --------------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy numbers as Python numbers, tuples as lists and NaN/inf as None.

    The output is thus strict JSON.
    """
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write the report as indented JSON; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(to_jsonable(report), indent=2, allow_nan=False) + "\n")
    return out


# -- terminal ----------------------------------------------------------------------------------


def _pct(value: Any) -> str:
    return "-" if value is None or _nan(value) else f"{100 * float(value):.1f}%"


def _num(value: Any, digits: int = 3) -> str:
    return "-" if value is None or _nan(value) else f"{float(value):.{digits}f}"


def _usd(value: Any) -> str:
    if value is None or _nan(value):
        return "-"
    value = float(value)
    return f"${value:.2f}" if value >= 1 else f"${value:.6f}"


def _nan(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def print_report(report: Mapping[str, Any], stream: IO[str] | None = None) -> None:
    """Print the report's tables (rich) to ``stream`` (standard output by default)."""
    console = _console(stream)
    ds, router = report["dataset"], report["router"]
    sample = f" (sample of {ds['rows_in_file']:,})" if ds["rows_in_file"] != ds["rows"] else ""
    knobs = []
    if router.get("complexity_cutoffs"):
        knobs.append(f"complexity cut-offs {tuple(router['complexity_cutoffs'])}")
    if router.get("confidence_threshold") is not None:
        knobs.append(f"confidence threshold {router['confidence_threshold']}")
    console.print(
        f"[bold]{ds['name']}[/bold]: {ds['kind']}, {ds['rows']:,} prompts{sample} · classifier "
        f"[cyan]{router['classifier']}[/cyan] · preset {router['preset']} · {router['mode']}"
        + (f" · {', '.join(knobs)}" if knobs else "")
    )
    if report.get("labels"):
        _print_labels(console, report["labels"])
    if "strong_weak" in report:
        _print_strong_weak(console, report["strong_weak"])
    if "multi_model" in report:
        _print_multi_model(console, report["multi_model"])
    if "learned" in report:
        from smartroute_graph.evaluation.learned import print_learned

        print_learned(console, report["learned"], _table)
    _print_traffic(console, report["traffic"])


def _print_labels(console: Any, labels: Mapping[str, Any]) -> None:
    for level in ("domain", "complexity"):
        block = labels.get(level)
        if not block:
            continue
        extra = ""
        if "accuracy_given_gold_domain" in block:
            extra = f" · accuracy given the gold domain {_num(block['accuracy_given_gold_domain'])}"
        console.print(
            f"\n[bold]{level}[/bold] (n={block['n']:,}): accuracy {_num(block['accuracy'])} · "
            f"macro-F1 {_num(block['macro_f1'])} (over {', '.join(block['labels_present'])}) · "
            f"ECE {_num(block['ece'])}{extra}"
        )
        console.print(
            _table(
                f"{level}: per class",
                ["label", "support", "precision", "recall", "F1"],
                [
                    [
                        label,
                        str(int(v["support"])),
                        _num(v["precision"]),
                        _num(v["recall"]),
                        _num(v["f1"]),
                    ]
                    for label, v in block["per_class"].items()
                ],
            )
        )
        conf = block["confusion"]
        console.print(
            _table(
                f"{level}: confusion (rows gold, columns predicted)",
                ["gold \\ pred", *conf["cols"]],
                [[g, *map(str, row)] for g, row in zip(conf["rows"], conf["matrix"], strict=True)],
            )
        )
        if len(block["per_source"]) > 1:
            console.print(
                _table(
                    f"{level}: accuracy per source",
                    ["source", "n", "accuracy"],
                    [[s, str(v["n"]), _num(v["accuracy"])] for s, v in block["per_source"].items()],
                )
            )
        console.print(
            _table(
                f"{level}: reliability (confidence of the predicted label)",
                ["bin", "n", "mean confidence", "accuracy", "gap"],
                [
                    [
                        f"{r['low']:.1f}–{r['high']:.1f}",
                        str(int(r["count"])),
                        _num(r["confidence"]),
                        _num(r["accuracy"]),
                        f"{r['gap']:+.3f}",
                    ]
                    for r in block["reliability"]
                    if r["count"]
                ],
            )
        )
    gold = labels.get("routing_vs_gold")
    if gold:
        console.print(
            f"\n[bold]routing vs gold labels[/bold] (n={gold['n']:,}): same model as the gold "
            f"labels get {_pct(gold['same_model'])} · under-routed (weaker model) "
            f"{_pct(gold['under_routed'])} · over-routed {_pct(gold['over_routed'])}"
        )


def _print_strong_weak(console: Any, sw: Mapping[str, Any]) -> None:
    console.print(
        f"\n[bold]strong/weak routing[/bold]: weak {sw['weak_model']} {_num(sw['weak'])} · "
        f"strong {sw['strong_model']} {_num(sw['strong'])} · threshold swept over every cut "
        "point"
    )
    rows = []
    for r in sw["rows"]:
        name = r["name"] + (" *" if r.get("primary") else "")
        if "apgr" in r:
            rows.append([name, _num(r["apgr"]), _pct(r["cpt50"]), _pct(r["cpt80"]), "", ""])
        else:
            pgr = r.get("pgr")
            rows.append(
                [
                    name,
                    "",
                    "",
                    "",
                    _pct(r["share"]),
                    _num(r["quality"]) + (f" (PGR {_num(pgr, 2)})" if pgr is not None else ""),
                ]
            )
    console.print(
        _table(
            "APGR (higher is better), CPT = strong share to recover 50% / 80% of the gap "
            "(lower is better); * = the --score in use",
            ["router", "APGR", "CPT(50%)", "CPT(80%)", "strong share", "quality"],
            rows,
        )
    )


def _print_multi_model(console: Any, mm: Mapping[str, Any]) -> None:
    console.print(
        f"\n[bold]multi-model routing[/bold]: {len(mm['models'])} models; cost per prompt = "
        f"estimated input tokens + {mm['output_tokens']} output tokens at the table's prices "
        "(or the rows' own costs)"
    )
    console.print(
        _table(
            "single models",
            ["model", "$ / prompt", "quality"],
            [
                [s["model"], _usd(s["cost"]), _num(s["quality"])]
                for s in sorted(mm["singles"], key=lambda s: (s["cost"], -s["quality"]))
            ],
        )
    )
    ladder = mm["ladder"]
    op = ladder["operating_point"]
    rows = [[b["name"], _usd(b["cost"]), _num(b["quality"])] for b in mm["baselines"]]
    rows.append(
        [
            f"router ladder ({' → '.join(ladder['models'])}), equal bands",
            _usd(op["cost"]),
            _num(op["quality"]),
        ]
    )
    console.print(
        _table("baselines and the router's operating point", ["", "$ / prompt", "quality"], rows)
    )
    console.print(
        f"ladder curve: quality at the best single model's cost "
        f"{_num(ladder['quality_at_best_single_cost'])} "
        f"(random mixing: {_num(mm['random_mix_quality_at_best_single_cost'])}); cost to match "
        f"the best single model {_usd(ladder['cost_to_match_best_single'])} "
        f"({_pct(ladder['cost_ratio_to_match_best_single'])} of its cost)"
    )
    shares = ", ".join(f"{m} {_pct(v)}" for m, v in op["shares"].items() if v)
    console.print(f"operating point traffic: {shares}; total {_usd(op['total_cost'])}")
    table = mm.get("policy_table")
    if table:
        console.print(
            _table(
                f"policy table (domain, complexity) → model, fitted on {table['fit_rows']} rows, "
                f"measured on the other {table['test_rows']}",
                ["tolerance", "$ / prompt", "quality"],
                [
                    [f"{p['tolerance']:.3f}", _usd(p["cost"]), _num(p["quality"])]
                    for p in table["points"]
                ],
            )
        )
        best = table["best_single_on_test"]
        console.print(
            f"held-out: best single ({best['model']}) {_num(best['quality'])} at "
            f"{_usd(best['cost'])}; oracle {_num(table['oracle_on_test']['quality'])}; policy "
            f"table at equal cost {_num(table['quality_at_best_single_cost'])}, cost to match "
            f"{_pct(table['cost_ratio_to_match_best_single'])} of the best single's"
        )


def _print_traffic(console: Any, traffic: Mapping[str, Any]) -> None:
    lat = traffic["latency_ms"]
    rows = [[m, str(v["count"]), _pct(v["share"])] for m, v in traffic["models"].items()]
    console.print(_table("\nrouter's picks (catalog models)", ["model", "prompts", "share"], rows))
    console.print(
        f"strong share (not the cheapest model) {_pct(traffic['strong_share'])} · estimated cost "
        f"{_usd(traffic['estimated_cost_usd'])} total, "
        f"{_usd(traffic['estimated_cost_per_prompt_usd'])} per prompt · decision latency median "
        f"{_num(lat['median'], 3)} ms, p99 {_num(lat['p99'], 3)} ms ({lat['mode']}"
        f"{', amortised over batches' if lat['mode'] == 'batch' else ''}) · "
        f"{traffic['wall_s']:.1f} s"
    )


# -- plot ----------------------------------------------------------------------------------------


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise SmartRouteError(
            "plotting needs matplotlib: pip install 'smartroute-graph[eval]' (or pip install "
            "matplotlib)"
        ) from None
    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def write_plot(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write a PNG of the run's figures.

    Quality vs strong share (strong/weak), quality vs cost (multi-model), or the reliability
    diagrams and confusion matrix (labels).
    """
    plt = _pyplot()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    name = report["dataset"]["name"]
    classifier = report["router"]["classifier"]
    if "strong_weak" in report:
        fig = _plot_strong_weak(plt, report["strong_weak"], f"{name} · {classifier}")
    elif "multi_model" in report:
        fig = _plot_multi_model(plt, report["multi_model"], f"{name} · {classifier}")
    else:
        fig = _plot_labels(plt, report.get("labels") or {}, f"{name} · {classifier}")
    if "learned" in report:
        from smartroute_graph.evaluation.learned import plot_learned

        plot_learned(fig.axes[0], report["learned"])
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _plot_strong_weak(plt: Any, sw: Mapping[str, Any], title: str) -> Any:
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    styles = {"baseline": ":", "oracle": "--", "router": "-"}
    for r in sw["rows"]:
        if "curve" in r:
            label = f"{r['name']} (APGR {r['apgr']:.2f}, CPT50 {100 * r['cpt50']:.0f}%)"
            ax.plot(
                r["curve"]["x"],
                r["curve"]["y"],
                styles.get(r["kind"], "-"),
                label=label,
                linewidth=2.2 if r.get("primary") else 1.3,
            )
        elif "share" in r:
            marker = "*" if r["kind"] == "policy" else "o"
            ax.plot(
                [r["share"]],
                [r["quality"]],
                marker,
                markersize=11 if marker == "*" else 6,
                label=f"{r['name']} ({100 * r['share']:.0f}%, {r['quality']:.3f})",
            )
    ax.axhline(sw["weak"] + 0.5 * (sw["strong"] - sw["weak"]), color="grey", linewidth=0.6)
    ax.set_xlabel(f"share of calls to the strong model ({sw['strong_model']})")
    ax.set_ylabel("mean score of the routed answers")
    ax.set_title(f"quality vs strong share · {title}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def _plot_multi_model(plt: Any, mm: Mapping[str, Any], title: str) -> Any:
    fig, ax = plt.subplots(figsize=(8, 5.8))
    for s in mm["singles"]:
        ax.plot([s["cost"]], [s["quality"]], "o", color="grey")
        ax.annotate(
            s["model"],
            (s["cost"], s["quality"]),
            fontsize=6,
            xytext=(3, 3),
            textcoords="offset points",
        )
    hull = mm["random_mix_hull"]
    ax.plot(hull["x"], hull["y"], ":", color="grey", label="random mixing of single models")
    ladder = mm["ladder"]
    ax.plot(
        ladder["curve"]["x"],
        ladder["curve"]["y"],
        "-",
        linewidth=2,
        label=f"router ladder ({' → '.join(ladder['models'])})",
    )
    op = ladder["operating_point"]
    ax.plot([op["cost"]], [op["quality"]], "*", markersize=12, label="router operating point")
    table = mm.get("policy_table")
    if table:
        ax.plot(
            [p["cost"] for p in table["points"]],
            [p["quality"] for p in table["points"]],
            "s--",
            markersize=4,
            label=f"policy table (held-out {table['test_rows']} rows)",
        )
    oracle = next(b for b in mm["baselines"] if b["name"].startswith("oracle"))
    ax.plot([oracle["cost"]], [oracle["quality"]], "D", label="oracle")
    ax.set_xscale("log")
    ax.set_xlabel("estimated cost per prompt (USD, log scale)")
    ax.set_ylabel("mean score")
    ax.set_title(f"quality vs cost · {title}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="best")
    return fig


def _plot_labels(plt: Any, labels: Mapping[str, Any], title: str) -> Any:
    levels = [lv for lv in ("domain", "complexity") if labels.get(lv)]
    fig, axes = plt.subplots(1, len(levels) + 1, figsize=(5 * (len(levels) + 1), 4.6))
    axes = list(axes) if len(levels) else [axes]
    for ax, level in zip(axes, levels, strict=False):
        rel = [r for r in labels[level]["reliability"] if r["count"]]
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.plot([r["confidence"] for r in rel], [r["accuracy"] for r in rel], "o-")
        ax.set_xlabel("mean confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{level} reliability (ECE {labels[level]['ece']:.3f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    if levels:
        conf = labels[levels[0]]["confusion"]
        ax = axes[-1]
        ax.imshow(conf["matrix"], cmap="Blues")
        ax.set_xticks(range(len(conf["cols"])), conf["cols"], rotation=45, fontsize=7)
        ax.set_yticks(range(len(conf["rows"])), conf["rows"], fontsize=7)
        for i, row in enumerate(conf["matrix"]):
            for j, v in enumerate(row):
                if v:
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
        ax.set_title(f"{levels[0]} confusion (rows gold)")
    fig.suptitle(title)
    return fig
