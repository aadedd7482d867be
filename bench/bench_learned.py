"""What learning costs: decision overhead with 100,000 stored outcomes, and store writes.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_learned.py [--outcomes 100000]
        [--decisions 500] [--writes 500] [--postgres URL | --start-postgres] [--json out.json]

Stored queries are the packaged corpus's prompts embedded by the packaged encoder, each copied
with noise drawn from the corpus embeddings' own spectrum until there are ``--outcomes`` of
them (one outcome each, three models: the worst case for the index, every outcome a distinct
query, as online feedback is). They are written to an SQLite store, loaded into memory and the
policy's knobs fitted; then ``LearnedPolicy.decide`` is timed on fresh queries (the learned
node's whole overhead given the query's embedding, which the classifier's own pass already
produced) and single-observation writes are timed on SQLite and, when asked, PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import read_jsonl, table

from smartroute_graph.classifiers.base import Classification
from smartroute_graph.routing.learned import LearnedPolicy
from smartroute_graph.routing.outcomes import Observation, OutcomeStore
from smartroute_graph.routing.stores import open_outcome_store

CORPUS = Path(__file__).resolve().parents[1] / "smartroute_graph" / "data" / "corpus"
MODELS = ("gpt-4.1-nano", "gpt-4.1", "o4-mini")


def corpus_vectors(limit: int) -> tuple[np.ndarray, list[Classification]]:
    """The corpus prompts' embeddings and classifications (packaged encoder)."""
    from smartroute_graph.classifiers.encoder import EncoderClassifier

    rows = [r for f in sorted(CORPUS.glob("*.jsonl")) for r in read_jsonl(f)][:limit]
    decisions, vectors = EncoderClassifier().classify_with_embeddings([r["prompt"] for r in rows])
    return vectors, decisions


def synthetic(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` vectors: corpus vectors plus noise with the corpus's own covariance."""
    values, vectors = np.linalg.eigh(np.cov(base.T))
    scale = np.sqrt(np.clip(values, 0, None))
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 10_000):
        m = min(10_000, n - start)
        noise = (rng.standard_normal((m, base.shape[1])) * scale) @ vectors.T
        x = base[rng.integers(0, len(base), m)] + 0.6 * noise
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def ms(samples: list[float]) -> dict[str, float]:
    values = np.array(samples) * 1000
    return {"median_ms": float(np.median(values)), "p99_ms": float(np.percentile(values, 99))}


def time_writes(store: OutcomeStore, vectors: np.ndarray, writes: int) -> dict[str, float]:
    samples = []
    for i in range(writes):
        o = Observation(
            embedding=vectors[i % len(vectors)],
            model=MODELS[i % 3],
            score=1.0,
            source="bench-write",
            cost_usd=0.0001,
            latency_ms=900.0,
        )
        t0 = time.perf_counter()
        store.add([o])
        samples.append(time.perf_counter() - t0)
    store.delete("bench-write")
    return ms(samples)


def start_postgres(folder: Path) -> tuple[str, list[str]]:
    """A throwaway PostgreSQL cluster in ``folder``; returns its URL and the stop command."""
    import socket

    bindir = next(
        (
            d
            for d in ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")
            if Path(d, "initdb").is_file()
        ),
        str(Path(shutil.which("initdb") or "initdb").parent),
    )
    wrap = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if wrap:
        shutil.chown(folder, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"
    subprocess.run(
        [*wrap, f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *wrap,
            f"{bindir}/pg_ctl",
            "-D",
            str(data),
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {folder}",
            "-l",
            str(folder / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    stop = [*wrap, f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


def main(argv: list[str] | None = None) -> int:
    """Print the overhead table; ``--json`` writes it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outcomes", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=500)
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--corpus", type=int, default=3000, help="corpus prompts embedded")
    parser.add_argument("--postgres", default=None, help="also time writes on this store URL")
    parser.add_argument(
        "--start-postgres",
        action="store_true",
        help="start a throwaway PostgreSQL cluster for the write timings",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    base, decisions = corpus_vectors(args.corpus)
    print(f"embedded {len(base)} corpus prompts in {time.perf_counter() - t0:.1f} s")
    stored = synthetic(base, args.outcomes, rng)
    fresh = synthetic(base, args.decisions, np.random.default_rng(1))
    figures: dict[str, Any] = {"outcomes": args.outcomes}
    with tempfile.TemporaryDirectory() as tmp:
        store = open_outcome_store(Path(tmp) / "outcomes.db", embedder="encoder:accurate")
        t0 = time.perf_counter()
        for start in range(0, args.outcomes, 5000):
            store.add(
                Observation(
                    embedding=stored[i],
                    model=MODELS[i % 3],
                    score=float(rng.random() < 0.7),
                    cost_usd=0.0001 * (1 + i % 3),
                    source="bench",
                    domain=decisions[i % len(decisions)].domain,
                    complexity=decisions[i % len(decisions)].complexity,
                )
                for i in range(start, min(args.outcomes, start + 5000))
            )
        figures["bulk_write_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        policy = LearnedPolicy.from_store(store)
        figures["load_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        policy.fit()
        figures["fit_s"] = time.perf_counter() - t0
        priors = [decisions[i % len(decisions)] for i in range(args.decisions)]
        policy.decide(fresh[0], prior=priors[0])  # builds the index (timed below)
        figures["index_build_s"] = time.perf_counter() - t0 - figures["fit_s"]
        samples = []
        for vector, prior in zip(fresh, priors, strict=True):
            t1 = time.perf_counter()
            policy.decide(vector, prior=prior, candidates=list(MODELS))
            samples.append(time.perf_counter() - t1)
        figures["decision"] = ms(samples)
        t1 = time.perf_counter()
        policy.memory.refresh()
        figures["refresh_nothing_new_ms"] = (time.perf_counter() - t1) * 1000
        figures["sqlite_write"] = time_writes(store, fresh, args.writes)
        store.close()
    url, stop, pg_tmp = args.postgres, None, None
    if args.start_postgres and not url:
        pg_tmp = Path(tempfile.mkdtemp(prefix="smartroute-bench-pg-"))
        url, stop = start_postgres(pg_tmp)
    if url:
        try:
            pg = open_outcome_store(url)
            figures["postgres_write"] = time_writes(pg, fresh, args.writes)
            pg.close()
        finally:
            if stop:
                subprocess.run(stop, capture_output=True)
            if pg_tmp:
                shutil.rmtree(pg_tmp, ignore_errors=True)
    rows = [
        [
            "learned decision (decide), 100k-outcome store"
            if args.outcomes == 100_000
            else f"learned decision, {args.outcomes} outcomes",
            figures["decision"]["median_ms"],
            figures["decision"]["p99_ms"],
        ],
        [
            "SQLite store write (one observation)",
            figures["sqlite_write"]["median_ms"],
            figures["sqlite_write"]["p99_ms"],
        ],
    ]
    if "postgres_write" in figures:
        rows.append(
            [
                "PostgreSQL store write (one observation)",
                figures["postgres_write"]["median_ms"],
                figures["postgres_write"]["p99_ms"],
            ]
        )
    print()
    print(table(["operation", "median ms", "p99 ms"], rows))
    print(
        f"\nbulk write {figures['bulk_write_s']:.1f} s, load into memory {figures['load_s']:.1f} s,"
        f" fit knobs {figures['fit_s']:.1f} s, build the index {figures['index_build_s']:.1f} s, "
        f"refresh with nothing new {figures['refresh_nothing_new_ms']:.2f} ms; knobs "
        f"{ {k: policy.tuning[k] for k in ('k', 'bandwidth', 'local_strength', 'cell_strength')} }"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
