"""Fault injection: ``smartroute serve``'s app over the real ``langchain-openai`` models, pointed
at a fake OpenAI-compatible provider (:mod:`tests.integration.fake_upstream`) that rate-limits,
errs, resets, sends invalid JSON, stalls, drips and breaks streams. Checks the status each
outcome maps to, the attempts recorded (one provider request each), the deadlines, and that
no key leaks into a response or a log line."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from smartroute_graph import SmartRouter
from smartroute_graph.core.providers import SDK_MAX_RETRIES
from smartroute_graph.serving.app import create_app
from tests.integration.fake_upstream import FakeUpstream, fake_upstream
from tests.integration.fixtures import LiveServer, live_server

pytestmark = pytest.mark.integration

TOKEN = "fault-token-0123456789abcdef0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# The server's own key, in a shape no redaction pattern knows; and a caller's.
SERVER_KEY = "srvkey-" + "9f8e7d6c5b4a" * 3
CALLER_KEY = "callerkey-" + "1a2b3c4d5e6f" * 3
LADDER = ("gpt-4.1-nano", "gpt-4.1", "o4-mini")
HI = {"prompt": "hi"}  # routes to gpt-4.1-nano; fallbacks gpt-4.1, then o4-mini
CHAT = {"model": "smartroute", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENROUTER_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    monkeypatch.setenv("LANGSMITH_TRACING", "false")


@contextmanager
def stack(
    monkeypatch: pytest.MonkeyPatch,
    *,
    router: dict[str, Any] | None = None,
    app: dict[str, Any] | None = None,
    **upstream: Any,
) -> Iterator[tuple[FakeUpstream, LiveServer]]:
    """A fake provider, and the API over real ChatOpenAI models pointed at it.

    Both variables are set: ``OPENAI_BASE_URL`` is what the openai SDK reads, and
    ``OPENAI_API_BASE`` what langchain-openai reads and keys its shared default HTTP client
    on. With the first alone, every test's server would share one connection pool across
    their event loops, and the first call after a server stops would fail on a connection
    of its closed loop ("Event loop is closed")."""
    with fake_upstream(**upstream) as up:
        monkeypatch.setenv("OPENAI_BASE_URL", up.base_url)
        monkeypatch.setenv("OPENAI_API_BASE", up.base_url)
        served = create_app(
            SmartRouter.from_preset("openai", **(router or {})), server_token=TOKEN, **(app or {})
        )
        with live_server(served) as live:
            yield up, live


def _no_secrets(*texts: str) -> None:
    for text in texts:
        assert SERVER_KEY not in text and CALLER_KEY not in text and TOKEN not in text


def _provider_saw_the_client_leave(up: FakeUpstream, index: int = 0, wait_s: float = 4) -> bool:
    """Whether the provider's ``index``-th call saw its connection closed (a dripping answer
    notices at its next write or two)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if len(up.calls) > index and up.calls[index].client_gone:
            return True
        time.sleep(0.05)
    return False


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)


def test_sdk_retries_are_off_so_attempts_tell_the_truth() -> None:
    assert SDK_MAX_RETRIES == 0


@pytest.mark.parametrize(
    ("mode", "status", "kinds"),
    [
        ("429", 429, ["rate_limit"] * 3),
        ("500", 502, ["server_error"] * 3),
        ("503", 503, ["server_error"] * 3),
        ("reset", 502, ["connection"] * 3),
        ("malformed", 502, ["bad_response"] * 3),
        ("400", 400, ["bad_request"]),  # not retried: the request itself was refused
        ("401", 502, ["auth"]),  # the server's own key: the operator's problem, not the caller's
    ],
)
def test_every_model_failing_maps_to_a_status(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    status: int,
    kinds: list[str],
) -> None:
    caplog.set_level(logging.INFO)
    with stack(monkeypatch, default=mode) as (up, live):
        with httpx.Client(base_url=live.url, headers=AUTH, timeout=60) as http:
            response = http.post("/route", json=HI)
            chat = http.post("/v1/chat/completions", json=CHAT)
        upstream_calls = len(up.calls)
    assert response.status_code == status, response.text
    assert chat.status_code == status, chat.text
    body = response.json()
    assert body["error"]["code"] == status
    assert [a["error_kind"] for a in body["attempts"]] == kinds
    assert [a["model"] for a in body["attempts"]] == list(LADDER[: len(kinds)])
    # One provider request per attempt: no hidden SDK retries (two requests: /route, /v1).
    assert upstream_calls == 2 * len(kinds)
    if status == 429:
        assert response.headers["retry-after"] == "7"  # the provider's own
        assert "retry after 7 s" in body["error"]["message"]
    if status in (502, 504):
        assert response.headers["x-should-retry"] == "false"
    _no_secrets(response.text, chat.text, str(response.headers), _log_text(caplog))


