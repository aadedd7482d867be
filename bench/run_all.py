"""Run every benchmark script in bench/ (and, with --eval, the evaluation harness) in one go.

    .venv/bin/python bench/run_all.py [--quick] [--only NAME ...] [--skip NAME ...]
                                      [--json-dir artifacts/bench] [--eval]

Each ``bench/*.py`` script (not ``_*.py``, not this one) runs in its own process, one after
the other, with its output streamed as it comes (their tables print as they finish), then a
summary: status and time of each. ``--quick`` passes each known script smaller settings (for a
smoke run: the figures are noisier); unknown scripts get their defaults. ``--json-dir`` asks
every script that takes ``--json`` to write its figures there. ``--eval`` also runs
``smartroute eval`` on each file of ``../shared/eval`` (tables, JSON and PNG plots under
``--json-dir``). Exit status 1 when any script failed.

Scripts run with LangSmith tracing off and from the repository root.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import EVAL_DIR, table

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent

# Smaller settings per script for --quick (smoke runs, e.g. in CI).
QUICK_ARGS: dict[str, list[str]] = {
    "bench_graph_overhead": ["--calls", "200", "--warmup", "20"],
    "bench_classifier": ["--n", "100", "--throughput-n", "300", "--no-distilbert"],
    "eval_classifier": ["--model", "rules"],
    "bench_server_load": ["--requests", "300", "--warmup", "30"],
    "bench_server_faults": ["--requests", "200", "--concurrency", "16"],
    "bench_llm_classifier": ["--calls", "200"],
    "bench_telemetry": ["--requests", "200"],
}
EVAL_FILES = (
    "domain_probes.jsonl",
    "strong_weak_mtbench.jsonl",
    "strong_weak_gsm8k.jsonl",
    "strong_weak_mmlu.jsonl",
    "multi_model_llmrouter.jsonl",
)


def scripts() -> list[Path]:
    """The benchmark scripts, in name order."""
    return sorted(
        p
        for p in BENCH_DIR.glob("*.py")
        if not p.name.startswith("_") and p.name != Path(__file__).name
    )


def takes_json(script: Path) -> bool:
    """Whether the script has a ``--json`` option (read from its source: no import)."""
    return '"--json"' in script.read_text(encoding="utf-8")


def run(command: list[str], timeout_s: float) -> tuple[int, float]:
    """Run ``command``, streaming its output; returns (exit status, seconds)."""
    env = {
        **os.environ,
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "PYTHONUNBUFFERED": "1",
    }
    started = time.perf_counter()
    with subprocess.Popen(command, cwd=ROOT, env=env) as process:
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            print(f"!! timed out after {timeout_s:.0f} s", flush=True)
            code = 124
    return code, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print a summary; exit 1 when any failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller settings (smoke run)")
    parser.add_argument("--only", action="append", default=[], help="run only this script")
    parser.add_argument("--skip", action="append", default=[], help="skip this script")
    parser.add_argument("--json-dir", type=Path, default=None, help="write each script's JSON")
    parser.add_argument("--eval", action="store_true", help="also run smartroute eval")
    parser.add_argument("--classifier", default=None, help="classifier for --eval")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per script")
    args = parser.parse_args(argv)

    found = {p.stem: p for p in scripts()}
    unknown = [n for n in [*args.only, *args.skip] if n.removesuffix(".py") not in found]
    if unknown:
        parser.error(f"unknown script(s) {unknown}; bench/ has: {', '.join(found)}")
    only = {n.removesuffix(".py") for n in args.only}
    skip = {n.removesuffix(".py") for n in args.skip}
    selected = [p for name, p in found.items() if (not only or name in only) and name not in skip]
    if args.json_dir:
        args.json_dir.mkdir(parents=True, exist_ok=True)

    summary: list[list[object]] = []
    for script in selected:
        command = [sys.executable, str(script)]
        if args.quick:
            command += QUICK_ARGS.get(script.stem, [])
        out = None
        if args.json_dir and takes_json(script):
            out = args.json_dir / f"{script.stem}.json"
            command += ["--json", str(out)]
        print(f"\n{'=' * 100}\n== {script.name} {' '.join(command[2:])}\n{'=' * 100}", flush=True)
        code, seconds = run(command, args.timeout)
        summary.append(
            [script.name, "ok" if code == 0 else f"FAILED ({code})", seconds, out or "-"]
        )

    if args.eval:
        if not EVAL_DIR.is_dir():
            summary.append(["smartroute eval", f"skipped: no {EVAL_DIR}", 0.0, "-"])
        for name in EVAL_FILES:
            path = EVAL_DIR / name
            if not path.is_file():
                continue
            stem = Path(name).stem
            command = [
                sys.executable,
                "-m",
                "smartroute_graph.evaluation.command",
                "eval",
                str(path),
            ]
            if args.classifier:
                command += ["--classifier", args.classifier]
            if args.quick and stem == "strong_weak_mmlu":
                command += ["--limit", "2000"]
            if args.json_dir:
                command += [
                    "--json",
                    str(args.json_dir / f"eval_{stem}.json"),
                    "--plot",
                    str(args.json_dir / f"eval_{stem}.png"),
                ]
            print(f"\n{'=' * 100}\n== smartroute eval {name}\n{'=' * 100}", flush=True)
            code, seconds = run(command, args.timeout)
            summary.append(
                [
                    f"eval {name}",
                    "ok" if code == 0 else f"FAILED ({code})",
                    seconds,
                    args.json_dir / f"eval_{stem}.json" if args.json_dir else "-",
                ]
            )

    print(f"\n{'=' * 100}\n== summary\n")
    print(table(["script", "status", "seconds", "json"], summary))
    return 0 if all(row[1] == "ok" or str(row[1]).startswith("skipped") for row in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
