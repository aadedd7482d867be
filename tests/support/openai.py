"""A real ``ChatOpenAI`` whose HTTP requests are answered in-process (no socket is opened),
so tests can check what the router actually sends to the provider."""

from __future__ import annotations

import json
from typing import Any

import httpx
from langchain_openai import ChatOpenAI


def recording_openai_model(
    content: str = "hi", logprobs: list[float] | None = None
) -> tuple[ChatOpenAI, list[dict[str, Any]]]:
    """``gpt-4.1-nano`` answering ``content`` (with these token log-probabilities), and the
    list that collects each request's JSON body."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        choice: dict[str, Any] = {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": content},
        }
        if logprobs is not None:
            choice["logprobs"] = {
                "content": [
                    {"token": f"t{i}", "logprob": lp, "bytes": None, "top_logprobs": []}
                    for i, lp in enumerate(logprobs)
                ]
            }
        return httpx.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": "gpt-4.1-nano",
                "choices": [choice],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            },
        )

    model = ChatOpenAI(
        model="gpt-4.1-nano",
        api_key="sk-test",  # type: ignore[arg-type]
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    return model, bodies