def test_rate_limit_without_retry_after_still_says_when(monkeypatch: pytest.MonkeyPatch) -> None:
    with stack(monkeypatch, default="429", retry_after=None) as (_, live):
        response = httpx.post(f"{live.url}/query", json={"query": "hi"}, headers=AUTH, timeout=60)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"


def test_mixed_failures_are_502_and_a_503_among_them_is_not_503(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    modes = {"gpt-4.1-nano": "503", "gpt-4.1": "500", "o4-mini": "503"}
    with stack(monkeypatch, modes=modes) as (_, live):
        response = httpx.post(f"{live.url}/route", json=HI, headers=AUTH, timeout=60)
    assert response.status_code == 502
    modes = {"gpt-4.1-nano": "429", "gpt-4.1": "reset", "o4-mini": "429"}
    with stack(monkeypatch, modes=modes) as (_, live):
        response = httpx.post(f"{live.url}/route", json=HI, headers=AUTH, timeout=60)
    assert response.status_code == 502
    kinds = [a["error_kind"] for a in response.json()["attempts"]]
    assert kinds == ["rate_limit", "connection", "rate_limit"]


def test_all_timeouts_are_504(monkeypatch: pytest.MonkeyPatch) -> None:
    with stack(monkeypatch, router={"timeout_s": 0.5}, default="slow", slow_s=10) as (up, live):
        started = time.monotonic()
        response = httpx.post(f"{live.url}/route", json=HI, headers=AUTH, timeout=60)
        elapsed = time.monotonic() - started
        gone = [_provider_saw_the_client_leave(up, i) for i in range(len(up.calls))]
    assert response.status_code == 504, response.text
    assert [a["error_kind"] for a in response.json()["attempts"]] == ["timeout"] * 3
    assert response.headers["x-should-retry"] == "false"
    assert elapsed < 5
    assert gone == [True, True, True]  # each timed-out call was closed, not left running


def test_fallback_past_failing_providers_answers_200(monkeypatch: pytest.MonkeyPatch) -> None:
    modes = {"gpt-4.1-nano": "429", "gpt-4.1": "reset"}
    with stack(monkeypatch, modes=modes) as (up, live):
        oai = openai.OpenAI(base_url=f"{live.url}/v1", api_key=TOKEN)
        completion = oai.chat.completions.create(
            model="smartroute", messages=[{"role": "user", "content": "hi"}]
        )
        chunks = list(
            oai.chat.completions.create(
                model="smartroute", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
        calls = [(c.model, c.mode) for c in up.calls]
    meta = (completion.model_extra or {})["smartroute"]
    assert completion.model == "o4-mini"
    assert [(a["model"], a["ok"], a["error_kind"]) for a in meta["attempts"]] == [
        ("gpt-4.1-nano", False, "rate_limit"),
        ("gpt-4.1", False, "connection"),
        ("o4-mini", True, None),
    ]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "the fake provider answers this in a few words"
    assert [m for m, _ in calls] == [*LADDER, *LADDER]


def test_a_stock_openai_client_is_not_told_to_multiply_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's 18 provider calls for one client call (client retries x router fallbacks
    x SDK retries) become 3: the SDK does not retry, and the 502 says not to."""
    with stack(monkeypatch, default="500") as (up, live):
        oai = openai.OpenAI(base_url=f"{live.url}/v1", api_key=TOKEN)  # default: 2 retries
        with pytest.raises(openai.APIStatusError) as info:
            oai.chat.completions.create(
                model="smartroute", messages=[{"role": "user", "content": "hi"}]
            )
        assert info.value.status_code == 502
        assert len(up.calls) == 3


def test_the_callers_rejected_key_is_401(monkeypatch: pytest.MonkeyPatch) -> None:
    with stack(monkeypatch, accepted_keys={SERVER_KEY}) as (up, live):
        with httpx.Client(base_url=live.url, timeout=60) as http:
            own = http.post("/route", json=HI, headers={**AUTH, "X-OpenAI-API-Key": CALLER_KEY})
            paid = http.post("/route", json=HI, headers=AUTH)
        keys = [c.key for c in up.calls]
    assert own.status_code == 401, own.text
    assert "rejected the API key this request brought" in own.json()["error"]["message"]
    assert paid.status_code == 200
    assert keys == [CALLER_KEY, SERVER_KEY]  # each request spent only the key it should
    _no_secrets(own.text, paid.text)


def test_a_stream_that_breaks_ends_with_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        stack(monkeypatch, default="break", break_after=3) as (_, live),
        httpx.stream(
            "POST",
            f"{live.url}/v1/chat/completions",
            json={**CHAT, "stream": True},
            headers=AUTH,
            timeout=60,
        ) as response,
    ):
        assert response.status_code == 200  # the first tokens were sent
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    error = json.loads(lines[-2][6:])["error"]
    assert error["code"] == 502 and "stream broke" in error["message"]
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in lines[:-2]
        if "choices" in line
    )
    assert text.split() == ["the", "fake", "provider"]
    _no_secrets(*lines)


# -- 5. deadlines ------------------------------------------------------------------------------


def test_a_dripping_stream_is_cut_at_the_total_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    with stack(monkeypatch, app={"total_timeout_s": 2.5}, default="drip", drip_interval_s=0.5) as (
        up,
        live,
    ):
        started = time.monotonic()
        with httpx.stream(
            "POST",
            f"{live.url}/v1/chat/completions",
            json={**CHAT, "stream": True},
            headers=AUTH,
            timeout=60,
        ) as response:
            assert response.status_code == 200
            lines = [line for line in response.iter_lines() if line]
        elapsed = time.monotonic() - started
        gone = _provider_saw_the_client_leave(up)
    assert 2.4 < elapsed < 4.5, elapsed
    assert lines[-1] == "data: [DONE]"
    error = json.loads(lines[-2][6:])["error"]
    assert error["code"] == 504 and "total deadline of 2.5 s" in error["message"]
    assert gone  # the provider's stream was closed, not left dripping


def test_no_first_token_in_time_is_504_before_the_response(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with stack(monkeypatch, app={"first_token_timeout_s": 1}, default="slow", slow_s=20) as (
        up,
        live,
    ):
        started = time.monotonic()
        response = httpx.post(
            f"{live.url}/v1/chat/completions",
            json={**CHAT, "stream": True},
            headers=AUTH,
            timeout=60,
        )
        elapsed = time.monotonic() - started
        gone = _provider_saw_the_client_leave(up)
    assert response.status_code == 504, response.text
    assert "first-token timeout of 1 s" in response.json()["error"]["message"]
    assert elapsed < 3 and gone


def test_a_dripping_non_streamed_answer_hits_the_total_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with stack(
        monkeypatch,
        app={"total_timeout_s": 2},
        default="drip",
        drip_interval_s=0.2,
    ) as (up, live):
        started = time.monotonic()
        response = httpx.post(f"{live.url}/query", json={"query": "hi"}, headers=AUTH, timeout=60)
        elapsed = time.monotonic() - started
        gone = _provider_saw_the_client_leave(up)
    assert response.status_code == 504, response.text
    assert "total deadline of 2 s" in response.json()["error"]["message"]
    assert elapsed < 4 and gone


def test_a_client_that_leaves_closes_the_provider_call(monkeypatch: pytest.MonkeyPatch) -> None:
    with stack(monkeypatch, default="slow", slow_s=30) as (up, live):
        payload = json.dumps({"query": "hi"}).encode()
        head = (
            f"POST /query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
            sock.sendall(head.encode() + payload)
            deadline = time.monotonic() + 30
            while not up.calls and time.monotonic() < deadline:
                time.sleep(0.02)
            assert up.calls, "the provider was not called"
        # The client hung up while the provider was answering: the call is closed too.
        assert _provider_saw_the_client_leave(up)


def test_the_fault_bench_runs_clean(tmp_path: Path) -> None:
    """bench/bench_server_faults.py end to end on tiny settings (its figures are in
    bench/README.md): nothing lost, nothing unclean, no hidden provider calls."""
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "faults.json"
    process = subprocess.run(
        [
            sys.executable,
            str(root / "bench" / "bench_server_faults.py"),
            "--requests",
            "60",
            "--concurrency",
            "8",
            "--failure-rate",
            "0.5",
            "--check",
            "--json",
            str(out),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    figures = json.loads(out.read_text())
    assert figures["ok"] + figures["clean"] == 60
    assert figures["lost"] == figures["unclean"] == figures["hidden_provider_calls"] == 0
    assert figures["clean"] > 0  # at half the calls failing, some requests fail on all models
