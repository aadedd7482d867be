"""The HTTP API against a real uvicorn server on 127.0.0.1, with scripted models.

Every endpoint is called over the loopback; chat completions are read with the real
``openai`` client; uploads are real PDF and PNG files made in memory.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from smartroute_graph import SmartRouter
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.serving.app import create_app
from tests.support.pdfs import encrypted_pdf, png, text_pdf
from tests.support.servers import (  # the fixtures apply to this module
    MODEL_NAMES,
    Tracker,
    fake_models,
    fake_router,
    free_port,
    live_server,
    wait_until_up,
)

pytestmark = pytest.mark.integration

TOKEN = "test-server-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Provider keys a client sends: one in OpenAI's format, one that no redaction pattern knows.
USER_KEY = "sk-proj-NEVERECHO0123456789abcdefXYZ"
PLAIN_KEY = "plainsecret-7f3a9c1e5b2d4f6a8c0e"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tracker: Tracker) -> Iterator[Any]:
    """One server with a token over the openai preset's names, all scripted."""
    models = fake_models(tracker, delay_s=0.02)
    app = create_app(fake_router(models), server_token=TOKEN, batch_concurrency=3)
    with live_server(app) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as http:
        yield http


def _error(response: httpx.Response) -> str:
    body = response.json()
    assert body["error"]["code"] == response.status_code
    assert body["detail"] == body["error"]["message"]
    assert "Traceback" not in response.text
    return str(body["error"]["message"])


# -- open endpoints -----------------------------------------------------------------------


def test_open_endpoints_need_no_token(server: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        index = anonymous.get("/")
        assert index.status_code == 200
        info = index.json()
        assert info["links"]["playground"] == "/playground"
        assert info["auth"]["token_required"] is True
        assert "POST /v1/chat/completions" in info["endpoints"]

        health = anonymous.get("/health").json()
        assert health["status"] == "ok"
        assert health["models"] == 3
        assert health["provider_keys_on_server"] is False

        docs = anonymous.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        spec = anonymous.get("/openapi.json").json()
        for path in (
            "/route",
            "/route/with-file",
            "/query",
            "/query-compare",
            "/query-specific",
            "/batch-query",
            "/test-selection",
            "/v1/chat/completions",
            "/models",
        ):
            assert path in spec["paths"], path

        page = anonymous.get("/playground")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "connect-src 'self'" in page.headers["content-security-policy"]
        assert 'id="query"' in page.text


def test_unknown_path_is_404_with_a_pointer(client: httpx.Client) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert "GET /" in _error(response)


def test_models_lists_the_catalog_with_prices(client: httpx.Client) -> None:
    body = client.get("/models").json()
    assert body["ladder"] == list(MODEL_NAMES)
    nano = body["models"][0]
    assert nano["name"] == "gpt-4.1-nano"
    assert nano["input_price_per_m"] == 0.10 and nano["output_price_per_m"] == 0.40
    assert client.get("/v1/models").json()["data"][0]["id"] == "smartroute"


# -- the first older system's endpoints -------------------------------------------------------


def test_route_answers_with_routing_metadata(client: httpx.Client) -> None:
    response = client.post("/route", json={"prompt": "Write a python function to sort a list"})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] in MODEL_NAMES
    assert body["response"] == f"answer from {body['model']}: all good here"
    assert body["domain"] == "coding"
    assert body["complexity"] in ("simple", "moderate", "complex")
    assert 0 < body["confidence"] <= 1
    assert body["reason"]
    assert body["cost_usd"] > 0
    assert body["attempts"][0]["model"] == body["model"] and body["attempts"][0]["ok"]
    assert body["usage"]["output_tokens"] > 0
    assert "warnings" not in body
    assert response.headers["x-request-id"]


