"""Decision latency, throughput, cold start and memory of the classifiers, side by side.

    .venv/bin/python bench/bench_classifier.py [--model accurate --model fast ...]

One query at a time (decision cache off): median and p99 over real prompts (the domain probes
when ``../shared/eval`` is present, else built-in samples) and over one short query. Batched
throughput over distinct prompts. Cold start (import + load + first decision) and peak resident
memory in a fresh process. The reference row is a DistilBERT-size encoder (randomly initialised
DistilBertConfig, as the older routers ran it: torch, fp32) with the same tokenizer and
max_len; its row needs torch and is skipped without it. Ratios are DistilBERT / model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import EVAL_DIR, load_classifier, read_jsonl, table

SHORT = "What's the capital of Australia?"
SAMPLES = [
    SHORT,
    "Write a Python function that checks whether a string is a palindrome, ignoring case.",
    "A train leaves at 3pm going 60 mph; another leaves at 4pm at 80 mph. When does the second "
    "catch up?",
    "hi! how are you today?",
    "Summarise the following paragraph in two sentences: The committee met on Tuesday to "
    "discuss the budget. After a long debate, members agreed to postpone the vote.",
    "Write a short poem about autumn leaves falling in the city.",
    "If all bloops are razzies and all razzies are lazzies, are all bloops lazzies? Explain.",
    "Design a distributed rate limiter for a multi-region API gateway handling 1M req/s.",
]


def prompts(limit: int) -> list[str]:
    """Real prompts for timing (domain probes), or the built-in samples."""
    path = EVAL_DIR / "domain_probes.jsonl"
    if path.is_file():
        return [r["prompt"] for r in read_jsonl(path)][:limit]
    return (SAMPLES * (limit // len(SAMPLES) + 1))[:limit]


class DistilBertBaseline:
    """A DistilBERT-size classifier in torch (random weights: latency only)."""

    name = "distilbert-size (torch fp32)"

    def __init__(self, max_len: int = 128) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import DistilBertConfig, DistilBertModel

        from smartroute_graph.training.model import minilm_path

        torch.set_num_threads(os.cpu_count() or 1)
        self.torch = torch
        self.tok = Tokenizer.from_file(str(Path(minilm_path()) / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_len)
        self.model = DistilBertModel(DistilBertConfig()).eval()
        self.head = torch.nn.Linear(768, 28)

    def classify(self, texts: list[str]) -> list[Any]:
        """Logits for each text (no Classification objects: latency only)."""
        torch = self.torch
        encs = self.tok.encode_batch(texts)
        width = max(len(e.ids) for e in encs)
        ids = torch.zeros((len(encs), width), dtype=torch.long)
        mask = torch.zeros((len(encs), width), dtype=torch.long)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
            mask[i, : len(e.ids)] = 1
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
            return list(self.head(out[:, 0]).numpy())


def latency(clf: Any, texts: list[str], repeats: int = 1) -> list[float]:
    """Milliseconds per single-query decision."""
    for t in texts[:10]:
        clf.classify([t])
    times = []
    for _ in range(repeats):
        for t in texts:
            start = time.perf_counter()
            clf.classify([t])
            times.append((time.perf_counter() - start) * 1000)
    return times


def throughput(clf: Any, texts: list[str]) -> float:
    """Prompts per second, all texts in one call (the classifier batches inside)."""
    start = time.perf_counter()
    if isinstance(clf, DistilBertBaseline):
        order = sorted(texts, key=len)
        for i in range(0, len(order), 64):
            clf.classify(order[i : i + 64])
    else:
        clf.classify(texts)
    return len(texts) / (time.perf_counter() - start)


COLD = """
import resource, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
t = time.perf_counter()
sys.path.insert(0, {bench!r}); sys.path.insert(0, {root!r})
import smartroute_graph.classifiers.base, numpy
base_rss = rss()
spec = {spec!r}
if spec == "distilbert":
    from bench_classifier import DistilBertBaseline
    clf = DistilBertBaseline()
else:
    from _common import load_classifier
    clf = load_classifier(spec)
