"""What the server's endpoint groups share: the router, access rules, call helpers, limits."""

from __future__ import annotations

from dataclasses import dataclass

from smartroute_graph.core.attachments import AttachmentLimits
from smartroute_graph.runnable import SmartRouter
from smartroute_graph.serving.auth import Access
from smartroute_graph.serving.calls import RouterCalls
from smartroute_graph.serving.telemetry import Telemetry

__all__ = ["ServerDeps"]


@dataclass(frozen=True)
class ServerDeps:
    """The pieces every endpoint of one app uses, built once by ``create_app``."""

    router: SmartRouter
    access: Access
    calls: RouterCalls
    token: str | None
    limits: AttachmentLimits
    max_batch: int
    batch_concurrency: int
    telemetry: Telemetry | None = None
    """The metrics and usage log (:mod:`~smartroute_graph.serving.telemetry`)."""
