"""`smartroute classify` throughput on 2,000 short chat prompts, whole process and in-process.

    .venv/bin/python bench/bench_classify_cli.py [--prompts 2000] [--runs 3] [--model accurate]

The prompts are the packaged corpus's and supplement's rows of at most 200 characters (real
hand-written requests: greetings, questions, small tasks; 2,563 rows), shuffled with a fixed
seed; none comes from the public evaluation files.

1. Whole process: ``python -m smartroute_graph.cli classify FILE`` (start, import, model
   load, classification, JSON output), best and median of ``--runs``.
2. In-process, side by side (interleaved rounds, cache off): the CLI's old way (64-prompt
   calls, each padded to its longest prompt) against one call cut into token-budget batches
   (``batch_tokens`` 1024 / 2048 (the default) / 4096).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import table

from smartroute_graph.classifiers.encoder import EncoderClassifier
from smartroute_graph.classifiers.model_folder import MODELS_DIR
from smartroute_graph.training.data import load_examples

ROOT = Path(__file__).resolve().parents[1]


def short_prompts(n: int, max_chars: int = 200) -> list[str]:
    """``n`` short prompts from the packaged corpus (repeats cycle when ``n`` is larger)."""
    data = MODELS_DIR.parent
    rows = [
        ex.text
        for ex in load_examples([data / "corpus", data / "supplement"])
        if len(ex.text) <= max_chars
    ]
    random.Random(0).shuffle(rows)
    return [rows[i % len(rows)] for i in range(n)]


def whole_process(path: Path, model: str, runs: int) -> list[float]:
    """Seconds per run of the CLI on ``path``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "smartroute_graph.cli", "classify", str(path)]
    if model != "accurate":
        cmd += ["--classifier", f"encoder:{model}"]
    out: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        out.append(time.perf_counter() - start)
        lines = done.stdout.count("\n")
        if lines != sum(1 for _ in path.open()):
            raise SystemExit(f"the CLI wrote {lines} lines for {path}")
    return out


def in_process(texts: list[str], model: str, rounds: int) -> list[list[object]]:
    """prompts/s of the old 64-prompt calls and of token-budget batching, interleaved."""
    variants = {
        "64-prompt calls, padded to the longest (old CLI)": (64, 10**9, 64),
        "one call, batch_tokens=1024": (256, 1024, len(texts)),
        "one call, batch_tokens=2048 (default)": (256, 2048, len(texts)),
        "one call, batch_tokens=4096": (256, 4096, len(texts)),
    }
    clf = EncoderClassifier(model, cache_size=0)
    clf.classify(texts[:64])  # warm up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (batch_size, batch_tokens, call) in variants.items():
            clf.batch_size, clf.batch_tokens = batch_size, batch_tokens
            start = time.perf_counter()
            for i in range(0, len(texts), call):
                clf.classify(texts[i : i + call])
            times[name].append(time.perf_counter() - start)
    base = min(times[next(iter(variants))])
    return [
        [
            name,
            f"{len(texts) / min(t):.0f}",
            f"{len(texts) / statistics.median(t):.0f}",
            f"{base / min(t):.2f}x",
        ]
        for name, t in times.items()
    ]


def main(argv: list[str] | None = None) -> int:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="accurate", help="accurate or fast")
    args = parser.parse_args(argv)
    texts = short_prompts(args.prompts)
    print(
        f"{len(texts)} prompts, mean {statistics.mean(map(len, texts)):.0f} chars; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prompts.jsonl"
        path.write_text(
            "".join(json.dumps({"id": i, "prompt": t}) + "\n" for i, t in enumerate(texts)),
            encoding="utf-8",
        )
        runs = whole_process(path, args.model, args.runs)
    print(
        table(
            ["whole process", "best s", "median s", "prompts/s (best)", "prompts/s (median)"],
            [
                [
                    f"smartroute classify ({args.model})",
                    f"{min(runs):.2f}",
                    f"{statistics.median(runs):.2f}",
                    f"{len(texts) / min(runs):.0f}",
                    f"{len(texts) / statistics.median(runs):.0f}",
                ]
            ],
        )
    )
    print()
    print(
        table(
            ["in-process", "prompts/s (best)", "prompts/s (median)", "speed-up (best)"],
            in_process(texts, args.model, args.runs),
        )
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
