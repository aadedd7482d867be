"""The HTTP API under hostile input (issue 11): auth before the body, body limits, CPU work off
the event loop, lone surrogates, fan-out caps, unknown fields, uploads, Host, log lines, config
files, disconnects. Scripted models; a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import BaseMessage

from smartroute_graph import SmartRouter
from smartroute_graph.core.attachments import AttachmentBusyError
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.routing.config import load_config
from smartroute_graph.serving.app import DEFAULT_MAX_BODY_BYTES, LEGACY_FIELDS, create_app
from smartroute_graph.serving.calls import (
    DEFAULT_FIRST_TOKEN_TIMEOUT_S as CALLS_FIRST_TOKEN,
)
from smartroute_graph.serving.calls import (
    DEFAULT_TOTAL_TIMEOUT_S as CALLS_TOTAL,
)
from smartroute_graph.serving.command import (
    DEFAULT_FIRST_TOKEN_TIMEOUT_S,
    DEFAULT_MAX_BODY_MB,
    DEFAULT_TOTAL_TIMEOUT_S,
)
from smartroute_graph.serving.guard import escape_for_log, host_allowed
from smartroute_graph.testing import FakeChatModel
from tests.support.pdfs import png
from tests.support.servers import (  # the fixtures apply to this module
    MODEL_NAMES,
    Tracker,
    fake_models,
    fake_router,
    free_port,
    live_server,
)

pytestmark = pytest.mark.integration

TOKEN = "hardening-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]
LONE = "hi \ud800 there"  # json.dumps writes it as the escape "\ud800"


@pytest.fixture(scope="module")
def app(tracker: Tracker) -> Any:
    return create_app(fake_router(fake_models(tracker)), server_token=TOKEN, max_batch=10)


@pytest.fixture(scope="module")
def server(app: Any) -> Iterator[Any]:
    with live_server(app) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as http:
        yield http


def _error(response: httpx.Response) -> str:
    body = response.json()
    assert body["error"]["code"] == response.status_code
    assert "Traceback" not in response.text
    return str(body["error"]["message"])


def _raw(port: int, head: str, first_body: bytes = b"", timeout: float = 5) -> tuple[str, float]:
    """Send ``head`` and the start of a body on a raw socket, then read the answer without
    sending the rest: returns the response text and the seconds it took to come."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(head.encode("latin-1") + first_body)
        data = b""
        with contextlib.suppress(OSError):  # the server closes after answering
            while b"\r\n\r\n" not in data or not _complete(data):
                piece = sock.recv(65536)
                if not piece:
                    break
                data += piece
        return data.decode("latin-1"), time.monotonic() - started


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


# -- 3. auth before the body, body limits, CPU work off the event loop -------------------------


def test_the_token_is_checked_before_the_body_is_read(server: Any) -> None:
    """A 1 GB upload without the token (or with a wrong one) is answered 401 after its
    headers: the server never waits for the body."""
    for auth in ("", "Authorization: Bearer wrong-token-xyz\r\n"):
        for path in ("/route", "/v1/chat/completions", "/route/with-file"):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"{auth}Content-Length: 1000000000\r\n\r\n"
            )
            answer, seconds = _raw(server.port, head, b'{"prompt": "')
            assert answer.startswith("HTTP/1.1 401"), answer[:200]
            assert seconds < 3
            assert "needs a token" in answer or "token is wrong" in answer


def test_the_token_is_checked_first_when_the_app_is_mounted() -> None:
    from fastapi import FastAPI

    parent = FastAPI()
    parent.mount("/api", create_app(fake_router(), server_token=TOKEN))
    with live_server(parent) as live:
        head = (
            "POST /api/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000000000\r\n\r\n"
        )
        answer, seconds = _raw(live.port, head, b'{"prompt": "')
        assert answer.startswith("HTTP/1.1 401") and seconds < 3, answer[:200]
        with httpx.Client(base_url=live.url, headers=AUTH, timeout=30) as http:
            assert http.post("/api/route", json={"prompt": "hi"}).status_code == 200


