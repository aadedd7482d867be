"""The HTTP API under load while its provider fails: nothing lost, every error clean and mapped.

What it measures
----------------
Three processes on the loopback: a fake OpenAI-compatible provider
(``tests/integration/fake_upstream.py``), ``smartroute serve``'s app under uvicorn over the
``openai`` preset's real ``langchain-openai`` models pointed at it (``OPENAI_BASE_URL``), and
this script's async ``httpx`` client keeping ``--concurrency`` requests in flight until
``--requests`` have been sent, spread over ``/route``, ``/query``, ``/v1/chat/completions``
and the same streamed.

The provider fails ``--failure-rate`` of its calls (30% by default), with mixed kinds: 429
(with ``Retry-After``), 500, 503, a connection reset, a malformed JSON body, a reply slower
than the router's per-call timeout, and a 400. Which call fails how is a pure function of the
request's tag and the model asked (a hash), so the script knows the faults each request met.

Every response is sorted:

``ok``       200 with the answer (a stream: its chunks, a ``stop`` chunk, ``[DONE]``);
``clean``    an error a client can act on: JSON ``{"error": {"code": <the status>}}``, a
             status other than 500, its ``attempts`` (when it has them) the faults the
             provider was told to make, and the status the mapping gives for them (every
             attempt rate-limited 429 with ``Retry-After``, all timed out 504, all 503 503, a
             400 from the provider 400, anything else 502); a stream that already started
             ends with an ``error`` event and ``[DONE]``;
``unclean``  any other answer (a 500, a body that is not the JSON error, a wrong status);
``lost``     no answer: a transport error, a stream cut without ``[DONE]``, a deadline.

``hidden provider calls`` counts provider requests beyond the attempts the answers list
(SDK retries the router did not see); the target is 0, like ``unclean`` and ``lost``.
``--check`` makes the exit status 1 otherwise.

Run from the repository root::

    .venv/bin/python bench/bench_server_faults.py [--requests 2000] [--concurrency 32] \\
        [--failure-rate 0.3] [--check] [--json artifacts/bench_server_faults.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-faults-token-0123456789abcdef"
SERVER_KEY = "bench-server-key-" + "0a1b2c3d4e5f" * 2
ENDPOINTS = ("route", "query", "chat", "chat-stream")
# Each failing call's kind, with its share of the failures.
FAULTS = {
    "429": 0.2,
    "500": 0.2,
    "503": 0.2,
    "reset": 0.15,
    "malformed": 0.1,
    "slow": 0.1,
    "400": 0.05,
}
# What the router records for each fault.
KIND_OF = {
    "429": "rate_limit",
    "500": "server_error",
    "503": "server_error",
    "reset": "connection",
    "malformed": "bad_response",
    "slow": "timeout",
    "400": "bad_request",
}
ROUTER_TIMEOUT_S = 1.0  # the router's per-call timeout; "slow" replies take twice as long
SLOW_S = 2.0
_TAG = re.compile(r"\[tag (\d+)\]")


def fault_for(seed: int, rate: float, tag: int, model: str) -> str:
    """The mode the provider answers request ``tag``'s call to ``model`` with."""
    digest = hashlib.sha256(f"{seed}:{tag}:{model}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u >= rate:
        return "ok"
    u /= rate
    edge = 0.0
    for mode, share in FAULTS.items():
        edge += share
        if u < edge:
            return mode
    return "400"


# -- the child processes ------------------------------------------------------------------------


def serve_upstream(port: int, seed: int, rate: float) -> None:
    """The fake provider on 127.0.0.1:``port`` (child process)."""
    sys.path.insert(0, str(ROOT))
    from tests.integration.fake_upstream import FakeUpstream

    def choose(body: dict[str, Any]) -> str:
        messages = body.get("messages") or [{}]
        found = _TAG.search(str(messages[-1].get("content", "")))
        return fault_for(seed, rate, int(found.group(1)), str(body.get("model"))) if found else "ok"

    upstream = FakeUpstream(chooser=choose, slow_s=SLOW_S, retry_after="3", port=port).start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        upstream.stop()


def serve_api(port: int, upstream_port: int) -> None:
    """``smartroute serve``'s app on 127.0.0.1:``port`` (child process)."""
    base = f"http://127.0.0.1:{upstream_port}/v1"
    os.environ.update(
        OPENAI_API_KEY=SERVER_KEY,
        OPENAI_BASE_URL=base,
        OPENAI_API_BASE=base,
        LANGSMITH_TRACING="false",
    )
    import logging

    import uvicorn

    from smartroute_graph import SmartRouter
    from smartroute_graph.serving.app import create_app
    from smartroute_graph.serving.command import (
        DEFAULT_KEEP_ALIVE_S,
        use_server_encoder_settings,
    )

    use_server_encoder_settings()
    # Each failed request logs a warning: thousands of them are the point here, not news.
    logging.getLogger("smartroute_graph.serving").setLevel(logging.ERROR)
    router = SmartRouter.from_preset("openai", timeout_s=ROUTER_TIMEOUT_S)
    app = create_app(router, server_token=TOKEN)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=DEFAULT_KEEP_ALIVE_S,
    )


