"""Time limits on model calls that hold whatever the model does.

- :func:`call_with_timeout`: a sync call given up after a timeout. It runs on a worker
  thread of its own (a daemon, so a hung call never delays exit), never in a fixed-size pool:
  calls given up on keep running until the model returns, and in a fixed pool they would fill
  it and starve every later call. A worker that finished its call waits for the next one
  (:class:`_Workers`), so a call pays a hand-off, not a thread start.
  :func:`acall_with_timeout`: the async call, cancelled.
- :func:`stream_within` / :func:`astream_within`: a model's stream with a first-token
  timeout, an idle timeout between chunks and a total deadline. The async one cancels the
  model's stream at the limit (its connection closes); the sync one reads the stream in a
  thread of its own and stops reading it at the next chunk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from smartroute_graph.routing.context import RouterContext

__all__ = [
    "DeadlineError",
    "StreamLimits",
    "acall_with_timeout",
    "astream_within",
    "call_timeout",
    "call_with_timeout",
    "has_token",
    "stream_limits",
    "stream_within",
    "time_left",
    "total_label",
]

T = TypeVar("T")
Phase = Literal["call", "first_token", "idle", "total"]


class DeadlineError(TimeoutError):
    """A call or stream passed one of the router's limits (not the model's own timeout).

    ``phase`` says which: ``call`` (a whole call), ``first_token``, ``idle`` (between chunks) or
    ``total`` (the run's deadline).
    """

    def __init__(self, message: str, phase: Phase) -> None:
        super().__init__(message)
        self.phase = phase


@dataclass(frozen=True)
class StreamLimits:
    """Limits on one streamed call, in seconds from its start (None: no limit).

    Args:
        first_token_s: until the first chunk that carries content (text or a tool call).
        idle_s: between chunks once the first token came.
        total_s: until the stream ends.
        total_label: how the total limit is named in errors (the run's deadline, say).
    """

    first_token_s: float | None = None
    idle_s: float | None = None
    total_s: float | None = None
    total_label: str | None = None

    @property
    def active(self) -> bool:
        """Whether any limit applies."""
        return any(v is not None for v in (self.first_token_s, self.idle_s, self.total_s))

    def wait(self, started: float, now: float, first: bool, last: float) -> tuple[float, Phase]:
        """Seconds to wait for the next chunk, and the limit that bounds the wait."""
        waits: list[tuple[float, Phase]] = []
        if self.total_s is not None:
            waits.append((started + self.total_s - now, "total"))
        if first and self.first_token_s is not None:
            waits.append((started + self.first_token_s - now, "first_token"))
        if not first and self.idle_s is not None:
            waits.append((last + self.idle_s - now, "idle"))
        if not waits:
            return float("inf"), "total"
        wait, phase = min(waits, key=lambda w: w[0])
        return max(0.0, wait), phase

    def error(self, phase: Phase) -> DeadlineError:
        """The error for passing the limit of ``phase``, saying which one and its value."""
        if phase == "first_token":
            message = f"no first token within {self.first_token_s:g} s"
        elif phase == "idle":
            message = f"the stream stalled: no chunk for {self.idle_s:g} s"
        else:
            message = self.total_label or f"the stream did not end within {self.total_s:g} s"
        return DeadlineError(message, phase)


def time_left(deadline_at: float | None) -> float | None:
    """Seconds left before a run's deadline (``time.time()`` seconds; None: no deadline)."""
    return None if deadline_at is None else deadline_at - time.time()


def total_label(context: RouterContext) -> str:
    """How the run's total limit is named in messages."""
    return f"the total deadline of {context.total_timeout_s:g} s passed (total_timeout_s)"


def call_timeout(context: RouterContext, deadline_at: float | None) -> tuple[float | None, str]:
    """Seconds one (non-streamed) call may take, and what to say when it takes longer."""
    left = time_left(deadline_at)
    timeout = context.timeout_s
    if left is not None and (timeout is None or left < timeout):
        return max(0.0, left), total_label(context)
    return timeout, "" if timeout is None else f"no answer within {timeout:g} s"


def stream_limits(context: RouterContext, deadline_at: float | None) -> StreamLimits:
    """A streamed call's limits.

    Its first token within ``first_token_timeout_s`` (default ``timeout_s``), no gap between chunks
    over ``timeout_s``, and the run's deadline.
    """
    left = time_left(deadline_at)
    first = context.first_token_timeout_s
    return StreamLimits(
        first_token_s=first if first is not None else context.timeout_s,
        idle_s=context.timeout_s,
        total_s=max(0.0, left) if left is not None else None,
        total_label=total_label(context) if left is not None else None,
    )


def has_token(chunk: Any) -> bool:
    """Whether a message chunk carries content for the caller (text or a tool call)."""
    return bool(getattr(chunk, "content", None) or getattr(chunk, "tool_call_chunks", None))


class _Workers:
    """Daemon threads for timed calls, reused when idle.

    Daemon threads for timed calls: an idle one takes the next job, a new one starts when every one
    is busy (a hung call keeps its thread and blocks nothing else); at most ``max_idle`` wait for
    work, the others end.
    """

    def __init__(self, max_idle: int = 16) -> None:
        self.max_idle = max_idle
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None], name: str) -> None:
        """Run ``job()`` (which must not raise) on an idle worker or a new one."""
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._work, args=(inbox,), name=name, daemon=True).start()
        inbox.put(job)

    def _work(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            inbox.get()()
            with self._lock:
                if len(self._idle) >= self.max_idle:
                    return
                self._idle.append(inbox)


_WORKERS = _Workers()


def call_with_timeout(
    func: Callable[..., T], *args: Any, timeout: float, message: str, phase: Phase = "call"
) -> T:
    """``func(*args)`` in a daemon thread of its own, waited for ``timeout`` seconds.

    Context variables are copied. Past the timeout, :class:`DeadlineError` (``message``), and the
    call is left to finish on its own.
    """
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            result = context.run(func, *args)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    future.set_running_or_notify_cancel()
    _WORKERS.submit(run, "smartroute-call")
    try:
        return future.result(timeout=max(0.0, timeout))
    except TimeoutError:
        if future.done():  # the call itself raised a TimeoutError
            raise
        raise DeadlineError(message, phase) from None


async def acall_with_timeout(
    awaitable: Any, *, timeout: float | None, message: str, phase: Phase = "call"
) -> Any:
    """Await ``awaitable``, cancelled after ``timeout`` seconds (None: no limit).

    The cancellation raises :class:`DeadlineError` (``message``).
    """
    limit = asyncio.timeout(timeout)
    try:
        async with limit:
            return await awaitable
    except TimeoutError:
        if limit.expired():
            raise DeadlineError(message, phase) from None
        raise


def stream_within(
    make_stream: Callable[[], Iterator[T]],
    limits: StreamLimits,
    *,
    is_token: Callable[[T], bool] = has_token,
) -> Iterator[T]:
    """The chunks of ``make_stream()`` within ``limits``; past one, :class:`DeadlineError`.

    The stream is read in a daemon thread of its own, which stops reading (and closes the stream) at
    its next chunk once this generator is left.
    """
    if not limits.active:
        yield from make_stream()
        return
    items: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    stop = threading.Event()
    context = contextvars.copy_context()

    def produce() -> None:
        try:
            stream = make_stream()
            try:
                for item in stream:
                    if stop.is_set():
                        break
                    items.put(("item", item))
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:
            items.put(("error", exc))
        else:
            items.put(("end", None))

    started = last = time.monotonic()
    first = True
    _WORKERS.submit(lambda: context.run(produce), "smartroute-stream")
    try:
        while True:
            now = time.monotonic()
            wait, phase = limits.wait(started, now, first, last)
            try:
                kind, value = items.get(timeout=None if wait == float("inf") else wait)
            except queue.Empty:
                raise limits.error(phase) from None
            if kind == "end":
                return
            if kind == "error":
                raise value
            last = time.monotonic()
            first = first and not is_token(value)
            yield value
    finally:
        stop.set()


async def astream_within(
    make_stream: Callable[[], AsyncIterator[T]],
    limits: StreamLimits,
    *,
    is_token: Callable[[T], bool] = has_token,
) -> AsyncIterator[T]:
    """Async :func:`stream_within`: the wait for each chunk is cancelled at the limit.

    The cancellation closes the model's stream (and its connection).
    """
    stream = make_stream()
    started = last = time.monotonic()
    first = True
    try:
        while True:
            wait, phase = limits.wait(started, time.monotonic(), first, last)
            # asyncio.timeout, not wait_for: the stream keeps running in this task, so the
            # context variables it sets (tracing, callbacks) carry from chunk to chunk.
            limit = asyncio.timeout(None if wait == float("inf") else wait)
            try:
                async with limit:
                    item = await anext(stream)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if not limit.expired():  # the model's own timeout
                    raise
                raise limits.error(phase) from None
            last = time.monotonic()
            first = first and not is_token(item)
            yield item
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
