"""Timeouts that hold under hung and slow models: abandoned calls never starve later ones
(sync invoke), and streams have a first-token timeout and a total deadline.

Bounds on time are generous: each test asserts far less than what the failure would take.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk

from smartroute_graph import (
    AllModelsFailedError,
    ConfigError,
    SmartRouter,
    StreamInterruptedError,
)
from smartroute_graph.testing import FakeChatModel
from tests.support.classifiers import StubClassifier


def meta(message: AIMessage) -> dict[str, Any]:
    return message.response_metadata["smartroute"]


def router_for(fakes: dict[str, FakeChatModel], **kwargs: Any) -> SmartRouter:
    return SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple"), **kwargs
    )


def test_abandoned_sync_calls_never_starve_later_ones(fakes: dict[str, FakeChatModel]) -> None:
    # The first choice hangs far longer than the timeout; every call must fall back to the
    # next model, also once more calls were abandoned than any thread pool would hold.
    fakes["gpt-4.1-nano"].delay_s = 4.0
    router = router_for(fakes, timeout_s=0.05)
    started = time.monotonic()
    for number in range(1, 41):
        answer = router.invoke("hello")
        kinds = [a["error_kind"] for a in meta(answer)["attempts"]]
        assert kinds == ["timeout", None], f"call {number}: {kinds}"
        assert str(answer.content).startswith("answer from gpt-4.1:")
    assert time.monotonic() - started < 30


async def test_abandoned_async_calls_are_cancelled(fakes: dict[str, FakeChatModel]) -> None:
    fakes["gpt-4.1-nano"].delay_s = 4.0
    router = router_for(fakes, timeout_s=0.05)
    started = time.monotonic()
    answers = [await router.ainvoke("hello") for _ in range(40)]
    assert all(str(a.content).startswith("answer from gpt-4.1:") for a in answers)
    assert time.monotonic() - started < 30


DRIP = "one two three four five six seven eight nine ten eleven twelve"  # 23 tokens


def drip(fakes: dict[str, FakeChatModel], name: str, seconds: float) -> None:
    fakes[name].responses = [DRIP]
    fakes[name].token_delay_s = seconds


Run = tuple[list[AIMessageChunk], BaseException | None, float]


def collect(router: SmartRouter, **kwargs: Any) -> Run:
    chunks: list[AIMessageChunk] = []
    started = time.monotonic()
    try:
        for chunk in router.stream("hello", **kwargs):
            chunks.append(chunk)
    except Exception as exc:
        return chunks, exc, time.monotonic() - started
    return chunks, None, time.monotonic() - started


async def acollect(router: SmartRouter, **kwargs: Any) -> Run:
    chunks: list[AIMessageChunk] = []
    started = time.monotonic()
    try:
        async for chunk in router.astream("hello", **kwargs):
            chunks.append(chunk)
    except Exception as exc:
        return chunks, exc, time.monotonic() - started
    return chunks, None, time.monotonic() - started


async def stream(fakes: dict[str, FakeChatModel], mode: str, **settings: Any) -> Run:
    """Stream "hello" (``mode``: sync or async) through a router on ``fakes`` with ``settings``."""
    router = router_for(fakes, **settings)
    return collect(router) if mode == "sync" else await acollect(router)


def text(chunks: list[AIMessageChunk]) -> str:
    return "".join(str(c.content) for c in chunks)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Each test taking ``mode`` runs once sync and once async."""
    value: str = request.param
    return value


async def test_a_dripping_stream_ends_at_the_total_deadline(
    fakes: dict[str, FakeChatModel], mode: str
) -> None:
    # 23 tokens, one every 0.3 s: about 7 s without the deadline.
    drip(fakes, "gpt-4.1-nano", 0.3)
    chunks, error, elapsed = await stream(fakes, mode, timeout_s=5, total_timeout_s=1)
    assert elapsed < 4
    assert isinstance(error, StreamInterruptedError) and error.error_kind == "timeout"
    assert str(error) == (
        "gpt-4.1-nano's stream was stopped after part of the answer was sent: the total "
        "deadline of 1 s passed (total_timeout_s); retry the request, ask for a shorter "
        "answer, or allow more time"
    )
    assert 1 <= len([c for c in chunks if c.content]) < 23
    assert DRIP.startswith(text(chunks))