# -- judging answers ----------------------------------------------------------------------------


def expected_status(kinds: list[str], modes: list[str]) -> int:
    """The server's mapping (see smartroute_graph.serving.app), written out independently."""
    if kinds[-1] == "bad_request":
        return 400
    if kinds[-1] == "auth":
        return 502
    if all(k == "rate_limit" for k in kinds):
        return 429
    if all(k == "timeout" for k in kinds):
        return 504
    if all(m == "503" for m in modes):
        return 503
    return 502


@dataclass
class Tally:
    requests: int = 0
    seconds: float = 0.0
    ok: int = 0
    clean: int = 0
    unclean: int = 0
    lost: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    by_endpoint: dict[str, Counter[str]] = field(default_factory=dict)
    attempts_listed: int = 0
    provider_calls: int = 0
    hidden_provider_calls: int = 0
    samples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def note(self, endpoint: str, verdict: str, status: str, why: str = "") -> None:
        setattr(self, verdict, getattr(self, verdict) + 1)
        self.statuses[status] += 1
        self.by_endpoint.setdefault(endpoint, Counter())[status] += 1
        if verdict in ("unclean", "lost") and len(self.samples) < 8:
            self.samples.append(f"{endpoint} {status}: {why[:300]}")


def judge_error(
    status: int, body: Any, headers: Any, modes_of: dict[str, str]
) -> tuple[str, str, int]:
    """(verdict, why, attempts listed) for a non-200 JSON answer."""
    if status == 500 or not isinstance(body, dict):
        return "unclean", f"not a mapped JSON error: {str(body)[:200]}", 0
    error = body.get("error") or {}
    if error.get("code") != status or not error.get("message"):
        return "unclean", f"error.code {error.get('code')} for status {status}", 0
    attempts = body.get("attempts")
    if attempts is None:
        return "clean", "", 0
    kinds = [str(a.get("error_kind")) for a in attempts]
    modes = [modes_of.get(a["model"], "?") for a in attempts]
    if kinds != [KIND_OF.get(m, "?") for m in modes]:
        return "unclean", f"attempts {kinds} for faults {modes}", len(attempts)
    want = expected_status(kinds, modes)
    if status != want:
        return "unclean", f"status {status}, the mapping says {want} for {modes}", len(attempts)
    if status == 429 and not headers.get("retry-after"):
        return "unclean", "429 without Retry-After", len(attempts)
    return "clean", "", len(attempts)


# -- the client ---------------------------------------------------------------------------------


def _request(endpoint: str, tag: int) -> tuple[str, dict[str, Any]]:
    text = f"[tag {tag}] what is {tag % 97} plus {tag % 13}? answer briefly"
    if endpoint == "route":
        return "/route", {"prompt": text}
    if endpoint == "query":
        return "/query", {"query": text}
    body = {"model": "smartroute", "messages": [{"role": "user", "content": text}]}
    if endpoint == "chat-stream":
        body["stream"] = True
    return "/v1/chat/completions", body