def test_route_dry_run_and_temperature(client: httpx.Client, tracker: Tracker) -> None:
    calls = len(tracker.seen)
    body = client.post("/route", json={"prompt": "hello there", "dry_run": True}).json()
    assert body["dry_run"] is True and body["response"] == "" and body["attempts"] == []
    assert body["model"] in MODEL_NAMES
    assert len(tracker.seen) == calls  # no model was called
    body = client.post("/route", json={"prompt": "hello", "temperature": 0.3}).json()
    assert body["model"] == "gpt-4.1-nano" and "warnings" not in body
    assert body["attempts"][0]["temperature"] == 0.3  # applied to the answering call
    proof = "Prove that sqrt(2) is irrational"  # math/complex → o4-mini, a reasoning model
    body = client.post("/route", json={"prompt": proof, "temperature": 0.3}).json()
    assert body["model"] == "o4-mini"
    assert "o4-mini is a reasoning model" in body["warnings"][0]
    bad = client.post("/route", json={"prompt": "hello", "temperature": 7})
    assert bad.status_code == 422 and "temperature" in _error(bad)


def test_route_with_a_real_pdf(client: httpx.Client, tracker: Tracker) -> None:
    pdf = text_pdf(["The zebra ledger holds 4471 entries.", "Page two mentions the audit."])
    response = client.post(
        "/route/with-file",
        data={"prompt": "How many entries does the ledger hold?"},
        files={"file": ("ledger.pdf", pdf, "application/pdf")},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["attachment"]["kind"] == "pdf" and body["attachment"]["pages"] == 2
    assert body["response"].startswith("answer from")
    sent = " ".join(str(m.content) for m in tracker.seen[-1])
    assert "zebra ledger holds 4471 entries" in sent  # the PDF's text reached the model
    assert "--- page 2 ---" in sent


def test_route_with_a_real_png(client: httpx.Client, tracker: Tracker) -> None:
    image = png(6, 4)
    response = client.post(
        "/route/with-file",
        data={"prompt": "What colour is this image?"},
        files={"file": ("red.png", image, "image/png")},
    )
    assert response.status_code == 200, response.text
    attachment = response.json()["attachment"]
    assert (attachment["kind"], attachment["width"], attachment["height"]) == ("image", 6, 4)
    blocks = [b for m in tracker.seen[-1] if isinstance(m.content, list) for b in m.content]
    assert any(isinstance(b, dict) and b.get("type") == "image" for b in blocks)


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("empty.pdf", b"", "is empty (0 bytes)"),
        ("archive.zip", b"PK\x03\x04" + b"\x00" * 200, "ZIP archive"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "damaged or truncated"),
        ("locked.pdf", None, "password-protected"),
    ],
)
def test_route_with_a_bad_file(
    client: httpx.Client, name: str, data: bytes | None, says: str
) -> None:
    """The first router's endpoint reports a file it cannot read and answers the prompt
    (its clients read ``file_processing_error``); the newer endpoints refuse such a file."""
    payload = data if data is not None else encrypted_pdf(["top secret"])
    response = client.post(
        "/route/with-file", data={"prompt": "read this"}, files={"file": (name, payload)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["file_processed"] is False and says in body["file_processing_error"]
    assert body["response"].startswith("answer from")


def test_route_with_a_file_too_large() -> None:
    app = create_app(fake_router(), max_upload_bytes=100_000)
    with live_server(app) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        # Over the file limit but within the request allowance: refused after parsing.
        response = http.post(
            "/route/with-file",
            data={"prompt": "summarise"},
            files={"file": ("big.txt", b"word " * 30_000)},
        )
        assert response.status_code == 413
        assert "limit is 0.1 MB" in _error(response)
        # Far over: refused from the Content-Length, before the body is read.
        response = http.post(
            "/route/with-file",
            data={"prompt": "summarise"},
            files={"file": ("huge.txt", b"word " * 200_000)},
        )
        assert response.status_code == 413
        assert "the upload is 1.0 MB; the limit is 0.1 MB" in _error(response)


def test_route_with_file_needs_a_prompt(client: httpx.Client) -> None:
    response = client.post(
        "/route/with-file", data={"prompt": "   "}, files={"file": ("a.png", png())}
    )
    assert response.status_code == 422
    assert "prompt is empty" in _error(response)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/route", {"prompt": ""}),
        ("/route", {"prompt": "   \n"}),
        ("/query", {"query": ""}),
        ("/query-specific", {"query": " ", "model": "gpt-4.1"}),
        ("/batch-query", {"queries": ["fine", ""]}),
        ("/test-selection", {"query": ""}),
    ],
)
def test_empty_query_is_422(client: httpx.Client, path: str, body: dict[str, Any]) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert "the query is empty" in _error(response)