clf.classify(["hello, can you help me with something?"])
elapsed = time.perf_counter() - t
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, rss() - base_rss)
"""


def cold_start(spec: str) -> tuple[float, float, float]:
    """Import + load + first decision in a fresh interpreter: (seconds, peak RSS MB, RSS MB
    added by the classifier over the imported package)."""
    code = COLD.format(
        bench=str(Path(__file__).resolve().parent),
        root=str(Path(__file__).resolve().parents[1]),
        spec=spec,
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    secs, rss, delta = out.stdout.split()[-3:]
    return float(secs), float(rss), float(delta)


def model_mb(spec: str) -> float | str:
    """Size of a model folder's model.onnx in MB."""
    if spec in ("rules", "distilbert"):
        return "-" if spec == "rules" else 265.0
    from smartroute_graph.classifiers.model_folder import resolve_model_dir

    return (resolve_model_dir(spec) / "model.onnx").stat().st_size / 1e6


def main(argv: list[str] | None = None) -> int:
    """Print the side-by-side table; ``--json`` also writes the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        help="accurate | fast | rules | model folder (repeatable)",
    )
    parser.add_argument("--n", type=int, default=300, help="prompts timed one at a time")
    parser.add_argument("--throughput-n", type=int, default=2000)
    parser.add_argument("--no-distilbert", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    specs = args.model or ["accurate", "fast"]
    if not args.no_distilbert:
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401

            specs.append("distilbert")
        except ImportError:
            print("torch/transformers not installed: DistilBERT reference row skipped")
    texts = prompts(args.n)
    many = prompts(max(args.throughput_n, 1))
    many = (many * (args.throughput_n // len(many) + 1))[: args.throughput_n]
    many = [f"{t} #{i}" for i, t in enumerate(many)]  # distinct: no cache hits
    short_many = [f"{SAMPLES[i % 6]} #{i}" for i in range(args.throughput_n)]
    results: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if spec == "distilbert":
            clf: Any = DistilBertBaseline()
        elif spec == "rules":
            clf = load_classifier(spec)
            clf.cache_size = 0
            if hasattr(clf, "_cache"):
                clf._cache = None
        else:
            from smartroute_graph.classifiers.encoder import EncoderClassifier

            clf = EncoderClassifier(spec, cache_size=0)
        real = latency(clf, texts)
        short = latency(clf, [SHORT] * 200)
        n_tp = len(many) if spec != "distilbert" else min(len(many), 300)
        tput = throughput(clf, many[:n_tp])
        tput_short = throughput(clf, short_many[:n_tp])
        secs, rss, delta = cold_start(spec)
        results[spec] = {
            "name": getattr(clf, "name", spec),
            "median_ms": statistics.median(real),
            "p99_ms": float(np.percentile(real, 99)),
            "short_median_ms": statistics.median(short),
            "throughput": tput,
            "throughput_short": tput_short,
            "cold_start_s": secs,
            "rss_mb": rss,
            "rss_added_mb": delta,
            "model_mb": model_mb(spec),
        }
        print(f"measured {spec}: {results[spec]}", file=sys.stderr)
    ref = results.get("distilbert")
    rows = []
    for r in results.values():
        ratio = f"{ref['median_ms'] / r['median_ms']:.1f}x" if ref else "-"
        rows.append(
            [
                r["name"],
                r["median_ms"],
                r["p99_ms"],
                r["short_median_ms"],
                f"{r['throughput']:.0f}",
                f"{r['throughput_short']:.0f}",
                f"{r['cold_start_s']:.2f}",
                f"{r['rss_mb']:.0f}",
                f"{r['rss_added_mb']:.0f}",
                r["model_mb"],
                ratio,
            ]
        )
    print(
        f"\nOne query at a time over {len(texts)} real prompts (median/p99) and one short "
        f"query (median); batched throughput over {args.throughput_n} distinct real prompts "
        f"(domain probes, many long exam questions) and short chat-length prompts; cold "
        f"start (import + load + first decision), peak RSS of that process and the RSS the "
        f"classifier adds over the imported package; {os.cpu_count()} CPU cores.\n"
    )
    print(
        table(
            [
                "classifier",
                "median ms",
                "p99 ms",
                "short ms",
                "real prompts/s",
                "short prompts/s",
                "cold start s",
                "peak RSS MB",
                "classifier RSS MB",
                "model MB",
                "speed-up vs DistilBERT (median)",
            ],
            rows,
        )
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
