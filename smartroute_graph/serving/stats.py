"""``GET /metrics`` (Prometheus), ``GET /stats/data`` (usage analytics as JSON), ``GET /stats``.

- ``/metrics``: every metric of :mod:`~smartroute_graph.serving.metrics` in Prometheus's text
  format (every worker's, summed, in multiprocess mode). Also at ``/smartroute/metrics``: a
  LangGraph server that mounts this app (``graphs/langgraph.json``) keeps ``/metrics`` for its
  own.
- ``/stats/data?days=30``: :meth:`~smartroute_graph.serving.usage.UsageLog.summary`: the
  traffic mix (domain, complexity, model), cost per model and per day, latency percentiles per
  day, feedback scores per day, from the usage log (which outlives restarts). ``days`` is 1 to
  366 (422 otherwise); 409 when the server keeps no usage log.
- ``/stats``: a page that draws those figures as inline SVG (no script or style from
  anywhere else; it works offline). It asks for the server token when one is needed.

Access: ``/metrics`` and ``/stats/data`` are protected endpoints: with a server token they need
``Authorization: Bearer <token>`` (a Prometheus scrape job sets it with
``authorization: {credentials: ...}``); a request admitted on its own provider keys is refused
(403): what the server spends is the operator's business. The ``/stats`` page itself is open
(it holds no data); it fetches ``/stats/data`` with the token typed into it.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from smartroute_graph.serving.metrics import CONTENT_TYPE
from smartroute_graph.serving.telemetry import Telemetry

__all__ = ["METRICS_ALIAS", "add_stats_page", "add_stats_routes", "page_headers"]

# /metrics again, for a LangGraph server that mounts the app (its own /metrics comes first).
METRICS_ALIAS = "/smartroute/metrics"


def page_headers() -> dict[str, str]:
    """The headers of the server's own pages: this server only, nothing cached or framed."""
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


def _operator_only(request: Request, what: str) -> None:
    if not getattr(request.state, "server_keys_allowed", True):
        raise HTTPException(403, f"{what} needs the server token (they describe the whole server)")


def add_stats_routes(api: APIRouter, telemetry: Telemetry) -> None:
    """Add ``GET /metrics`` and ``GET /stats/data`` to ``api`` (a protected router)."""

    @api.get("/metrics", summary="Prometheus metrics", response_class=Response)
    @api.get(METRICS_ALIAS, include_in_schema=False, response_class=Response)
    async def metrics(request: Request) -> Response:
        _operator_only(request, "the metrics")
        body = await asyncio.to_thread(telemetry.metrics.render)
        return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    @api.get("/stats/data", summary="Usage analytics for the /stats page")
    async def stats_data(
        request: Request,
        days: int = Query(30, ge=1, le=366, description="how many days back (UTC)"),
    ) -> dict[str, Any]:
        _operator_only(request, "the usage statistics")
        if telemetry.usage is None:
            raise HTTPException(409, "this server keeps no usage log: start it with a usage store")
        return await asyncio.to_thread(telemetry.usage.summary, days)


def add_stats_page(app: FastAPI) -> None:
    """Add the open ``GET /stats`` page to ``app``."""
    html = (
        resources.files("smartroute_graph.serving")
        .joinpath("static/stats.html")
        .read_text(encoding="utf-8")
    )

    @app.get("/stats", response_class=HTMLResponse, summary="Usage analytics, drawn")
    async def stats_page() -> HTMLResponse:
        return HTMLResponse(html, headers=page_headers())