def test_bad_json_and_missing_fields_are_422(client: httpx.Client) -> None:
    response = client.post(
        "/query", content=b'{"query": "unterminated', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "not valid JSON" in _error(response)
    response = client.post("/query", json={"qeury": "typo"})
    assert response.status_code == 422
    assert "'query' is required" in _error(response)


# -- the second older system's endpoints -------------------------------------------------------


def test_query(client: httpx.Client) -> None:
    body = client.post("/query", json={"query": "What is the capital of France?"}).json()
    assert set(body) >= {
        "selected_model",
        "response",
        "confidence",
        "reasoning",
        "domain",
        "complexity",
        "cost_usd",
    }
    assert body["response"] == f"answer from {body['selected_model']}: all good here"
    decision = client.post("/test-selection", json={"query": "What is the capital of France?"})
    assert body["reasoning"] == decision.json()["decision"]["reason"]


def test_query_compare(client: httpx.Client) -> None:
    body = client.post("/query-compare", json={"query": "Explain recursion briefly"}).json()
    assert [r["model"] for r in body["results"]] == list(MODEL_NAMES)
    assert all(r["ok"] and r["content"].startswith("answer from") for r in body["results"])
    assert all(r["cost_usd"] > 0 and r["latency_ms"] > 0 for r in body["results"])
    picked = [r["model"] for r in body["results"] if r["selected"]]
    assert picked == [body["decision"]["model"]]
    some = client.post("/query-compare", json={"query": "hi", "models": ["o4-mini"]}).json()
    assert [r["model"] for r in some["results"]] == ["o4-mini"]
    unknown = client.post("/query-compare", json={"query": "hi", "models": ["gpt-9"]})
    assert unknown.status_code == 404
    assert "gpt-4.1-nano, gpt-4.1, o4-mini" in _error(unknown)


def test_query_specific_forces_the_model(client: httpx.Client) -> None:
    for name in MODEL_NAMES:
        body = client.post("/query-specific", json={"query": "hello", "model": name}).json()
        assert body["selected_model"] == name and body["forced"] is True
        assert body["response"] == f"answer from {name}: all good here"
    response = client.post("/query-specific", json={"query": "hello", "model": "gpt-5-ultra"})
    assert response.status_code == 404
    message = _error(response)
    assert "gpt-5-ultra" in message
    assert all(name in message for name in MODEL_NAMES)


def test_batch_query_in_order_with_bounded_concurrency(
    client: httpx.Client, tracker: Tracker
) -> None:
    queries = [f"question number {i}: what is {i} plus {i}?" for i in range(10)]
    tracker.max_in_flight = 0
    body = client.post("/batch-query", json={"queries": queries}).json()
    assert [r["query"] for r in body["results"]] == queries
    assert [r["index"] for r in body["results"]] == list(range(10))
    assert body["count"] == 10 and body["succeeded"] == 10 and body["failed"] == 0
    assert all(r["response"].startswith("answer from") for r in body["results"])
    # batch_concurrency=3: calls overlapped, but never more than three at once.
    assert 2 <= tracker.max_in_flight <= 3


def test_batch_limits(client: httpx.Client) -> None:
    response = client.post("/batch-query", json={"queries": ["q"] * 101})
    assert response.status_code == 413
    assert "101 queries in one request; the limit is 100" in _error(response)
    response = client.post("/test-selection", json={"queries": ["q"] * 101})
    assert response.status_code == 413
    response = client.post("/batch-query", json={"queries": []})
    assert response.status_code == 422


def test_test_selection_calls_no_model(client: httpx.Client, tracker: Tracker) -> None:
    calls = len(tracker.seen)
    one = client.post("/test-selection", json={"query": "Prove that sqrt(2) is irrational"})
    assert one.status_code == 200
    decision = one.json()["decision"]
    assert decision["domain"] == "math"
    assert set(decision["domain_probs"]) == {
        "coding",
        "math",
        "reasoning",
        "creative",
        "knowledge",
        "text",
        "chat",
    }
    assert abs(sum(decision["complexity_probs"].values()) - 1) < 1e-6
    assert decision["estimated_cost_usd"] > 0 and decision["reason"]
    many = client.post("/test-selection", json={"queries": ["hi", "Write a SQL join"]}).json()
    assert [r["query"] for r in many["results"]] == ["hi", "Write a SQL join"]
    assert many["results"][1]["decision"]["domain"] == "coding"
    both = client.post("/test-selection", json={"query": "a", "queries": ["b"]})
    assert both.status_code == 400 and "either 'query'" in _error(both)
    assert len(tracker.seen) == calls


# -- OpenAI-compatible chat completions ---------------------------------------------------------


@pytest.fixture(scope="module")
def oai(server: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=TOKEN, max_retries=0)


def test_chat_completion(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="smartroute",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Write a haiku about the sea"},
        ],
    )
    assert completion.model in MODEL_NAMES
    assert completion.choices[0].message.content == f"answer from {completion.model}: all good here"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    meta = (completion.model_extra or {})["smartroute"]
    assert meta["domain"] == "creative" and meta["model"] == completion.model


