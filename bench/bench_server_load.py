"""Load test of the HTTP API over the loopback, with scripted models.

What it measures
----------------
The server (``smartroute_graph.serving.app.create_app``) runs in its own process under uvicorn,
over the ``openai`` preset with every model replaced by an offline
``smartroute_graph.testing.FakeChatModel`` (a fixed answer; ``--model-delay-ms`` adds a
simulated provider latency), with a server token, so each request pays for the auth check,
validation, the routing graph and the JSON response but for no network. An async ``httpx``
client keeps ``--concurrency`` requests in flight until ``--requests`` requests have been
sent to each endpoint:

``/test-selection``  the routing decision alone (classifier + policy, no model call);
``/route``           the whole graph with one (fake) model call.

Each request carries a unique ``X-Request-ID`` and a numbered query; an answer counts as
``ok`` only when it is a 200 whose echoed request id (and, for ``/test-selection``, echoed
query) is the request's own. ``errors`` are transport failures and non-200 answers; ``lost``
are requests without their own answer (an answer carrying another request's id or query, or
none by the deadline). ``ok + errors + lost = requests`` always; the target is 0 errors and 0
lost. Latency is from send to the full response body, in milliseconds (p50, p99 nearest rank).

Client and server share the machine: on a 2-core box the client's own CPU use caps the
figures, so read them as a floor for the server alone. The CPU columns say where the time
went: CPU seconds of the server process and of the client per request (from /proc and
``time.process_time``), figures that a busy machine moves less than wall-clock ones.

The server runs as ``smartroute serve`` runs it, keep-alive timeout included
(``--keep-alive-s``; ``5`` reproduces uvicorn's default, whose close of an idle connection
can race a busy client's next request on it). ``--check`` makes the exit status 1 when any
request errored or was lost.

Run from the repository root::

    .venv/bin/python bench/bench_server_load.py [--requests 3000] [--concurrency 32] \
        [--json artifacts/bench_server_load.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

from smartroute_graph.serving.command import DEFAULT_KEEP_ALIVE_S

TOKEN_ENV = "BENCH_SMARTROUTE_TOKEN"
ENDPOINTS = ("test-selection", "route")
QUERIES = (
    "hi there, how are you?",
    "What is the capital of Australia?",
    "Write a Python function that merges two sorted lists",
    "Prove that the square root of 2 is irrational",
    "Summarise this paragraph: the quarterly report reviews revenue and costs",
    "Write a short poem about autumn leaves",
    "If Alice is older than Bob and Bob is older than Carol, who is youngest?",
)


# -- the server process --------------------------------------------------------------------


def serve(port: int, model_delay_ms: float, keep_alive_s: float) -> None:
    """Run the API on 127.0.0.1:``port`` over scripted models (the child process)."""
    os.environ.setdefault("LANGSMITH_TRACING", "false")
    import uvicorn

    from smartroute_graph import SmartRouter
    from smartroute_graph.serving.app import create_app
    from smartroute_graph.serving.command import use_server_encoder_settings
    from smartroute_graph.testing import FakeChatModel

    use_server_encoder_settings()  # as `smartroute serve` does

    models = {
        name: FakeChatModel(
            responses=[f"answer from {name}: a short scripted reply of about twelve words here"],
            model_name=name,
            delay_s=model_delay_ms / 1000,
        )
        for name in ("gpt-4.1-nano", "gpt-4.1", "o4-mini")
    }
    router = SmartRouter.from_preset("openai", models=models)
    app = create_app(router, server_token=os.environ[TOKEN_ENV])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=int(keep_alive_s),
    )


# -- the client ----------------------------------------------------------------------------------


@dataclass
class Result:
    endpoint: str
    requests: int
    concurrency: int
    seconds: float = 0.0
    server_cpu_s: float = float("nan")
    client_cpu_s: float = float("nan")
    ok: int = 0
    errors: int = 0
    lost: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    error_samples: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)

        def rank(q: float) -> float:
            return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]

        data = {k: v for k, v in asdict(self).items() if k != "latencies_ms"}
        data.update(
            requests_per_s=self.requests / self.seconds if self.seconds else 0.0,
            p50_ms=rank(0.50) if ordered else float("nan"),
            p99_ms=rank(0.99) if ordered else float("nan"),
            max_ms=ordered[-1] if ordered else float("nan"),
            server_cpu_ms_per_request=1000 * self.server_cpu_s / self.requests,
            client_cpu_ms_per_request=1000 * self.client_cpu_s / self.requests,
        )
        return data


def _request(endpoint: str, index: int, phase: str) -> tuple[str, dict[str, Any], str]:
    # Unique per endpoint and phase, so no request is answered from the decision cache that
    # an earlier request (warm-up, or another endpoint's run) filled.
    query = f"[{phase} {endpoint} {index}] {QUERIES[index % len(QUERIES)]}"
    if endpoint == "test-selection":
        return "/test-selection", {"query": query}, query
    return "/route", {"prompt": query}, query


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_endpoint(
    base_url: str,
    endpoint: str,
    requests: int,
    concurrency: int,
    deadline_s: float,
    server_pid: int,
    phase: str = "run",
) -> Result:
    import httpx

    result = Result(endpoint, requests, concurrency)
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {os.environ[TOKEN_ENV]}"}

    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, headers=headers, timeout=30
    ) as client:

        async def worker() -> None:
            for index in counter:
                path, body, query = _request(endpoint, index, phase)
                request_id = f"{endpoint}-{index}"
                started = time.perf_counter()
                try:
                    response = await client.post(
                        path, json=body, headers={"X-Request-ID": request_id}
                    )
                    payload = response.json()
                except Exception as exc:  # transport failures count as errors
                    result.errors += 1
                    if len(result.error_samples) < 5:
                        result.error_samples.append(f"{type(exc).__name__}: {exc}")
                    continue
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    result.errors += 1
                    if len(result.error_samples) < 5:
                        sample = f"{response.status_code}: {response.text[:200]}"
                        result.error_samples.append(sample)
                    continue
                own = response.headers.get("x-request-id") == request_id and (
                    payload.get("query") == query
                    if endpoint == "test-selection"
                    else str(payload.get("response", "")).startswith("answer from")
                )
                if own:
                    result.ok += 1
                # else: a 200 carrying another request's answer counts as lost

        started = time.perf_counter()
        server_cpu, client_cpu = _cpu_seconds(server_pid), time.process_time()
        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        _, pending = await asyncio.wait(tasks, timeout=deadline_s)
        for task in pending:
            task.cancel()
        result.seconds = time.perf_counter() - started
        result.server_cpu_s = _cpu_seconds(server_pid) - server_cpu
        result.client_cpu_s = time.process_time() - client_cpu
    result.lost = requests - result.ok - result.errors
    return result


async def _wait_until_up(base_url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        for _ in range(300):
            if process.poll() is not None:
                raise SystemExit(f"the server exited with status {process.returncode}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start within 30 s")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main_async(args: argparse.Namespace) -> list[Result]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, TOKEN_ENV: "bench-token-0123456789", "LANGSMITH_TRACING": "false"}
    for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY"):
        env.pop(name, None)
    os.environ[TOKEN_ENV] = env[TOKEN_ENV]
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--port",
            str(port),
            "--model-delay-ms",
            str(args.model_delay_ms),
            "--keep-alive-s",
            str(args.keep_alive_s),
        ],
        env=env,
    )
    try:
        await _wait_until_up(base_url, process)
        results = []
        for endpoint in args.endpoints:
            # Warm-up: connections open, code paths and caches warm; not counted.
            await run_endpoint(
                base_url, endpoint, args.warmup, args.concurrency, 60, process.pid, "warmup"
            )
            results.append(
                await run_endpoint(
                    base_url,
                    endpoint,
                    args.requests,
                    args.concurrency,
                    args.deadline_s,
                    process.pid,
                )
            )
        return results
    finally:
        process.terminate()
        process.wait(timeout=15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--warmup", type=int, default=200, help="uncounted requests first")
    parser.add_argument(
        "--endpoints",
        type=lambda s: s.split(","),
        default=list(ENDPOINTS),
        help="comma-separated: test-selection,route",
    )
    parser.add_argument(
        "--model-delay-ms", type=float, default=0.0, help="simulated provider latency"
    )
    parser.add_argument("--deadline-s", type=float, default=600, help="give up after this")
    parser.add_argument(
        "--keep-alive-s",
        type=float,
        default=DEFAULT_KEEP_ALIVE_S,
        help=f"the server's idle keep-alive timeout (smartroute serve's default: "
        f"{DEFAULT_KEEP_ALIVE_S} s; uvicorn's own: 5 s)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--check", action="store_true", help="exit 1 on any error or loss")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.model_delay_ms, args.keep_alive_s)
        return 0
    unknown = set(args.endpoints) - set(ENDPOINTS)
    if unknown:
        parser.error(f"unknown endpoint(s) {sorted(unknown)}; choose from {', '.join(ENDPOINTS)}")

    results = asyncio.run(main_async(args))
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"smartroute server load test: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"uvicorn 1 worker (keep-alive {args.keep_alive_s:g} s), fake models (delay "
        f"{args.model_delay_ms:g} ms), client and server on one machine; load average "
        f"{load[0]:.2f}"
    )
    rows = []
    for r in results:
        s = r.summary()
        rows.append(
            [
                f"/{r.endpoint}",
                r.requests,
                r.concurrency,
                round(s["requests_per_s"], 1),
                s["p50_ms"],
                s["p99_ms"],
                s["max_ms"],
                s["server_cpu_ms_per_request"],
                s["client_cpu_ms_per_request"],
                r.ok,
                r.errors,
                r.lost,
            ]
        )
    print(
        table(
            [
                "endpoint",
                "requests",
                "concurrency",
                "req/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "server CPU ms/req",
                "client CPU ms/req",
                "ok",
                "errors",
                "lost",
            ],
            rows,
        )
    )
    failed = [r for r in results if r.errors or r.lost]
    for r in failed:
        print(f"/{r.endpoint}: {r.errors} errors, {r.lost} lost; e.g. {r.error_samples[:3]}")
    print("errors and lost: " + ("none" if not failed else "SOME (see above)"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.summary() for r in results], indent=2))
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
