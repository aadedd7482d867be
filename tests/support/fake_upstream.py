"""A fake OpenAI-compatible provider on 127.0.0.1 that fails the way real providers fail.

The router reaches it with the real ``langchain-openai`` ``ChatOpenAI`` models through
``OPENAI_BASE_URL`` / ``OPENAI_API_BASE`` (``FakeUpstream.base_url``). It is a raw asyncio
HTTP/1.1 server in a background thread, so it can do what a framework would not: reset a
connection, break a chunked stream in the middle, send invalid JSON, drip tokens.

Modes (per request: ``modes[model]``, else ``chooser(body)``, else ``default``):

``ok``         an answer (JSON, or server-sent events when the request streams)
``429``        rate limited, with ``Retry-After: <retry_after>`` (omitted when ``None``)
``500``        internal server error
``503``        service unavailable
``400``        the provider calls the request invalid
``401``        the key is rejected (also any key not in ``accepted_keys``)
``reset``      the connection is reset (TCP RST) before any response
``malformed``  200 with a body that is not JSON (or SSE data that is not JSON)
``slow``       waits ``slow_s`` before answering
``drip``       streams one token every ``drip_interval_s`` (a non-streamed answer drips
               its body one byte at a time)
``break``      streams ``break_after`` tokens, then resets the connection mid-body

Error bodies echo the bearer key the request used, as some providers do, so tests can check
that nothing the server returns or logs leaks it. Every request is recorded in ``calls``
(``GET /_calls`` returns them as JSON, for a provider run in another process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MODES", "Call", "FakeUpstream", "fake_upstream"]

MODES = ("ok", "429", "500", "503", "400", "401", "reset", "malformed", "slow", "drip", "break")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_ERRORS = {
    "429": (429, "rate_limit_exceeded", "Rate limit reached for requests"),
    "500": (500, "server_error", "The server had an error while processing your request"),
    "503": (503, "overloaded", "The engine is currently overloaded, please try again later"),
    "400": (400, "invalid_request_error", "Invalid value for 'messages'"),
    "401": (401, "invalid_api_key", "Incorrect API key provided"),
}


@dataclass
class Call:
    """One request the fake provider received."""

    model: str
    mode: str
    stream: bool
    key: str
    prompt: str = ""
    """The last message's text (its first 200 characters)."""
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    client_gone: bool = False
    """The client closed the connection before the answer was complete."""


