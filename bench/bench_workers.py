"""Throughput of ``smartroute serve`` with several workers against one process, side by side.

What it measures
----------------
The fake OpenAI-compatible provider (``tests/support/fake_upstream.py``, in its own process,
answering at once) stands in for OpenAI; ``smartroute serve`` runs as a real
subprocess, first as one process (today's default), then with ``--workers N``, over the
``openai`` preset with the real ``ChatOpenAI`` models pointed at the fake provider, the
packaged encoder classifier and a server token. An async ``httpx`` client keeps
``--concurrency`` requests in flight on ``/v1/chat/completions`` until ``--requests``
requests are done, each a distinct question (no response cache is configured, and none
could hit). Each request carries an ``X-Request-ID``; an answer counts only when it is a 200
echoing its own id (``lost``: anything else). Latency is from send to full body, p50 and p99
by nearest rank. The runs alternate (1, N, 1, N, ...) ``--rounds`` times and the table gives
each configuration's median round, so a busy machine affects both alike.

Client, provider and server share the machine: on 2 cores the client and the provider take
CPU the workers would use, so the ratio is a floor for what N workers give on their own
cores.

Run from the repository root::

    .venv/bin/python bench/bench_workers.py [--requests 1500] [--concurrency 32] \
        [--workers 2] [--rounds 3] [--json artifacts/bench_workers.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

ROOT = Path(__file__).resolve().parents[1]

TOKEN = "bench-workers-token-0123456789"


async def _load(url: str, requests: int, concurrency: int, tag: str) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    ok = 0
    queue = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=120, headers=headers
    ) as client:

        async def worker() -> None:
            nonlocal ok
            for i in queue:
                rid = f"{tag}-{i}"
                body = {
                    "model": "smartroute",
                    "messages": [{"role": "user", "content": f"[{rid}] What is {i} plus {i}?"}],
                }
                started = time.perf_counter()
                try:
                    response = await client.post(
                        "/v1/chat/completions", json=body, headers={"X-Request-ID": rid}
                    )
                except httpx.TransportError:
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code == 200 and response.headers.get("x-request-id") == rid:
                    ok += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    ordered = sorted(latencies)

    def rank(q: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]

    return {
        "requests": requests,
        "seconds": seconds,
        "requests_per_s": requests / seconds,
        "ok": ok,
        "lost": requests - ok,
        "p50_ms": rank(0.5),
        "p99_ms": rank(0.99),
    }


def _serve(port: int, workers: int, base_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OPENAI_API_KEY": "sk-bench-fake",
        "OPENAI_BASE_URL": base_url,
        "SMARTROUTE_SERVER_TOKEN": TOKEN,
        "LANGSMITH_TRACING": "false",
    }
    command = [sys.executable, "-m", "smartroute_graph.cli", "serve", "--port", str(port)]
    command += ["--log-level", "warning", "--workers", str(workers)]
    return subprocess.Popen(command, env=env, cwd=ROOT)


async def _run(url: str, args: argparse.Namespace, workers: int, rnd: int) -> dict[str, Any]:
    import httpx

    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    # Warm-up (each worker loads the classifier on its first requests): not counted.
    await _load(url, args.warmup, args.concurrency, f"warm{workers}-{rnd}")
    return await _load(url, args.requests, args.concurrency, f"run{workers}-{rnd}")


def serve_upstream(port: int) -> None:
    """The fake provider on 127.0.0.1:``port`` (child process)."""
    sys.path.insert(0, str(ROOT))
    from tests.support.fake_upstream import FakeUpstream

    FakeUpstream(port=port).start()
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return 0
    # A terminated bench stops its servers too (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    sys.path.insert(0, str(ROOT))
    from tests.support.servers import free_port

    runs: dict[int, list[dict[str, Any]]] = {1: [], args.workers: []}
    upstream_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, __file__, "--serve-upstream", str(upstream_port)],
        stdout=subprocess.PIPE,
    )
    try:
        assert upstream.stdout is not None and upstream.stdout.readline().strip() == b"ready"
        base_url = f"http://127.0.0.1:{upstream_port}/v1"
        for rnd in range(args.rounds):
            for workers in (1, args.workers):
                port = free_port()
                process = _serve(port, workers, base_url)
                try:
                    result = asyncio.run(_run(f"http://127.0.0.1:{port}", args, workers, rnd))
                finally:
                    process.terminate()
                    process.wait(timeout=60)
                runs[workers].append(result)
                print(f"round {rnd + 1}, {workers} worker(s): {result}", flush=True)
    finally:
        upstream.terminate()
        upstream.wait(timeout=30)

    def median(workers: int, key: str) -> float:
        return statistics.median(r[key] for r in runs[workers])

    rows = [
        [
            f"{w} process" if w == 1 else f"{w} workers",
            round(median(w, "requests_per_s"), 1),
            round(median(w, "p50_ms"), 1),
            round(median(w, "p99_ms"), 1),
            sum(r["lost"] for r in runs[w]),
        ]
        for w in runs
    ]
    ratio = median(args.workers, "requests_per_s") / median(1, "requests_per_s")
    print(table(["server", "requests/s", "p50 ms", "p99 ms", "lost (all rounds)"], rows))
    print(f"throughput ratio {args.workers} workers / 1 process: {ratio:.2f}x")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; load {os.getloadavg()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