def test_body_cap_refuses_early_and_while_streaming_in() -> None:
    app = create_app(fake_router(), server_token=TOKEN, max_body_bytes=100_000)
    with live_server(app) as live:
        # Announced too large: 413 at once, before the body.
        head = (
            "POST /route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: 5000000\r\n\r\n"
        )
        answer, seconds = _raw(live.port, head, b'{"prompt": "')
        assert answer.startswith("HTTP/1.1 413"), answer[:200]
        assert "the limit is 0.1 MB" in answer and seconds < 3
        # Chunked, no Content-Length: refused once the body passes the limit, not at its end.
        head = (
            "POST /route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        piece = b"a" * 60_000
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        answer, seconds = _raw(live.port, head, b"c\r\n" + b'{"prompt": "' + b"\r\n" + chunk * 2)
        assert answer.startswith("HTTP/1.1 413"), answer[:200]
        assert "RequestTooLargeError" in answer
        # An ordinary client sees the JSON error too; a body under the limit is served.
        with httpx.Client(base_url=live.url, headers=AUTH, timeout=30) as http:
            big = http.post("/route", json={"prompt": "x" * 150_000})
            assert big.status_code == 413 and "the limit is 0.1 MB" in _error(big)
            assert http.post("/route", json={"prompt": "hello"}).status_code == 200


def test_a_body_key_admits_only_within_the_body_cap() -> None:
    """A server that accepts callers' own keys must read the body to find ``api_key``: it
    reads no more than the cap."""
    app = create_app(SmartRouter.from_preset("openai"), server_token=TOKEN, max_body_bytes=50_000)
    with live_server(app) as live:
        head = (
            "POST /route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000000000\r\n\r\n"
        )
        answer, _ = _raw(live.port, head, b'{"api_key": "k", "prompt": "')
        assert answer.startswith("HTTP/1.1 413"), answer[:200]
        with httpx.Client(base_url=live.url, timeout=30) as http:
            # Within the cap and without a key: read, then refused.
            none = http.post("/route", json={"prompt": "hi"})
            assert none.status_code == 401 and "needs a token" in _error(none)


def test_health_answers_while_a_10_mb_prompt_is_processed(client: httpx.Client) -> None:
    prompt = ("lorem ipsum dolor sit amet, consectetur adipiscing elit " * 200_000)[:10_500_000]
    body = json.dumps({"prompt": prompt}).encode()
    result: dict[str, Any] = {}

    def big() -> None:
        response = client.post(
            "/route", content=body, headers={"Content-Type": "application/json"}, timeout=120
        )
        result["response"] = response

    worker = threading.Thread(target=big)
    waits: list[float] = []
    with httpx.Client(base_url=str(client.base_url), timeout=30) as probe:
        probe.get("/health")
        began = time.perf_counter()
        worker.start()
        while worker.is_alive():
            started = time.perf_counter()
            assert probe.get("/health").status_code == 200
            waits.append(time.perf_counter() - started)
            time.sleep(0.01)
    worker.join()
    took = time.perf_counter() - began
    response = result["response"]
    # The prompt was measured (the router refuses it: no context window holds it)...
    assert response.status_code == 400 and "context window" in _error(response)
    # ...while /health kept answering. On the event loop the work stalled it for most of the
    # request (1.0 s of 1.2 s here); off it, the longest wait was 0.06-0.08 s of 1 s.
    assert len(waits) >= 3
    assert max(waits) < 0.35 * took, (waits, took)


def test_big_inputs_are_answered_from_a_thread(
    client: httpx.Client, server: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the offload threshold the router's sync API runs in a worker thread: answers,
    streams (with the model's name on every chunk) and decisions come back as usual."""
    calls = app.state.calls
    offloaded: list[Any] = []
    in_thread = calls._in_thread

    deadlines: list[Any] = []

    def counting(call: Any) -> Any:
        offloaded.append(call.func.__name__)
        if call.keywords:  # the router's own deadline ends a thread the server gave up on
            deadlines.append(call.keywords.get("total_timeout_s"))
        return in_thread(call)

    monkeypatch.setattr(calls, "_in_thread", counting)
    text = "Summarise this: " + "the ledger balances each quarter. " * 4_000
    assert len(text) > 100_000
    body = client.post("/query", json={"query": text})
    assert body.status_code == 200 and body.json()["response"].startswith("answer from")
    decision = client.post("/test-selection", json={"query": text})
    assert decision.status_code == 200 and decision.json()["decision"]["domain"]
    oai = openai.OpenAI(base_url=f"{server.url}/v1", api_key=TOKEN, max_retries=0)
    chunks = list(
        oai.chat.completions.create(
            model="smartroute", stream=True, messages=[{"role": "user", "content": text}]
        )
    )
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    meta = (final.model_extra or {})["smartroute"]
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == f"answer from {meta['model']}: all good here"
    assert {c.model for c in chunks} == {meta["model"]}
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    assert offloaded == ["invoke", "route", "produce"]
    assert deadlines == [calls.total_timeout_s] * 2
    client.post("/query", json={"query": "a short one"})
    assert len(offloaded) == 3  # ordinary inputs stay on the event loop


# -- 7. lone surrogates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/route", {"prompt": LONE}, "prompt"),
        ("/route", {"prompt": "hi", "api_key": LONE}, "api_key"),
        ("/query", {"query": LONE}, "query"),
        ("/query-compare", {"query": LONE}, "query"),
        ("/query-compare", {"query": "hi", "models": [LONE]}, "models.0"),
        ("/query-specific", {"query": LONE, "model": "gpt-4.1"}, "query"),
        ("/query-specific", {"query": "hi", "model": LONE}, "model"),
        ("/batch-query", {"queries": ["fine", LONE]}, "queries.1"),
        ("/test-selection", {"query": LONE}, "query"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": LONE}]}, "content"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": [{"type": "text", "text": LONE}]}]},
            "text",
        ),
        (
            "/v1/chat/completions",
            {"model": LONE, "messages": [{"role": "user", "content": "hi"}]},
            "model",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "hi"}], "user": LONE},
            "user",
        ),
    ],
)
def test_lone_surrogates_are_a_clear_4xx(
    client: httpx.Client, path: str, body: dict[str, Any], field: str
) -> None:
    raw = json.dumps(body)
    assert "\\ud800" in raw
    response = client.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    message = _error(response)
    assert "lone UTF-16 surrogate" in message and field in message