async def run(
    base_url: str, requests: int, concurrency: int, seed: int, rate: float, deadline_s: float
) -> tuple[Tally, dict[int, list[str]]]:
    import httpx

    tally = Tally(requests=requests)
    counter = iter(range(requests))
    asked: dict[int, list[str]] = {}  # tag -> the models its answer says were tried
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, headers=headers, timeout=120
    ) as client:

        async def one(tag: int) -> None:
            endpoint = ENDPOINTS[tag % len(ENDPOINTS)]
            path, body = _request(endpoint, tag)
            started = time.perf_counter()
            modes_of = {
                m: fault_for(seed, rate, tag, m) for m in ("gpt-4.1-nano", "gpt-4.1", "o4-mini")
            }
            try:
                if endpoint == "chat-stream":
                    await stream_one(client, path, body, tag, endpoint, modes_of)
                else:
                    response = await client.post(path, json=body)
                    await plain_one(response, tag, endpoint, modes_of)
            except Exception as exc:  # transport failures: no answer
                tally.note(endpoint, "lost", type(exc).__name__, str(exc))
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)

        async def plain_one(
            response: Any, tag: int, endpoint: str, modes_of: dict[str, str]
        ) -> None:
            try:
                payload = response.json()
            except ValueError:
                tally.note(endpoint, "unclean", str(response.status_code), response.text)
                return
            status = response.status_code
            if status == 200:
                meta = payload.get("smartroute") or {}
                attempts = meta.get("attempts") or payload.get("attempts")
                text = (
                    payload["choices"][0]["message"]["content"]
                    if "choices" in payload
                    else payload.get("response")
                )
                if text and "[tag" not in text:
                    if attempts is not None:
                        asked[tag] = [a["model"] for a in attempts]
                        tally.attempts_listed += len(attempts)
                    else:
                        asked[tag] = []  # /query lists no attempts: not counted
                    tally.note(endpoint, "ok", "200")
                else:
                    tally.note(endpoint, "unclean", "200", f"no answer: {str(payload)[:200]}")
                return
            verdict, why, listed = judge_error(status, payload, response.headers, modes_of)
            if listed:
                asked[tag] = [a["model"] for a in payload["attempts"]]
                tally.attempts_listed += listed
            tally.note(endpoint, verdict, str(status), why)

        async def stream_one(
            client: Any,
            path: str,
            body: dict[str, Any],
            tag: int,
            endpoint: str,
            modes_of: dict[str, str],
        ) -> None:
            async with client.stream("POST", path, json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    await plain_one(response, tag, endpoint, modes_of)
                    return
                lines = [line async for line in response.aiter_lines() if line]
            if not lines or lines[-1] != "data: [DONE]":
                tally.note(endpoint, "lost", "200", f"stream cut: {lines[-2:]}")
                return
            events = [json.loads(line[6:]) for line in lines[:-1]]
            if "error" in events[-1]:
                code = events[-1]["error"].get("code")
                verdict = "clean" if code and code != 500 else "unclean"
                tally.note(endpoint, verdict, f"200+error {code}", str(events[-1]))
                return
            final = [e for e in events if e.get("choices") and e["choices"][0]["finish_reason"]]
            if not final:
                tally.note(endpoint, "unclean", "200", "no stop chunk")
                return
            attempts = (final[-1].get("smartroute") or {}).get("attempts") or []
            asked[tag] = [a["model"] for a in attempts]
            tally.attempts_listed += len(attempts)
            tally.note(endpoint, "ok", "200")

        async def worker() -> None:
            for tag in counter:
                await one(tag)

        started = time.perf_counter()
        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        _, pending = await asyncio.wait(tasks, timeout=deadline_s)
        for task in pending:
            task.cancel()
        tally.seconds = time.perf_counter() - started
    answered = tally.ok + tally.clean + tally.unclean + tally.lost
    tally.lost += requests - answered  # never answered by the deadline
    return tally, asked


def count_provider_calls(upstream_url: str, tally: Tally, asked: dict[int, list[str]]) -> None:
    """Provider requests per tag against the attempts the answers listed."""
    import httpx

    calls = httpx.get(f"{upstream_url}/_calls", timeout=30).json()["calls"]
    per_tag: Counter[int] = Counter()
    for call in calls:
        found = _TAG.search(call["prompt"])
        if found:
            per_tag[int(found.group(1))] += 1
    tally.provider_calls = sum(per_tag.values())
    tally.hidden_provider_calls = sum(
        max(0, per_tag[tag] - len(models)) for tag, models in asked.items() if models
    )


async def _wait_for(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(600):
            if process.poll() is not None:
                raise SystemExit(f"the {what} exited with status {process.returncode}")
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise SystemExit(f"the {what} did not start within 60 s")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--failure-rate", type=float, default=0.3, help="share of provider calls")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--deadline-s", type=float, default=900, help="give up after this")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--check", action="store_true", help="exit 1 on any loss or unclean")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-api", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_upstream:
        serve_upstream(args.serve_upstream, args.seed, args.failure_rate)
        return 0
    if args.serve_api:
        serve_api(args.serve_api, args.upstream_port)
        return 0

    upstream_port, api_port = _free_port(), _free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    api_url = f"http://127.0.0.1:{api_port}"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENROUTER_API_KEY")}
    env["LANGSMITH_TRACING"] = "false"
    common = ["--seed", str(args.seed), "--failure-rate", str(args.failure_rate)]
    script = str(Path(__file__).resolve())
    upstream = subprocess.Popen(
        [sys.executable, script, "--serve-upstream", str(upstream_port), *common],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    api = subprocess.Popen(
        [
            sys.executable,
            script,
            "--serve-api",
            str(api_port),
            "--upstream-port",
            str(upstream_port),
            *common,
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        asyncio.run(_wait_for(f"{upstream_url}/_calls", upstream, "fake provider"))
        asyncio.run(_wait_for(f"{api_url}/health", api, "server"))
        tally, asked = asyncio.run(
            run(
                api_url,
                args.requests,
                args.concurrency,
                args.seed,
                args.failure_rate,
                args.deadline_s,
            )
        )
        count_provider_calls(upstream_url, tally, asked)
    finally:
        for process in (api, upstream):
            process.terminate()
            process.wait(timeout=15)

    ordered = sorted(tally.latencies_ms)

    def rank(q: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"smartroute server under provider faults: {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, uvicorn 1 worker, {args.requests} requests at "
        f"{args.concurrency} in flight over {', '.join(ENDPOINTS)}; the provider fails "
        f"{args.failure_rate:.0%} of its calls ({', '.join(FAULTS)}); router timeout "
        f"{ROUTER_TIMEOUT_S:g} s; load average {load[0]:.2f}"
    )
    print(
        table(
            [
                "requests",
                "seconds",
                "req/s",
                "p50 ms",
                "p99 ms",
                "ok",
                "clean error",
                "unclean",
                "lost",
                "provider calls",
                "attempts listed",
                "hidden provider calls",
            ],
            [
                [
                    tally.requests,
                    round(tally.seconds, 1),
                    round(tally.requests / tally.seconds, 1) if tally.seconds else 0.0,
                    rank(0.5) if ordered else float("nan"),
                    rank(0.99) if ordered else float("nan"),
                    tally.ok,
                    tally.clean,
                    tally.unclean,
                    tally.lost,
                    tally.provider_calls,
                    tally.attempts_listed,
                    tally.hidden_provider_calls,
                ]
            ],
        )
    )
    statuses = sorted(tally.statuses)
    print(
        table(
            ["endpoint", *statuses],
            [
                [f"/{e}", *(tally.by_endpoint.get(e, Counter())[s] for s in statuses)]
                for e in ENDPOINTS
            ]
            + [["all", *(tally.statuses[s] for s in statuses)]],
        )
    )
    bad = tally.unclean or tally.lost or tally.hidden_provider_calls
    for sample in tally.samples:
        print("  " + sample)
    print("lost, unclean and hidden provider calls: " + ("none" if not bad else "SOME (above)"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in vars(tally).items() if k not in ("latencies_ms", "by_endpoint")}
        data["statuses"] = dict(tally.statuses)
        data["by_endpoint"] = {e: dict(c) for e, c in tally.by_endpoint.items()}
        data["p50_ms"] = rank(0.5) if ordered else None
        data["p99_ms"] = rank(0.99) if ordered else None
        args.json.write_text(json.dumps(data, indent=2))
    return 1 if args.check and bad else 0


if __name__ == "__main__":
    sys.exit(main())