def test_chat_completion_temperature_reaches_the_model(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "hi"}], temperature=0.2
    )
    attempts = (completion.model_extra or {})["smartroute"]["attempts"]
    assert [(a["model"], a["temperature"]) for a in attempts] == [("gpt-4.1", 0.2)]


def test_chat_completion_forced_and_unknown_model(oai: openai.OpenAI) -> None:
    forced = oai.chat.completions.create(
        model="o4-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert forced.model == "o4-mini"
    with pytest.raises(openai.NotFoundError) as info:
        oai.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert "gpt-4.1-nano, gpt-4.1, o4-mini" in str(info.value)


def test_chat_completion_streams(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="smartroute",
        messages=[{"role": "user", "content": "Tell me a short story about a fox"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    meta = (final.model_extra or {})["smartroute"]
    assert text == f"answer from {meta['model']}: all good here"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3  # streamed
    assert {c.model for c in chunks} == {meta["model"]}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_chat_stream_is_sse_ending_with_done(client: httpx.Client) -> None:
    payload = {
        "model": "smartroute",
        "stream": True,
        "messages": [{"role": "user", "content": "hello"}],
    }
    with client.stream("POST", "/v1/chat/completions", json=payload) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in chunks[-1]  # no usage chunk unless asked for


def test_chat_with_image_and_pdf_parts(oai: openai.OpenAI, tracker: Tracker) -> None:
    import base64

    url = "data:image/png;base64," + base64.b64encode(png(3, 3)).decode()
    completion = oai.chat.completions.create(
        model="smartroute",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content
    blocks = [b for m in tracker.seen[-1] if isinstance(m.content, list) for b in m.content]
    assert any(isinstance(b, dict) and b.get("type") == "image" for b in blocks)

    pdf = base64.b64encode(text_pdf(["Invoice 2291 is due on 3 March."])).decode()
    oai.chat.completions.create(
        model="smartroute",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "When is the invoice due?"},
                    {
                        "type": "file",
                        "file": {
                            "filename": "invoice.pdf",
                            "file_data": f"data:application/pdf;base64,{pdf}",
                        },
                    },
                ],
            }
        ],
    )
    sent = " ".join(str(m.content) for m in tracker.seen[-1])
    assert "Invoice 2291 is due on 3 March." in sent


def test_chat_bad_requests(oai: openai.OpenAI, client: httpx.Client) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as info:
        oai.chat.completions.create(model="smartroute", messages=[{"role": "user", "content": ""}])
    assert "the query is empty" in str(info.value)
    with pytest.raises(openai.UnprocessableEntityError):
        oai.chat.completions.create(model="smartroute", messages=[])
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "smartroute",
            "messages": [{"role": "user", "content": "hi"}],
            "functions": [{"name": "f", "parameters": {}}],
        },
    )
    assert response.status_code == 400 and "send the same schemas as 'tools'" in _error(response)
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "smartroute",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
                    ],
                }
            ],
        },
    )
    assert response.status_code == 400 and "does not fetch URLs" in _error(response)