def test_surrogate_bytes_in_an_upload_are_never_a_500(client: httpx.Client) -> None:
    """Multipart fields are bytes: a surrogate's UTF-8-style bytes are not valid UTF-8, and
    reach the router as replacement text (never as a lone surrogate); a text file with them
    is refused as not UTF-8."""
    bad = "hi \ud800".encode("utf-8", "surrogatepass")
    for data, files in (
        ({"prompt": bad}, {"file": ("a.png", png())}),
        ({"prompt": "what is it?"}, {"file": (bad.decode("latin-1"), png())}),
    ):
        response = client.post("/route/with-file", data=data, files=files)
        assert response.status_code == 200, response.text
    text = client.post(
        "/route/with-file", data={"prompt": "read it"}, files={"file": ("a.txt", b"x " + bad)}
    )
    # The first router's endpoint reports the file it cannot read, and answers the prompt.
    assert text.status_code == 200 and "Traceback" not in text.text
    assert text.json()["file_processed"] is False
    assert "UTF-8 text" in text.json()["file_processing_error"]


# -- 9. fan-out ------------------------------------------------------------------------------------


def test_query_compare_models_are_deduplicated_and_capped(
    client: httpx.Client, tracker: Tracker
) -> None:
    calls = len(tracker.seen)
    many = client.post("/query-compare", json={"query": "hi", "models": ["o4-mini"] * 1000})
    assert many.status_code == 413
    assert "1000 models in one comparison; the limit is 10" in _error(many)
    assert len(tracker.seen) == calls  # no model was called
    twice = client.post(
        "/query-compare", json={"query": "hi", "models": ["o4-mini", "gpt-4.1", "o4-mini"]}
    )
    assert twice.status_code == 200
    assert [r["model"] for r in twice.json()["results"]] == ["o4-mini", "gpt-4.1"]
    assert len(tracker.seen) == calls + 2
    long = client.post("/query-compare", json={"query": "word " * 30_000})
    assert long.status_code == 413 and "/query-compare takes at most" in _error(long)


