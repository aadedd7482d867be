"""A LangSmith client that records its requests instead of sending them (no socket)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import requests
from langsmith import Client

__all__ = ["RecordingSession", "recording_client"]


class RecordingSession(requests.Session):
    """Records each request as ``(method, url, JSON body)`` and answers 200 like LangSmith
    would: dataset creation and bulk example upload get their ids back, the rest ``{}``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        data = kwargs.get("data")
        body = json.loads(data) if isinstance(data, str | bytes) and data else {}
        self.calls.append((str(method), str(url), body))
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        if str(url).endswith("/datasets") and method == "POST":
            payload: Any = {
                "id": str(uuid.UUID(int=7)),
                "name": body["name"],
                "description": body.get("description"),
                "created_at": "2025-01-01T00:00:00Z",
                "modified_at": "2025-01-01T00:00:00Z",
                "tenant_id": str(uuid.UUID(int=1)),
                "data_type": "kv",
            }
        elif str(url).endswith("/examples/bulk"):
            payload = [{"id": row["id"]} for row in body]
        else:
            payload = {}
        response._content = json.dumps(payload).encode()
        return response


def recording_client(session: RecordingSession) -> Client:
    """A client on a local address that sends every request to ``session``."""
    return Client(
        api_url="http://localhost:1984",
        api_key="test",
        session=session,
        auto_batch_tracing=False,
        info={},
    )