def test_stream_falls_back_before_the_first_token() -> None:
    models = fake_models(
        per_model={
            name: {"error": ConnectionError("connection reset")} for name in ("gpt-4.1-nano",)
        }
    )
    app = create_app(fake_router(models))
    with live_server(app) as live:
        oai = openai.OpenAI(base_url=f"{live.url}/v1", api_key="unused", max_retries=0)
        # "hi" routes to gpt-4.1-nano (checked below), which fails before its first token.
        chunks = list(
            oai.chat.completions.create(
                model="smartroute", stream=True, messages=[{"role": "user", "content": "hi"}]
            )
        )
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    meta = (final.model_extra or {})["smartroute"]
    assert meta["selected_model"] == "gpt-4.1-nano"
    assert meta["escalated"] is True and meta["model"] != "gpt-4.1-nano"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"answer from {meta['model']}: all good here"
    # Every chunk names the model that produced it: the fallback, never the failed one.
    assert {c.model for c in chunks} == {meta["model"]}


def test_stream_broken_after_tokens_is_an_error_event() -> None:
    app = create_app(fake_router(fake_models(error_after_tokens=2)))
    with live_server(app) as live:
        oai = openai.OpenAI(base_url=f"{live.url}/v1", api_key="unused", max_retries=0)
        stream = oai.chat.completions.create(
            model="smartroute", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
        received: list[str] = []
        with pytest.raises(openai.APIError) as info:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)
    assert received == ["answer", " "]
    assert "stream broke after part of the answer was sent" in str(info.value)


# -- provider errors ------------------------------------------------------------------------------


def test_every_model_failing_is_502_with_redacted_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The provider echoes the key in its error, as some do: it must not come back.
    models = fake_models(error=ConnectionError(f"refused for key {PLAIN_KEY} / {USER_KEY}"))
    app = create_app(fake_router(models))
    caplog.set_level(logging.DEBUG)
    with live_server(app) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        response = http.post(
            "/route",
            json={"prompt": "hi", "api_key": PLAIN_KEY},
            headers={"X-OpenAI-API-Key": USER_KEY},
        )
        stream = http.post(
            "/v1/chat/completions",
            json={
                "model": "smartroute",
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            },
            headers={"X-OpenAI-API-Key": PLAIN_KEY},
        )
    assert response.status_code == 502
    body = response.json()
    assert "every model failed" in _error(response)
    assert [a["model"] for a in body["attempts"]] == ["gpt-4.1-nano", "gpt-4.1", "o4-mini"]
    assert all(a["error_kind"] == "connection" for a in body["attempts"])
    assert stream.status_code == 502  # before the first token: a real HTTP error
    for text in (response.text, stream.text, _log_text(caplog)):
        assert PLAIN_KEY not in text and USER_KEY not in text


def test_budget_error_is_422(client: httpx.Client) -> None:
    response = client.post("/query", json={"query": "hello", "budget_usd": 1e-9})
    assert response.status_code == 422
    assert "no model fits the budget" in _error(response)


