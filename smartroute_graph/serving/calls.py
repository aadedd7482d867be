"""How the HTTP API calls the router: deadlines, and big inputs kept off the event loop.

Every call the server makes runs under a total deadline (``total_timeout_s``); a stream also
has a first-token timeout (``first_token_timeout_s``) that bounds the wait, fallbacks
included, for its first token. These hold whatever the router's own per-call timeouts are, so
a provider that drips one token a second cannot hold a stream open past the deadline.

The router's async path does its input work (normalising, measuring tokens, classifying)
inline on the event loop, which is quickest for ordinary prompts. An input over
``offload_chars`` characters runs on the router's sync API in a small thread pool instead,
so one 10 MB prompt cannot stall every other request (and ``/health``) for a second; the
pool's size also bounds how many such inputs are worked on at once. A thread cannot be
cancelled: such a call runs with the router's own total deadline held to the server's, so it
ends when the server stops waiting for it; a client that leaves stops the waiting, and the
call ends at the router's own limits.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Generator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar, cast

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.runnables import RunnableConfig

from smartroute_graph.core.errors import AllModelsFailedError, DeadlineExceededError
from smartroute_graph.routing.policy import RoutingDecision
from smartroute_graph.runnable import SmartRouter
from smartroute_graph.serving.health import ModelHealth

if TYPE_CHECKING:
    from smartroute_graph.serving.gateway import Gateway

__all__ = [
    "DEFAULT_FIRST_TOKEN_TIMEOUT_S",
    "DEFAULT_TOTAL_TIMEOUT_S",
    "OFFLOAD_CHARS",
    "RouterCalls",
    "StreamEvent",
]

# Long enough for a slow model plus a fallback (the router's per-call timeout is 60 s).
DEFAULT_FIRST_TOKEN_TIMEOUT_S = 120.0
DEFAULT_TOTAL_TIMEOUT_S = 300.0
# Inputs longer than this (characters of text, attachments' text included) are worked on in
# a thread: measuring 100,000 characters' tokens takes about 10 ms of the event loop.
OFFLOAD_CHARS = 100_000
OFFLOAD_WORKERS = 4

T = TypeVar("T")
# ("model", name) when a catalog model starts answering; ("chunk", AIMessageChunk).
StreamEvent = tuple[str, Any]


class RouterCalls:
    """The router's calls as the server makes them (see the module docstring)."""

    def __init__(
        self,
        router: SmartRouter,
        *,
        first_token_timeout_s: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT_S,
        total_timeout_s: float | None = DEFAULT_TOTAL_TIMEOUT_S,
        offload_chars: int = OFFLOAD_CHARS,
        offload_workers: int = OFFLOAD_WORKERS,
        gateway: Gateway | None = None,
    ) -> None:
        self.router = router
        # Cooldowns in, failures and spend out (serving.gateway); None: no gateway.
        self.gateway = gateway
        self.first_token_timeout_s = first_token_timeout_s
        self.total_timeout_s = total_timeout_s
        self.offload_chars = offload_chars
        self.health = ModelHealth(router)
        """Each model's last error and success in the answers given through these calls."""
        self._pool = ThreadPoolExecutor(offload_workers, thread_name_prefix="smartroute-big")

    def offloaded(self, size: int) -> bool:
        """Whether an input of ``size`` characters is worked on in a thread."""
        return size > self.offload_chars

    async def within_deadline(self, work: Awaitable[T], what: str = "the answer") -> T:
        """``await work``, or :class:`DeadlineExceededError` after ``total_timeout_s``."""
        seconds = self.total_timeout_s
        if not seconds:
            return await work
        try:
            async with asyncio.timeout(seconds) as scope:
                return await work
        except TimeoutError:
            if scope.expired():
                raise DeadlineExceededError(
                    f"{what} was not complete within the server's total deadline of "
                    f"{seconds:g} s (total_timeout_s): retry, or send a shorter request"
                ) from None
            raise

    def _thread_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """``settings`` for a call in a thread.

        The server cannot cancel a thread, so the router's own total deadline is held to the
        server's, and the call ends with it.
        """
        out = dict(settings)
        limits = [
            value
            for value in (
                self.total_timeout_s,
                out.get("total_timeout_s"),
                getattr(self.router.defaults, "total_timeout_s", None),
            )
            if value
        ]
        if limits and hasattr(self.router.defaults, "total_timeout_s"):
            out["total_timeout_s"] = min(limits)
        return out

    def _in_thread(self, call: functools.partial[T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        # The context travels along (the provider-failure record, tracing settings).
        return loop.run_in_executor(self._pool, contextvars.copy_context().run, call)

    async def _config(self) -> RunnableConfig:
        """The run's config: which models are cooling down (when a gateway keeps count)."""
        if self.gateway is None:
            return {}
        return cast(RunnableConfig, await self.gateway.run_config(list(self.router.catalog)))

    async def invoke(self, payload: Any, *, size: int, **settings: Any) -> AIMessage:
        """The router's answer to ``payload``, within the total deadline."""
        config = await self._config()
        work: Awaitable[AIMessage]
        if self.offloaded(size):
            work = self._in_thread(
                functools.partial(
                    self.router.invoke, payload, config, **self._thread_settings(settings)
                )
            )
        else:
            work = self.router.ainvoke(payload, config, **settings)
        try:
            message = await self.within_deadline(work)
        except Exception as exc:
            if isinstance(exc, AllModelsFailedError):
                self.health.note(exc.attempts)
            if self.gateway is not None:
                await self.gateway.failed(exc)
            raise
        self.health.note(_attempts(message))
        if self.gateway is not None:
            await self.gateway.settle(message.response_metadata.get("smartroute") or {})
        return message

    async def route(self, payload: Any, *, size: int, **settings: Any) -> RoutingDecision:
        """The routing decision alone, within the total deadline."""
        work: Awaitable[RoutingDecision]
        if self.offloaded(size):
            work = self._in_thread(
                functools.partial(self.router.route, payload, **self._thread_settings(settings))
            )
        else:
            work = self.router.aroute(payload, **settings)
        return await self.within_deadline(work, "the routing decision")

    def events(
        self, payload: Any, *, size: int, settings: Mapping[str, Any]
    ) -> AsyncIterator[StreamEvent]:
        """The router's stream as ``("model", name)`` and ``("chunk", AIMessageChunk)`` events.

        No deadline here: :meth:`timed` applies them.
        """
        if self.offloaded(size):
            events = self._thread_events(payload, self._thread_settings(settings))
        else:
            events = self._async_events(payload, settings)
        return events if self.gateway is None else self._settled(events)

    async def _settled(self, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        """``events``, telling the gateway how the run ended (failures, spend)."""
        assert self.gateway is not None
        try:
            async for kind, value in events:
                if kind == "chunk" and "smartroute" in value.response_metadata:
                    await self.gateway.settle(value.response_metadata["smartroute"])
                yield kind, value
        except Exception as exc:
            await self.gateway.failed(exc)
            raise

    async def _async_events(
        self, payload: Any, settings: Mapping[str, Any]
    ) -> AsyncIterator[StreamEvent]:
        router = self.router
        config = await self._config()
        async for event in router.astream_events(payload, config, version="v2", **settings):
            kind = event["event"]
            if kind == "on_chain_stream" and not event.get("parent_ids"):
                chunk = event["data"].get("chunk")
                if isinstance(chunk, AIMessageChunk):
                    yield "chunk", chunk
            elif kind == "on_chat_model_start":
                node = event.get("metadata", {}).get("langgraph_node")
                if node in router.catalog:
                    yield "model", node

    async def _thread_events(
        self, payload: Any, settings: Mapping[str, Any]
    ) -> AsyncIterator[StreamEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        router = self.router
        config = await self._config()

        def put(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        class ModelStarts(BaseCallbackHandler):
            def on_chat_model_start(
                self, serialized: Any, messages: Any, *, metadata: Any = None, **kwargs: Any
            ) -> None:
                node = (metadata or {}).get("langgraph_node")
                if node in router.catalog:
                    put("model", node)

        def produce() -> None:
            try:
                stream = cast(
                    Generator[AIMessageChunk, None, None],
                    router.stream(payload, {**config, "callbacks": [ModelStarts()]}, **settings),
                )
                try:
                    for chunk in stream:
                        if stop.is_set():
                            break
                        put("chunk", chunk)
                finally:
                    stream.close()  # a stopped stream closes its model call
                put("end", None)
            except BaseException as exc:
                put("error", exc)

        self._in_thread(functools.partial(produce))
        try:
            while True:
                kind, value = await queue.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield kind, value
        finally:
            stop.set()

    async def timed(
        self, events: AsyncIterator[StreamEvent], *, first_token: bool
    ) -> AsyncGenerator[StreamEvent, None]:
        """``events`` under the deadlines.

        Until the first chunk with text, the first-token timeout (when ``first_token``) and the
        total deadline apply; then the total deadline.

        Raises:
            DeadlineExceededError: a deadline passed (the events are closed).
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + self.total_timeout_s if self.total_timeout_s else None
        first = (
            loop.time() + self.first_token_timeout_s
            if first_token and self.first_token_timeout_s
            else None
        )
        waiting_first = first is not None
        iterator = events.__aiter__()
        try:
            while True:
                limit = min(
                    (t for t in (end, first if waiting_first else None) if t is not None),
                    default=None,
                )
                scope = asyncio.timeout_at(limit)
                try:
                    async with scope:
                        item = await iterator.__anext__()
                except StopAsyncIteration:
                    return
                except AllModelsFailedError as exc:
                    self.health.note(exc.attempts)
                    raise
                except TimeoutError:
                    if scope.expired():
                        raise self._deadline_error(waiting_first and limit == first) from None
                    raise
                if item[0] == "chunk":
                    waiting_first = waiting_first and not item[1].content
                    self.health.note(_attempts(item[1]))
                yield item
        finally:
            closer = getattr(iterator, "aclose", None)
            if closer is not None:
                await closer()

    def _deadline_error(self, first_token: bool) -> DeadlineExceededError:
        if first_token:
            return DeadlineExceededError(
                f"no token arrived within the server's first-token timeout of "
                f"{self.first_token_timeout_s:g} s (first_token_timeout_s): every model tried "
                "was too slow to start; retry, or ask for a faster model"
            )
        return DeadlineExceededError(
            f"the stream was not complete within the server's total deadline of "
            f"{self.total_timeout_s:g} s (total_timeout_s); the answer is cut here"
        )

    def close(self) -> None:
        """Stop the thread pool (calls in progress finish in the background)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _attempts(message: AIMessage) -> list[dict[str, Any]]:
    meta = message.response_metadata.get("smartroute") or {}
    attempts = meta.get("attempts") if isinstance(meta, dict) else None
    return list(attempts) if isinstance(attempts, list) else []
