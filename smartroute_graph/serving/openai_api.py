"""The OpenAI-compatible endpoints: /v1/models and /v1/chat/completions (streaming included)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    HumanMessage,
    SystemMessage,
)

from smartroute_graph.core.attachments import (
    Attachment,
    UnsupportedAttachmentError,
)
from smartroute_graph.core.errors import (
    InputError,
    UnknownModelError,
)
from smartroute_graph.core.response_cache import set_cache_read
from smartroute_graph.serving.auth import request_secrets
from smartroute_graph.serving.calls import (
    RouterCalls,
    StreamEvent,
)
from smartroute_graph.serving.deps import ServerDeps
from smartroute_graph.serving.errors import exception_payload
from smartroute_graph.serving.openai_tools import (
    assistant_message,
    model_options,
    openai_tool_calls,
    tool_call_deltas,
    tool_message,
)
from smartroute_graph.serving.schemas import ROUTER_MODEL_NAME, ChatCompletionRequest, answer_meta

__all__ = ["add_openai_routes"]


# Names under which /v1/chat/completions lets the router choose.
_ROUTER_ALIASES = frozenset({ROUTER_MODEL_NAME, "smartroute/auto", "auto"})


def _text_of(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "\n".join(
        str(part.get("text", "")) for part in content if part.get("type") in ("text", "input_text")
    )


def _part_attachment(part: Mapping[str, Any], index: int) -> Attachment | None:
    kind = part.get("type")
    if kind in ("text", "input_text"):
        return None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        return Attachment.from_base64(str(url or ""), name=f"image-{index}")
    if kind == "file":
        file = part.get("file") or {}
        data = file.get("file_data") if isinstance(file, Mapping) else None
        if not data:
            raise InputError(
                "a 'file' content part needs 'file.file_data' (base64 or a data: URL); "
                "uploaded file ids are not supported"
            )
        return Attachment.from_base64(str(data), name=str(file.get("filename") or "file"))
    raise UnsupportedAttachmentError(
        f"content parts of type {kind!r} are not supported: send text, image_url (a data: "
        "URL) or file parts"
    )


def _chat_input(request: ChatCompletionRequest) -> dict[str, Any]:
    """Router input from OpenAI messages.

    Files in user turns become attachments (sent with the latest user turn).
    """
    if request.n not in (None, 1):
        raise InputError(f"n={request.n} is not supported: the router returns one answer (n=1)")
    messages: list[AnyMessage] = []
    attachments: list[Attachment] = []
    for message in request.messages:
        text = _text_of(message.content)
        if message.role in ("system", "developer"):
            messages.append(SystemMessage(content=text))
        elif message.role == "user":
            if isinstance(message.content, list):
                for part in message.content:
                    found = _part_attachment(part, len(attachments) + 1)
                    if found is not None:
                        attachments.append(found)
            messages.append(HumanMessage(content=text))
        elif message.role == "assistant":
            messages.append(assistant_message(message, text))
        elif message.role == "tool":
            messages.append(tool_message(message, text))
        else:
            raise InputError(
                f"messages with role {message.role!r} are not supported: send system, user, "
                "assistant and tool messages (tool results as role 'tool')"
            )
    if not any(m.type == "human" for m in messages):
        raise InputError("the messages have no user message: add {'role': 'user', ...}")
    return {"messages": messages, "attachments": attachments}


def _openai_message(message: AIMessage) -> dict[str, Any]:
    """The answer as an OpenAI assistant message (tool calls included)."""
    if not message.tool_calls:
        return {"role": "assistant", "content": message.text}
    return {
        "role": "assistant",
        "content": message.text or None,
        "tool_calls": openai_tool_calls(message),
    }


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _openai_usage(
    usage: Mapping[str, Any] | None, meta: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    if not usage:
        return None
    prompt = int(usage.get("input_tokens", 0))
    completion = int(usage.get("output_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(usage.get("total_tokens", prompt + completion)),
        # Answered from the server's response cache: no provider call, $0.
        "cache_hit": bool((meta or {}).get("cache_hit")),
    }


def _sse(data: Mapping[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


def _input_size(payload: Mapping[str, Any]) -> int:
    """Characters of text in a chat payload, attachments' text included."""
    messages = payload.get("messages") or []
    attachments = payload.get("attachments") or []
    return sum(len(m.text) for m in messages) + sum(len(a.text or "") for a in attachments)