@dataclass(kw_only=True)
class FakeUpstream:
    """The fake provider; ``with FakeUpstream(...) as up:`` serves it on a free port."""

    default: str = "ok"
    modes: Mapping[str, str] = field(default_factory=dict)
    chooser: Callable[[dict[str, Any]], str] | None = None
    accepted_keys: set[str] | None = None
    retry_after: str | None = "7"
    slow_s: float = 5.0
    drip_interval_s: float = 1.0
    drip_tokens: int = 60
    break_after: int = 3
    answer: str = "the fake provider answers this in a few words"
    port: int = 0
    """0: a free port, chosen when it starts."""
    calls: list[Call] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        for mode in (self.default, *self.modes.values()):
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        self.modes = dict(self.modes)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` should be."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeUpstream:
        self._thread = threading.Thread(target=self._run, name="fake-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake upstream did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and self._server is not None:
            loop.call_soon_threadsafe(self._server.close)
            for task in asyncio.all_tasks(loop):
                loop.call_soon_threadsafe(task.cancel)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = loop.run_until_complete(
            asyncio.start_server(self._connection, sock=sock, limit=2**24)
        )
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def calls_by_mode(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for call in self.calls:
                counts[call.mode] = counts.get(call.mode, 0) + 1
            return counts

    # -- HTTP ------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                raw = await reader.readexactly(length) if length else b""
                keep = await self._request(method, path, headers, raw, reader, writer)
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        if method == "GET" and path == "/_calls":
            with self._lock:
                rows = [
                    {"model": c.model, "mode": c.mode, "stream": c.stream, "prompt": c.prompt}
                    for c in self.calls
                ]
            await self._send(writer, 200, {"calls": rows})
            return True
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            await self._send(writer, 404, {"error": {"message": f"no route {path}"}})
            return True
        body = json.loads(raw or b"{}")
        key = headers.get("authorization", "").removeprefix("Bearer ").strip()
        model = str(body.get("model", ""))
        stream = bool(body.get("stream"))
        if self.accepted_keys is not None and key not in self.accepted_keys:
            mode = "401"
        elif model in self.modes:
            mode = self.modes[model]
        elif self.chooser is not None:
            mode = self.chooser(body)
        else:
            mode = self.default
        messages = body.get("messages") or [{}]
        prompt = str(messages[-1].get("content", ""))[:200]
        call = Call(model=model, mode=mode, stream=stream, key=key, prompt=prompt)
        with self._lock:
            self.calls.append(call)
        try:
            return await self._answer(call, body, reader, writer)
        except (ConnectionError, OSError):
            call.client_gone = True
            return False
        finally:
            call.ended = time.monotonic()

    async def _answer(
        self,
        call: Call,
        body: dict[str, Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        mode = call.mode
        if mode in _ERRORS:
            status, code, message = _ERRORS[mode]
            extra = {"Retry-After": self.retry_after} if mode == "429" and self.retry_after else {}
            error = {
                "error": {
                    "message": f"{message} (key used: {call.key})",
                    "type": code,
                    "param": None,
                    "code": code,
                }
            }
            await self._send(writer, status, error, extra)
            return True
        if mode == "reset":
            _reset(writer)
            return False
        if mode == "malformed":
            if call.stream:
                await self._start_stream(writer)
                await self._chunk(writer, b"data: {this is not json\n\n")
                await self._chunk(writer, b"data: [DONE]\n\n")
                await self._chunk(writer, b"")
                return True
            payload = b'{"id": "chatcmpl-x", "choices": [{"message": {"content": "unterminated'
            await self._send_raw(writer, 200, payload, {"Content-Type": "application/json"})
            return True
        if mode == "slow":
            # Wait, but notice a client that gives up (its connection closes).
            try:
                data = await asyncio.wait_for(reader.read(1), self.slow_s)
            except TimeoutError:
                data = b"x"
            if not data:
                call.client_gone = True
                return False
        tokens = self._tokens(mode)
        if not call.stream:
            if mode == "drip":
                return await self._drip_body(call, writer, body)
            await self._send(writer, 200, self._completion(body, " ".join(tokens)))
            return True
        await self._start_stream(writer)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        await self._event(writer, self._delta(body, {"role": "assistant", "content": ""}))
        for sent, token in enumerate(tokens):
            if mode == "break" and sent >= self.break_after:
                _reset(writer)
                call.client_gone = False
                return False
            if mode == "drip" and sent:
                await asyncio.sleep(self.drip_interval_s)
            await self._event(writer, self._delta(body, {"content": token + " "}))
        await self._event(writer, self._delta(body, {}, finish="stop"))
        if include_usage:
            usage = self._usage(body, len(tokens))
            await self._event(writer, {**self._delta(body, {}), "choices": [], "usage": usage})
        await self._chunk(writer, b"data: [DONE]\n\n")
        await self._chunk(writer, b"")
        return True

    def _tokens(self, mode: str) -> list[str]:
        words = self.answer.split() or ["ok"]
        count = self.drip_tokens if mode == "drip" else len(words)
        return [words[i % len(words)] for i in range(count)]

    async def _drip_body(
        self, call: Call, writer: asyncio.StreamWriter, body: dict[str, Any]
    ) -> bool:
        payload = json.dumps(self._completion(body, self.answer)).encode()
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        writer.write(head.encode())
        await writer.drain()
        for byte in payload:
            await asyncio.sleep(self.drip_interval_s)
            writer.write(bytes([byte]))
            await writer.drain()
        return True

    # -- shapes ----------------------------------------------------------------------------

    def _usage(self, body: dict[str, Any], completion: int) -> dict[str, int]:
        prompt = sum(len(str(m.get("content", "")).split()) + 4 for m in body.get("messages", []))
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(body, len(text.split())),
        }

    def _delta(
        self, body: dict[str, Any], delta: dict[str, Any], finish: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    # -- writing ---------------------------------------------------------------------------

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        payload: dict[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        await self._send_raw(
            writer, status, data, {"Content-Type": "application/json", **(headers or {})}
        )

    async def _send_raw(
        self, writer: asyncio.StreamWriter, status: int, data: bytes, headers: Mapping[str, str]
    ) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(data)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        await writer.drain()

    async def _start_stream(self, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n"
        )
        await writer.drain()

    async def _chunk(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await writer.drain()

    async def _event(self, writer: asyncio.StreamWriter, payload: dict[str, Any]) -> None:
        await self._chunk(writer, f"data: {json.dumps(payload)}\n\n".encode())


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (RST) rather than an orderly FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextlib.contextmanager
def fake_upstream(**kwargs: Any) -> Iterator[FakeUpstream]:
    """``with fake_upstream(default="429") as up:`` a started :class:`FakeUpstream`."""
    upstream = FakeUpstream(**kwargs).start()
    try:
        yield upstream
    finally:
        upstream.stop()