async def test_no_first_token_in_time_falls_back_to_the_next_model(
    fakes: dict[str, FakeChatModel], mode: str
) -> None:
    # The first choice answers after 0.6 s, while the fallback is still dripping its answer:
    # none of the slow model's tokens may reach the caller.
    fakes["gpt-4.1-nano"].delay_s = 0.6
    drip(fakes, "gpt-4.1", 0.05)
    chunks, error, elapsed = await stream(fakes, mode, first_token_timeout_s=0.2)
    assert error is None and elapsed < 5
    assert text(chunks) == DRIP
    attempts = chunks[-1].response_metadata["smartroute"]["attempts"]
    assert [(a["model"], a["error_kind"]) for a in attempts] == [
        ("gpt-4.1-nano", "timeout"),
        ("gpt-4.1", None),
    ]
    assert attempts[0]["error"] == "DeadlineError: no first token within 0.2 s"


async def test_timeout_s_bounds_the_first_token_of_a_stream(
    fakes: dict[str, FakeChatModel], mode: str
) -> None:
    # Without first_token_timeout_s, timeout_s is the wait for the first token: a silent
    # upstream costs timeout_s, not the provider's timeout times its retries.
    fakes["gpt-4.1-nano"].delay_s = 3.0
    chunks, error, elapsed = await stream(fakes, mode, timeout_s=0.2)
    assert error is None and elapsed < 2.5
    assert text(chunks).startswith("answer from gpt-4.1:")


async def test_a_stream_that_stalls_after_tokens_is_cut(
    fakes: dict[str, FakeChatModel], mode: str
) -> None:
    drip(fakes, "gpt-4.1-nano", 0.5)
    chunks, error, elapsed = await stream(fakes, mode, timeout_s=0.2, first_token_timeout_s=5)
    assert isinstance(error, StreamInterruptedError) and elapsed < 4
    assert "the stream stalled: no chunk for 0.2 s" in str(error)
    assert text(chunks) == "one"


async def test_the_total_deadline_bounds_invoke_and_its_fallbacks(
    fakes: dict[str, FakeChatModel], mode: str
) -> None:
    fakes["gpt-4.1-nano"].delay_s = 3.0
    router = router_for(fakes, timeout_s=10, total_timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(AllModelsFailedError) as info:
        if mode == "sync":
            router.invoke("hello")
        else:
            await router.ainvoke("hello")
    assert time.monotonic() - started < 2.5
    assert "the total deadline of 0.3 s passed (total_timeout_s)" in str(info.value)
    assert [a["model"] for a in info.value.attempts] == ["gpt-4.1-nano"]


def test_deadline_settings_are_checked_and_come_from_config() -> None:
    router = SmartRouter.from_config(
        {"preset": "openai", "first_token_timeout_s": 4, "total_timeout_s": 30},
        classifier=StubClassifier("chat", "simple"),
        models={"gpt-4.1-nano": FakeChatModel()},
    )
    assert router.defaults.first_token_timeout_s == 4
    assert router.defaults.total_timeout_s == 30
    with pytest.raises(ConfigError, match="total_timeout_s=0: Input should be greater than 0"):
        router.invoke("hello", total_timeout_s=0)


async def test_async_calls_read_files_off_the_event_loop(
    router: SmartRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading a PDF blocks for up to max_pdf_seconds; the event loop must keep running.
    from smartroute_graph.core.attachments import Attachment

    real = Attachment.from_bytes

    def slow(data: bytes, **kwargs: Any) -> Attachment:
        time.sleep(0.5)
        return real(data, **kwargs)

    monkeypatch.setattr(Attachment, "from_bytes", slow)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        answer = await router.ainvoke({"query": "summarise", "attachments": [b"plain notes"]})
    finally:
        ticker.cancel()
    assert answer.content and ticks >= 10