async def _stream_completion(
    calls: RouterCalls,
    events: AsyncIterator[StreamEvent],
    *,
    completion_id: str,
    created: int,
    include_usage: bool,
    secrets: Sequence[str],
) -> StreamingResponse:
    """Server-sent events in OpenAI's chunk format.

    The router runs until its first token (or its end) before the response starts, so a
    failure before any token (no key, every model failed, a bad attachment, the first-token
    timeout) is an ordinary HTTP error; a failure after that, the total deadline included, is
    sent as an ``error`` event before ``[DONE]``.
    """
    timed = calls.timed(events, first_token=True)
    model = ROUTER_MODEL_NAME
    buffered: list[StreamEvent] = []
    finished = False
    try:
        while True:
            try:
                event = await timed.__anext__()
            except StopAsyncIteration:
                finished = True
                break
            buffered.append(event)
            if event[0] == "chunk" and (event[1].content or event[1].tool_call_chunks):
                break
    except BaseException:
        await timed.aclose()
        raise

    def chunk(delta: Mapping[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return _sse(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [
                    {"index": 0, "delta": dict(delta), "logprobs": None, "finish_reason": finish}
                ],
                **extra,
            }
        )

    async def body() -> AsyncIterator[bytes]:
        nonlocal model
        usage: dict[str, Any] | None = None
        meta: dict[str, Any] = {}
        started = False
        called_tools = False

        async def replay() -> AsyncIterator[StreamEvent]:
            for item in buffered:
                yield item
            if not finished:
                async for item in timed:
                    yield item

        try:
            async for kind, value in replay():
                if kind == "model":
                    model = value
                    continue
                piece: AIMessageChunk = value
                if "smartroute" in piece.response_metadata:
                    meta = dict(piece.response_metadata["smartroute"])
                if piece.usage_metadata:
                    usage = _openai_usage(piece.usage_metadata, meta)
                if not started:
                    started = True
                    yield chunk({"role": "assistant", "content": ""})
                if piece.text:
                    yield chunk({"content": piece.text})
                deltas = tool_call_deltas(piece)
                if deltas:
                    called_tools = True
                    yield chunk({"tool_calls": deltas})
            if not started:
                yield chunk({"role": "assistant", "content": ""})
            model = meta.get("model") or model
            yield chunk({}, "tool_calls" if called_tools else "stop", smartroute=meta)
            if include_usage:
                yield _sse(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "system_fingerprint": None,
                        "choices": [],
                        "usage": usage,
                    }
                )
        except Exception as exc:
            # Headers are sent: the error travels as an event (OpenAI clients raise on it).
            _, error, _ = exception_payload(exc, secrets)
            yield _sse({"error": error["error"]})
        finally:
            # A client that hangs up mid-answer stops the run (and its model call) here.
            await timed.aclose()
        yield _sse("[DONE]")

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def add_openai_routes(api: APIRouter, deps: ServerDeps) -> None:
    """The OpenAI-compatible endpoints on ``api``: /v1/models and /v1/chat/completions."""
    router, access, calls, token = deps.router, deps.access, deps.calls, deps.token

    @api.get("/v1/models", summary="OpenAI-compatible model list")
    async def openai_models() -> dict[str, Any]:
        created = 0
        names = [ROUTER_MODEL_NAME, *router.catalog]
        return {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": created, "owned_by": "smartroute"}
                for n in names
            ],
        }

    @api.post(
        "/v1/chat/completions", summary="OpenAI-compatible chat completions", response_model=None
    )
    async def chat_completions(
        body: ChatCompletionRequest, request: Request
    ) -> dict[str, Any] | StreamingResponse:
        grant = access.grant(request, body.api_key, bearer_is_key=True)
        if not body.cache:
            set_cache_read(False)  # this request reads nothing from the response cache
        settings: dict[str, Any] = dict(grant)
        if body.temperature is not None:
            settings["temperature"] = body.temperature
        settings.update(model_options(body))
        if body.model not in _ROUTER_ALIASES:
            if body.model not in router.catalog:
                raise UnknownModelError(
                    f"unknown model {body.model!r}: use {ROUTER_MODEL_NAME!r} to let the router "
                    f"choose, or one of: {', '.join(router.catalog)}"
                )
            settings["model"] = body.model
        has_files = any(isinstance(m.content, list) for m in body.messages)
        # Decoding and parsing files (a PDF's text) is CPU work: off the event loop.
        payload = await asyncio.to_thread(_chat_input, body) if has_files else _chat_input(body)
        size = _input_size(payload)
        completion_id = _completion_id()
        created = int(time.time())
        if not body.stream:
            message = await calls.invoke(payload, size=size, **settings)
            meta = answer_meta(message)
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": meta.get("model") or ROUTER_MODEL_NAME,
                "choices": [
                    {
                        "index": 0,
                        "message": _openai_message(message),
                        "logprobs": None,
                        "finish_reason": "tool_calls" if message.tool_calls else "stop",
                    }
                ],
                "usage": _openai_usage(message.usage_metadata, meta),
                "system_fingerprint": None,
                "smartroute": meta,
            }
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        return await _stream_completion(
            calls,
            calls.events(payload, size=size, settings=settings),
            completion_id=completion_id,
            created=created,
            include_usage=include_usage,
            secrets=request_secrets(request, token),
        )