# -- 10. unknown fields, uploads, Host, log lines, config, disconnects ------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/route", {"prompt": "hi", "promt": "typo"}),
        ("/query", {"query": "hi", "budget": 1}),
        ("/query-compare", {"query": "hi", "model_list": ["gpt-4.1"]}),
        ("/query-specific", {"query": "hi", "model": "gpt-4.1", "stream": True}),
        ("/batch-query", {"queries": ["hi"], "concurrency": 50}),
        ("/test-selection", {"query": "hi", "dryrun": True}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "foo": 1}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi", "foo": 1}]}),
    ],
)
def test_unknown_fields_are_422_naming_the_field(
    client: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    known = {"prompt", "query", "queries", "model", "messages", "api_key", "budget_usd"}
    unknown = next(k for k in _all_keys(body) if k not in known | {"role", "content"})
    assert f"unknown field '{unknown}'" in _error(response) or f".{unknown}'" in _error(response)


def _all_keys(body: dict[str, Any]) -> list[str]:
    keys = list(body)
    for message in body.get("messages", []):
        keys += list(message)
    return keys


def test_older_clients_fields_are_accepted_quietly(client: httpx.Client) -> None:
    # ``prompt`` and ``prompts`` are the older names of ``query`` and ``queries`` (and
    # ``openai_api_key`` of ``api_key``): they are read as those fields, the rest are
    # accepted and ignored where the endpoint has no such field.
    legacy = {"openai_api_key": None, "temperature": 0.2, "compare": False, "model": "gpt-4.1"}
    assert set(legacy) | {"prompt", "prompts"} == LEGACY_FIELDS
    for path, body in (
        ("/route", {"prompt": "hi"}),
        ("/query", {"prompt": "hi"}),
        ("/query-compare", {"prompt": "hi", "models": ["gpt-4.1"]}),
        ("/batch-query", {"prompts": ["hi"]}),
        ("/test-selection", {"prompt": "hi"}),
    ):
        response = client.post(path, json={**legacy, **body})
        assert response.status_code == 200, (path, response.text)


def test_openai_documented_fields_are_accepted(client: httpx.Client) -> None:
    from openai.types.chat.completion_create_params import CompletionCreateParamsBase

    documented = set(CompletionCreateParamsBase.__annotations__) - {
        "messages",
        "model",
        "tools",
        "functions",
        "tool_choice",
        "function_call",
        "parallel_tool_calls",
        "n",
    }
    sample: dict[str, Any] = {name: None for name in documented}
    sample.update(max_tokens=50, stop=["\n"], top_p=0.9, user="u-1", seed=7)
    sample["response_format"] = {"type": "text"}
    sample["messages"] = [{"role": "user", "content": "hi", "name": "me"}]
    response = client.post("/v1/chat/completions", json=sample)
    assert response.status_code == 200, response.text
    oai = openai.OpenAI(base_url=f"{str(client.base_url).rstrip('/')}/v1", api_key=TOKEN)
    completion = oai.chat.completions.create(
        model="smartroute",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=20,
        stop=["END"],
        top_p=0.5,
        user="someone",
        seed=1,
        frequency_penalty=0.1,
        presence_penalty=0.1,
    )
    assert completion.choices[0].message.content


def test_a_second_uploaded_file_is_refused(client: httpx.Client) -> None:
    response = client.post(
        "/route/with-file",
        data={"prompt": "compare these"},
        files=[("file", ("a.png", png())), ("file", ("b.png", png(2, 2)))],
    )
    assert response.status_code == 400, response.text
    assert "accepts one file per request" in _error(response)
    extra = client.post(
        "/route/with-file",
        data={"prompt": "what is it?", "colour": "red"},
        files={"file": ("a.png", png())},
    )
    assert extra.status_code == 422 and "unknown field 'colour'" in _error(extra)


def test_host_allow_list() -> None:
    assert host_allowed("api.example.com:8443", ["api.example.com"])
    assert host_allowed("eu.example.com", ["*.example.com"])
    assert host_allowed("[::1]:8000", ["::1"])
    assert not host_allowed("example.com.evil.net", ["example.com", "*.example.com"])
    app = create_app(fake_router(), allowed_hosts=["127.0.0.1", "*.example.com"])
    with live_server(app) as live, httpx.Client(base_url=live.url, timeout=10) as http:
        assert http.get("/health").status_code == 200
        assert http.get("/health", headers={"Host": "api.example.com"}).status_code == 200
        evil = http.post("/route", json={"prompt": "hi"}, headers={"Host": "evil.example.net"})
        assert evil.status_code == 400
        assert "does not answer for host 'evil.example.net'" in _error(evil)
    with pytest.raises(ConfigError, match="allowed_hosts is empty"):
        create_app(fake_router(), allowed_hosts=[])


def test_a_newline_in_the_path_cannot_forge_a_log_line(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smartroute_graph.serving")
    forged = "/nope%0a2026-01-01%2000:00:00%20INFO%20smartroute_graph.server:%20POST%20/route%0d"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET {forged} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        while sock.recv(65536):
            pass
    lines = [
        r.getMessage() for r in caplog.records if r.name.startswith("smartroute_graph.serving")
    ]
    logged = next(line for line in lines if "/nope" in line)
    assert "\n" not in logged and "\r" not in logged
    assert "/nope\\x0a2026-01-01 00:00:00 INFO" in logged and "\\x0d" in logged
    assert escape_for_log("a\u2028b\x1bc") == "a\\u2028b\\x1bc"


def test_a_non_utf8_config_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    path.write_bytes(b"preset: openai\nclassifier: caf\xe9\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(path)
    process = subprocess.run(
        [sys.executable, "-m", "smartroute_graph.serving.command", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 2
    assert "is not UTF-8 text" in process.stderr and "Traceback" not in process.stderr


STARTED: list[float] = []
CANCELLED: list[float] = []


class _CancelWatcher:
    """Notes in ``STARTED`` when a call starts and in ``CANCELLED`` when it is cancelled."""

    def enter(self, messages: list[BaseMessage]) -> None:
        STARTED.append(time.monotonic())

    def leave(self, error: BaseException | None) -> None:
        if isinstance(error, asyncio.CancelledError):
            CANCELLED.append(time.monotonic())


def _wait_for(found: list[float], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not found and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(found)


def test_a_client_that_disconnects_cancels_the_model_call() -> None:
    watcher = _CancelWatcher()
    models = {
        name: FakeChatModel(model_name=name, delay_s=30, watcher=watcher) for name in MODEL_NAMES
    }
    app = create_app(SmartRouter.from_preset("openai", models=models))
    with live_server(app) as live:
        for path, body in (
            ("/route", {"prompt": "hi"}),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ):
            STARTED.clear()
            CANCELLED.clear()
            payload = json.dumps(body).encode()
            head = (
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n"
            )
            with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
                sock.sendall(head.encode() + payload)
                assert _wait_for(STARTED, 30), "the model call did not start"
            gone = time.monotonic()  # the client hung up while the model was answering
            assert _wait_for(CANCELLED, 5), f"{path}: the model call ran on after the client left"
            assert CANCELLED[0] - gone < 3


def test_limits_are_configurable_and_consistent() -> None:
    assert int(DEFAULT_MAX_BODY_MB * 1024 * 1024) == DEFAULT_MAX_BODY_BYTES
    assert (DEFAULT_FIRST_TOKEN_TIMEOUT_S, DEFAULT_TOTAL_TIMEOUT_S) == (
        CALLS_FIRST_TOKEN,
        CALLS_TOTAL,
    )
    for bad in ({"max_body_bytes": 0}, {"total_timeout_s": 0}, {"first_token_timeout_s": -1}):
        with pytest.raises(ConfigError):
            create_app(fake_router(), **bad)


def test_serve_command_applies_the_limits() -> None:
    port = free_port()
    env = {
        **{
            k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENROUTER_API_KEY")
        },
        "HARDENING_TOKEN": TOKEN,
        "LANGSMITH_TRACING": "false",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smartroute_graph.serving.command",
            "--port",
            str(port),
            "--token-env",
            "HARDENING_TOKEN",
            "--log-level",
            "warning",
            "--max-body-mb",
            "0.05",
            "--first-token-timeout",
            "7",
            "--total-timeout",
            "9",
            "--allowed-hosts",
            "127.0.0.1,localhost",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "smartroute serve did not start"
                time.sleep(0.1)
        limits = health.json()["limits"]
        assert limits["max_body_bytes"] == int(0.05 * 1024 * 1024)
        assert (limits["first_token_timeout_s"], limits["total_timeout_s"]) == (7, 9)
        big = httpx.post(f"{url}/route", json={"prompt": "x" * 60_000}, headers=AUTH)
        assert big.status_code == 413
        other = httpx.get(f"{url}/health", headers={"Host": "evil.example"})
        assert other.status_code == 400
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    assert "limits:     bodies 0.05 MiB, first token 7 s, total 9 s" in err


def test_an_error_with_its_own_status_keeps_it() -> None:
    """AttachmentBusyError says 503 (every PDF reader stayed busy): the client may retry."""
    busy = AttachmentBusyError("every PDF reader is busy: retry in a moment")
    router = SmartRouter.from_preset("openai", models=fake_models(error=busy))
    with live_server(create_app(router)) as live:
        response = httpx.post(f"{live.url}/route", json={"prompt": "hi"}, timeout=30)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert "every PDF reader is busy" in _error(response)
