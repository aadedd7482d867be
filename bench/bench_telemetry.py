"""What the server's metrics and usage log cost per request, measured side by side.

Two apps over the same router (the ``openai`` preset, every model an offline
``FakeChatModel``, the default classifier with ``smartroute serve``'s encoder settings): one as
``create_app`` builds it, one with the telemetry middleware taken out (so no request observer,
no Prometheus counting, no usage row). Requests go in process through ``httpx``'s ASGI
transport, ``--concurrency`` at a time, alternating blocks of ``--block`` requests between the two
apps so that both see the same machine load; each query is unique (no decision cache). Reported
per app and endpoint: CPU milliseconds per request of this process (``time.process_time``: the
app, the client and the usage writer thread, which is the same client work for both), wall
milliseconds per request, and the ratio with/without.

Run from the repository root::

    .venv/bin/python bench/bench_telemetry.py [--requests 1200] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

ENDPOINTS = ("/test-selection", "/route")
TOKEN = "bench-telemetry-token-0123456789"


def _apps() -> dict[str, Any]:
    os.environ.setdefault("LANGSMITH_TRACING", "false")
    from smartroute_graph import SmartRouter
    from smartroute_graph.serving.app import create_app
    from smartroute_graph.serving.command import use_server_encoder_settings
    from smartroute_graph.testing import FakeChatModel

    use_server_encoder_settings()
    models = {
        name: FakeChatModel(responses=[f"answer from {name}"], model_name=name)
        for name in ("gpt-4.1-nano", "gpt-4.1", "o4-mini")
    }
    router = SmartRouter.from_preset("openai", models=models)
    on = create_app(router, server_token=TOKEN)
    off = create_app(router, server_token=TOKEN)
    telemetry = off.state.telemetry
    off.user_middleware = [m for m in off.user_middleware if m.cls != telemetry.middleware]
    assert len(off.user_middleware) == len(on.user_middleware) - 1
    return {"with telemetry": on, "without": off}


async def _block(app: Any, endpoint: str, start: int, n: int, concurrency: int) -> float:
    import httpx

    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def one(i: int) -> None:
            text = f"Write a Python function number {i} that merges two sorted lists"
            body = {"query": text} if endpoint == "/test-selection" else {"prompt": text}
            async with gate:
                response = await client.post(endpoint, json=body, headers=headers)
            assert response.status_code == 200, response.text

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(start, start + n)))
        return time.perf_counter() - began


async def _run(requests: int, block: int, concurrency: int) -> dict[str, dict[str, float]]:
    apps = _apps()
    for app in apps.values():  # warm up: model load, first-call caches
        await _block(app, "/route", -50, 20, concurrency)
    figures: dict[str, dict[str, float]] = {}
    counter = 0
    for endpoint in ENDPOINTS:
        totals = {name: [0.0, 0.0, 0] for name in apps}
        done = 0
        while done < requests:
            for name, app in apps.items():
                cpu = time.process_time()
                wall = await _block(app, endpoint, counter, block, concurrency)
                counter += block
                entry = totals[name]
                entry[0] += time.process_time() - cpu
                entry[1] += wall
                entry[2] += block
            done += block
        for name, (cpu, wall, n) in totals.items():
            figures[f"{endpoint} {name}"] = {
                "requests": n,
                "cpu_ms_per_request": 1e3 * cpu / n,
                "wall_ms_per_request": 1e3 * wall / n,
            }
        on, off = (figures[f"{endpoint} {k}"] for k in apps)
        figures[f"{endpoint} ratio"] = {
            "cpu": on["cpu_ms_per_request"] / off["cpu_ms_per_request"],
            "wall": on["wall_ms_per_request"] / off["wall_ms_per_request"],
        }
    apps["with telemetry"].state.telemetry.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1200, help="per app and endpoint")
    parser.add_argument("--block", type=int, default=100, help="requests per alternating block")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    figures = asyncio.run(_run(args.requests, min(args.block, args.requests), args.concurrency))
    rows = [
        [name, f"{f['cpu_ms_per_request']:.2f}", f"{f['wall_ms_per_request']:.2f}"]
        for name, f in figures.items()
        if "requests" in f
    ]
    print(table(["endpoint, app", "CPU ms/req", "wall ms/req"], rows))
    for endpoint in ENDPOINTS:
        ratio = figures[f"{endpoint} ratio"]
        print(
            f"{endpoint}: with/without telemetry CPU x{ratio['cpu']:.3f}, wall x{ratio['wall']:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