def test_missing_provider_key_is_401_with_what_to_do() -> None:
    app = create_app(SmartRouter.from_preset("openai"))  # real models, no key anywhere
    with live_server(app) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        response = http.post("/route", json={"prompt": "hi"})
        decision = http.post("/test-selection", json={"query": "hi"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "MissingAPIKeyError"
    assert "set OPENAI_API_KEY or send X-OpenAI-API-Key" in _error(response)
    assert decision.status_code == 200  # the decision needs no key


class _BrokenClassifier:
    name = "broken"

    def classify(self, texts: list[str]) -> list[Any]:
        raise RuntimeError(f"classifier crashed holding {USER_KEY}")


def test_unexpected_error_is_500_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    router = SmartRouter.from_preset(
        "openai",
        models=fake_models(),
        classifier=_BrokenClassifier(),  # type: ignore[arg-type]
    )
    caplog.set_level(logging.INFO)
    with live_server(create_app(router)) as live, httpx.Client(base_url=live.url) as http:
        response = http.post("/route", json={"prompt": "hi", "api_key": USER_KEY})
    assert response.status_code == 500
    message = _error(response)
    assert "internal error (reference" in message and "RuntimeError" not in response.text
    logged = _log_text(caplog)
    assert "classifier crashed" in logged and "Traceback" in logged  # the operator sees it
    assert USER_KEY not in logged and USER_KEY not in response.text


# -- access ---------------------------------------------------------------------------------------


def test_missing_or_wrong_token_is_401(server: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        for path, body in (("/route", {"prompt": "hi"}), ("/test-selection", {"query": "hi"})):
            response = anonymous.post(path, json=body)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert "this server needs a token" in _error(response)
        assert anonymous.get("/models").status_code == 401
        assert anonymous.get("/v1/models").status_code == 401
        wrong = anonymous.post(
            "/query", json={"query": "hi"}, headers={"Authorization": "Bearer not-the-token"}
        )
        assert wrong.status_code == 401
        assert "the server token is wrong" in _error(wrong)
        assert "not-the-token" not in wrong.text
        # A server holding ready-made models: bringing your own key does not open it.
        own = anonymous.post(
            "/route",
            json={"prompt": "hi", "api_key": USER_KEY},
            headers={"X-OpenAI-API-Key": USER_KEY},
        )
        assert own.status_code == 401 and USER_KEY not in own.text
    bad = openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="smartroute", messages=[{"role": "user", "content": "x"}])
    assert "the server token is wrong" in str(info.value)


def test_refuses_to_start_with_provider_keys_and_no_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", USER_KEY)
    with pytest.raises(ConfigError, match="refusing to start") as info:
        create_app(fake_router())
    assert "OPENAI_API_KEY" in str(info.value) and USER_KEY not in str(info.value)
    assert "--insecure-open" in str(info.value)
    create_app(fake_router(), server_token=TOKEN)  # with a token: fine
    create_app(fake_router(), insecure_open=True)  # explicitly open: fine
    with pytest.raises(ConfigError, match="token is empty"):
        create_app(fake_router(), server_token="  ")


def test_own_key_skips_the_token_and_pays_for_the_call(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The front server routes over real OpenAI chat models (langchain-openai), pointed at a
    second smartroute server standing in for OpenAI whose token is the user's key: the call
    succeeds only if the request's own key is what reaches the provider."""
    caplog.set_level(logging.INFO)
    provider = create_app(fake_router(), server_token=USER_KEY)
    with live_server(provider) as upstream:
        monkeypatch.setenv("OPENAI_API_BASE", f"{upstream.url}/v1")
        front = create_app(SmartRouter.from_preset("openai"), server_token=TOKEN)
        with live_server(front) as live, httpx.Client(base_url=live.url, timeout=60) as http:
            assert http.get("/health").json()["auth"]["own_keys_accepted"] is True
            ok = http.post("/route", json={"prompt": "What is 2+2?", "api_key": USER_KEY})
            by_header = http.post(
                "/query", json={"query": "hello"}, headers={"X-OpenAI-API-Key": USER_KEY}
            )
            form = http.post(
                "/route/with-file",
                data={"prompt": "What does it say?", "api_key": USER_KEY},
                files={"file": ("note.pdf", text_pdf(["meet at noon"]))},
            )
            wrong = http.post("/route", json={"prompt": "hi", "api_key": PLAIN_KEY})
            none = http.post("/route", json={"prompt": "hi"})
        # A server without a token takes a stock OpenAI client's key (the bearer) as the
        # provider key; langchain-openai streams through it from the stand-in provider.
        tokenless = create_app(SmartRouter.from_preset("openai"))
        with live_server(tokenless) as live:
            oai = openai.OpenAI(base_url=f"{live.url}/v1", api_key=USER_KEY, max_retries=0)
            chunks = list(
                oai.chat.completions.create(
                    model="smartroute", stream=True, messages=[{"role": "user", "content": "hi"}]
                )
            )
            with pytest.raises(openai.APIStatusError) as refused:
                openai.OpenAI(
                    base_url=f"{live.url}/v1", api_key=PLAIN_KEY, max_retries=0
                ).chat.completions.create(
                    model="smartroute", messages=[{"role": "user", "content": "hi"}]
                )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed.startswith("answer from") and streamed.endswith("all good here")
    # The provider rejected the caller's own key: 401, the caller's to fix (not a 502).
    assert refused.value.status_code == 401 and PLAIN_KEY not in str(refused.value)
    assert form.status_code == 200, form.text
    assert ok.status_code == 200, ok.text
    assert ok.json()["response"] == f"answer from {ok.json()['model']}: all good here"
    assert by_header.status_code == 200, by_header.text
    # A wrong key gets past this server (it pays for nothing here) and fails at the provider.
    assert wrong.status_code == 401
    assert wrong.json()["attempts"][0]["error_kind"] == "auth"
    assert none.status_code == 401 and "needs a token" in _error(none)
    for text in (ok.text, by_header.text, form.text, wrong.text, _log_text(caplog)):
        assert USER_KEY not in text and PLAIN_KEY not in text


def test_keys_are_never_echoed_or_logged(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses = [
        client.post("/route", json={"prompt": "hi", "api_key": USER_KEY}),
        client.post("/query", json={"query": "hi", "api_key": PLAIN_KEY}),
        client.post("/query", json={"qeury": "typo", "api_key": PLAIN_KEY}),  # 422
        client.post("/query", json={"query": "", "api_key": PLAIN_KEY}),  # 422
        client.post("/query", json={"query": "hi", "api_key": 12345}),  # wrong type: 422
        client.post("/query-specific", json={"query": "x", "model": "nope", "api_key": PLAIN_KEY}),
        client.post("/route", json={"prompt": "hi"}, headers={"X-OpenAI-API-Key": PLAIN_KEY}),
        client.post("/batch-query", json={"queries": ["a"], "api_key": PLAIN_KEY}),
        client.post("/query-compare", json={"query": "a", "api_key": PLAIN_KEY}),
        client.post(
            "/route/with-file",
            data={"prompt": "x", "api_key": PLAIN_KEY},
            files={"file": ("a.zip", b"PK\x03\x04zzzz")},
        ),
    ]
    # The scripted models stand for the operator's: a request that brings its own key may
    # not spend them (401, saying why); batch items fail one by one.
    statuses = [r.status_code for r in responses]
    # (The zip: /route/with-file reports an unreadable file and answers the prompt, which
    # the request's own key may not pay for here: 401 too.)
    assert statuses == [401, 401, 422, 422, 422, 404, 401, 200, 401, 401], statuses
    assert "may spend only that key" in _error(responses[0])
    assert not any(item["ok"] for item in responses[7].json()["results"])
    for response in responses:
        assert USER_KEY not in response.text and PLAIN_KEY not in response.text
        assert all(PLAIN_KEY not in v and USER_KEY not in v for v in response.headers.values())
    logged = _log_text(caplog)
    assert "POST /route 401" in logged  # the request log is there...
    assert PLAIN_KEY not in logged and USER_KEY not in logged  # ...without the keys
    assert TOKEN not in logged


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)


# -- the serve command ---------------------------------------------------------------------


def _serve(port: int, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smartroute_graph.serving.command",
            "--port",
            str(port),
            "--token-env",
            "TEST_SMARTROUTE_TOKEN",
            "--log-level",
            "warning",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "TEST_SMARTROUTE_TOKEN")
    }
    return {**env, "LANGSMITH_TRACING": "false"}


def test_serve_command_with_a_token_from_the_environment() -> None:
    port = free_port()
    process = _serve(port, {**_base_env(), "TEST_SMARTROUTE_TOKEN": TOKEN})
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process)
        assert httpx.post(f"{url}/test-selection", json={"query": "hi"}).status_code == 401
        ok = httpx.post(f"{url}/test-selection", json={"query": "hi"}, headers=AUTH)
        assert ok.status_code == 200 and ok.json()["decision"]["model"]
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    assert f"http://127.0.0.1:{port}/playground" in err
    assert "token required (from $TEST_SMARTROUTE_TOKEN)" in err
    assert TOKEN not in err


def test_serve_command_refuses_keys_without_a_token() -> None:
    process = _serve(free_port(), {**_base_env(), "OPENAI_API_KEY": USER_KEY})
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "refusing to start" in err and "--insecure-open" in err
    assert USER_KEY not in err + out


def test_a_request_key_never_unlocks_the_servers_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token bypass: with the server's own OPENAI_API_KEY set, a request without the
    token that brings any key (body or header) must be answered with that key alone, on every
    endpoint; a request with the token that brings a key spends that key too, never the
    server's. The stand-in provider answers only the server's key, so a 200 would mean the
    server's key paid."""
    server_key = "srv-" + "a1b2c3d4e5f6" * 3  # no redaction pattern knows this shape
    upstream_tracker = Tracker()
    provider = create_app(fake_router(fake_models(upstream_tracker)), server_token=server_key)
    with live_server(provider) as upstream:
        monkeypatch.setenv("OPENAI_API_BASE", f"{upstream.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", server_key)
        front = create_app(SmartRouter.from_preset("openai"), server_token=TOKEN)
        with live_server(front) as live, httpx.Client(base_url=live.url, timeout=60) as http:
            health = http.get("/health").json()["auth"]
            chat = {"messages": [{"role": "user", "content": "hi"}]}
            attempts = [
                http.post("/v1/chat/completions", json={**chat, "api_key": "x"}),
                http.post(
                    "/v1/chat/completions", json=chat, headers={"X-OpenAI-API-Key": PLAIN_KEY}
                ),
                http.post("/route", json={"prompt": "hi", "api_key": PLAIN_KEY}),
                http.post("/query", json={"query": "hi", "api_key": PLAIN_KEY}),
                http.post(
                    "/query-specific", json={"query": "hi", "model": "gpt-4.1", "api_key": "x"}
                ),
                http.post("/batch-query", json={"queries": ["hi"], "api_key": PLAIN_KEY}),
                http.post("/query-compare", json={"query": "hi", "api_key": PLAIN_KEY}),
                http.post(
                    "/route/with-file",
                    data={"prompt": "What does it say?", "api_key": PLAIN_KEY},
                    files={"file": ("note.txt", b"meet at noon")},
                ),
                # With the token, a request that brings a key still spends only that key.
                http.post(
                    "/query", json={"query": "hi"}, headers={**AUTH, "X-OpenAI-API-Key": "x"}
                ),
                http.post("/route", json={"prompt": "hi", "api_key": PLAIN_KEY}, headers=AUTH),
            ]
            seen_before_token = len(upstream_tracker.seen)
            paid = http.post("/query", json={"query": "hi"}, headers=AUTH)
    assert health["own_keys_accepted"] is True and health["token_required"] is True
    assert seen_before_token == 0, "the server's key paid for a request that brought its own"
    for response in attempts:
        body = response.json()
        if response.request.url.path == "/batch-query" or response.request.url.path.endswith(
            "compare"
        ):
            # Per-item results: every item failed on the request's own key.
            items = body.get("results") or []
            assert items and not any(r.get("ok") for r in items), response.text
        else:
            assert response.status_code != 200, (response.request.url, response.text)
        assert server_key not in response.text and PLAIN_KEY not in response.text
    assert paid.status_code == 200, paid.text  # the token, and only the token, spends it
    assert len(upstream_tracker.seen) == 1
