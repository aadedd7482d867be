"""Helpers of the server's integration tests: a live uvicorn server in a thread, and routers
built on scripted models (``smartroute_graph.testing.FakeChatModel``)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from langchain_core.messages import BaseMessage

from smartroute_graph import SmartRouter
from smartroute_graph.testing import FakeChatModel
from tests.support import fakes

__all__ = [
    "MODEL_NAMES",
    "LiveServer",
    "Tracker",
    "fake_models",
    "fake_router",
    "free_port",
    "live_server",
    "wait_until_up",
]

MODEL_NAMES = fakes.OPENAI_MODELS


class Tracker:
    """What a group of models was sent, and how many of their calls overlapped.

    A :class:`~smartroute_graph.testing.CallWatcher`: give it to the models as ``watcher``.
    """

    def __init__(self) -> None:
        self.seen: list[list[BaseMessage]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def enter(self, messages: list[BaseMessage]) -> None:
        with self._lock:
            self.seen.append(list(messages))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self, error: BaseException | None) -> None:
        with self._lock:
            self.in_flight -= 1


def fake_models(tracker: Tracker | None = None, **overrides: Any) -> dict[str, FakeChatModel]:
    """:func:`tests.support.fakes.fake_models` watched by one tracker."""
    return fakes.fake_models(FakeChatModel, watcher=tracker or Tracker(), **overrides)


def fake_router(models: dict[str, FakeChatModel] | None = None, **kwargs: Any) -> SmartRouter:
    """The openai preset with scripted models (no network, no keys)."""
    return SmartRouter.from_preset("openai", models=models or fake_models(), **kwargs)


class LiveServer:
    """A uvicorn server on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Bound here, handed to uvicorn: no window in which another process takes the port.
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            log_config=None,  # records propagate to the root logger (pytest's caplog)
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self._sock])),
            name=f"uvicorn-{self.port}",
            daemon=True,
        )

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@contextmanager
def live_server(app: Any) -> Iterator[LiveServer]:
    """Serve ``app`` for the duration of the ``with`` block."""
    server = LiveServer(app).start()
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    """A port that was free a moment ago (for servers started in another process)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[Any], timeout_s: float = 30) -> None:
    """Wait until the server at ``url`` answers ``GET /health`` with 200.

    Raises:
        AssertionError: the process exited first (its standard error, when piped, is in the
            message), or the server did not come up within ``timeout_s``.
    """
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"the server at {url} did not start"
        time.sleep(0.1)
