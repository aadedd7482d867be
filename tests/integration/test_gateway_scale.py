"""``smartroute serve --workers 2`` over real Redis and PostgreSQL and a fake OpenAI upstream:
2,000 requests at 32 in flight, none lost; the response cache, a rate limit and a budget hold
across both workers (state in Redis and PostgreSQL, never per process).

Skips, saying why, when redis-server, the PostgreSQL programs or their clients are missing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream, fake_upstream
from tests.support.servers import free_port, wait_until_up
from tests.support.services import postgres_cluster, redis_server

pytestmark = pytest.mark.integration

BIG = "big-caller-token-0123456789"
SMALL = "small-caller-token-0123456789"
SMALL_BUDGET_USD = 0.0005
RATE = 4.0  # requests per second to gpt-4.1, across both workers


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeUpstream, Any]]:
    folder = tmp_path_factory.mktemp("gateway")
    callers = folder / "callers.yaml"
    callers.write_text(
        "callers:\n"
        "  - {name: big, token_env: BIG_TOKEN}\n"
        f"  - {{name: small, token_env: SMALL_TOKEN, daily_budget_usd: {SMALL_BUDGET_USD}}}\n"
    )
    with redis_server() as redis_url, postgres_cluster() as pg_url, fake_upstream() as up:
        port = free_port()
        env = {
            **os.environ,
            "OPENAI_API_KEY": "sk-fake-upstream-key",
            "OPENAI_BASE_URL": up.base_url,
            "BIG_TOKEN": BIG,
            "SMALL_TOKEN": SMALL,
            "LANGSMITH_TRACING": "false",
        }
        env.pop("SMARTROUTE_SERVER_TOKEN", None)
        command = [
            sys.executable, "-m", "smartroute_graph.cli", "serve", "--port", str(port),
            "--workers", "2", "--classifier", "rules", "--cache", redis_url, "--redis",
            redis_url, "--rate-limit", f"gpt-4.1={RATE}", "--cooldown", "3/60/30",
            "--callers", str(callers), "--spend-store", pg_url, "--log-level", "warning",
        ]  # fmt: skip
        log = folder / "serve.log"  # a file, not a pipe: a full pipe would stall the server
        process = subprocess.Popen(command, env=env, stderr=log.open("w"))
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_until_up(url, process, timeout_s=180)  # 2 cores: each worker loads the app
            except AssertionError:
                raise AssertionError(log.read_text()[-3000:]) from None
            workers = [
                pid
                for pid in os.listdir("/proc")
                if pid.isdigit() and _parent(pid) == process.pid and "spawn_main" in _cmdline(pid)
            ]
            assert len(workers) == 2, "smartroute serve --workers 2 did not start two workers"
            yield url, up, pg_url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _parent(pid: str) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


async def _fire(
    url: str, token: str, bodies: list[dict[str, Any]], concurrency: int
) -> list[tuple[int, dict[str, Any], bool]]:
    results: list[tuple[int, dict[str, Any], bool]] = [(0, {}, False)] * len(bodies)
    queue = iter(range(len(bodies)))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            for i in queue:
                rid = f"req-{i}"
                response = await client.post(
                    "/v1/chat/completions", json=bodies[i], headers={**headers, "X-Request-ID": rid}
                )
                own = response.headers.get("x-request-id") == rid
                results[i] = (response.status_code, response.json(), own)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def _body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "smartroute", "messages": [{"role": "user", "content": text}], **extra}


def test_2000_requests_on_two_workers_none_lost_and_the_cache_is_shared(stack: Any) -> None:
    url, up, _ = stack
    distinct = 500
    # The cheap model, forced: the rate-limited one (gpt-4.1) stays out of this run.
    bodies = [
        _body(f"question {i % distinct}: what is {i % distinct} plus 1?", model="gpt-4.1-nano")
        for i in range(2000)
    ]
    before = len(up.calls)
    started = time.monotonic()
    results = asyncio.run(_fire(url, BIG, bodies, 32))
    seconds = time.monotonic() - started
    ok = [r for r in results if r[0] == 200 and r[2]]
    assert len(ok) == 2000, {r[0] for r in results if r[0] != 200}
    assert all(r[1]["choices"][0]["message"]["content"] for r in ok)
    hits = sum(1 for r in ok if r[1]["usage"]["cache_hit"])
    # Each distinct question reached the provider once, whichever worker served it.
    assert len(up.calls) - before == distinct
    assert hits == 2000 - distinct
    assert all(r[1]["smartroute"]["cost_usd"] == 0 for r in ok if r[1]["usage"]["cache_hit"])
    print(f"2000 requests in {seconds:.1f} s ({2000 / seconds:.0f}/s), {hits} cache hits")


def test_a_rate_limit_holds_across_both_workers(stack: Any) -> None:
    url, up, _ = stack
    n = 16
    bodies = [_body(f"rate limited question {i}", model="gpt-4.1", cache=False) for i in range(n)]
    before = len(up.calls)
    results = asyncio.run(_fire(url, BIG, bodies, 16))
    assert all(r[0] == 200 for r in results)
    starts = sorted(c.started for c in up.calls[before:] if c.model == "gpt-4.1")
    assert len(starts) == n
    # A token bucket of one at RATE/s: the n calls span at least (n - 1) / RATE seconds, and
    # no second holds more than RATE + 1 of them.
    assert starts[-1] - starts[0] >= (n - 1) / RATE * 0.9
    assert max(sum(1 for t in starts if s <= t < s + 1) for s in starts) <= RATE + 1


def test_a_budget_holds_across_both_workers(stack: Any) -> None:
    url, _, pg_url = stack
    import psycopg

    bodies = [_body(f"budget question {i}: explain {i}", cache=False) for i in range(60)]
    results = asyncio.run(_fire(url, SMALL, bodies, 8))
    statuses = [r[0] for r in results]
    assert set(statuses) <= {200, 429} and 200 in statuses and 429 in statuses
    refused = next(r[1] for r in results if r[0] == 429)
    assert "caller 'small' has spent" in refused["detail"]
    costs = [r[1]["smartroute"]["cost_usd"] for r in results if r[0] == 200]
    with psycopg.connect(pg_url) as conn:
        spent = conn.execute("SELECT usd FROM smartroute_spend WHERE caller = 'small'").fetchone()[
            0
        ]
    assert spent == pytest.approx(sum(costs))
    # Past the budget by at most what the requests already in flight cost.
    assert spent <= SMALL_BUDGET_USD + 8 * max(costs)
    # Every later request is refused, whichever worker takes it (a new connection each).
    for i in range(6):
        again = httpx.post(
            f"{url}/v1/chat/completions",
            json=_body(f"after the budget {i}"),
            headers={"Authorization": f"Bearer {SMALL}", "Connection": "close"},
        )
        assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
    health = httpx.get(f"{url}/health").text
    assert BIG not in health and SMALL not in health
