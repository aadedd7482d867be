"""Drop-in compatibility for the two older FastAPI routers' clients.

Each endpoint is driven over the loopback with the request bodies the older systems'
documentation shows (test values of our own), and every response field their clients read is
checked. The providers are :mod:`tests.support.fake_upstream` reached through the real
``langchain-openai`` models: the first router's server through ``OPENAI_BASE_URL``, the second's
through ``OPENROUTER_BASE_URL``, so what each request spends (which key, which model id, which
temperature) is what the fake provider records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from smartroute_graph import SmartRouter
from smartroute_graph.core.catalog import preset_catalog
from smartroute_graph.serving.app import create_app
from smartroute_graph.serving.legacy_shapes import SAMPLE_PROMPTS
from tests.support.fake_upstream import FakeUpstream, fake_upstream
from tests.support.pdfs import text_pdf
from tests.support.servers import live_server

pytestmark = pytest.mark.integration

# The caller's own OpenAI key (first system) and the operator's OpenRouter key (second).
CALLER_KEY = "sk-proj-CALLERS0WNKEY0123456789abcdef"
SERVER_KEY = "sk-or-v1-SERVERKEY0123456789abcdef0123"
TOKEN = "legacy-compat-token-0123456789abcdef"

# What the older systems' clients read from each answer.
FIRST_ROUTE_FIELDS = ("response", "selected_model", "file_processed", "file_processing_error")
SECOND_QUERY_FIELDS = ("prompt", "selected_model", "selection_confidence", "response")
SECOND_NAMES = {
    "deepseek-r1": "deepseek/deepseek-r1",
    "mistral-small": "mistralai/mistral-small-3.1-24b-instruct",
    "qwen": "qwen/qwen-2.5-72b-instruct",
    "gemini-flash": "google/gemini-2.0-flash-001",
    "llama-3.3": "meta-llama/llama-3.3-70b-instruct",
}


# Each server's provider variables: the first routes over OpenAI's models with the caller's
# key alone; the second over OpenRouter's with the operator's key.
ENV = {
    "first": {"OPENAI_BASE_URL": "{base_url}", "OPENAI_API_BASE": "{base_url}"},
    "second": {"OPENROUTER_API_KEY": SERVER_KEY, "OPENROUTER_BASE_URL": "{base_url}"},
    "held": {
        "OPENAI_API_KEY": SERVER_KEY,
        "OPENAI_BASE_URL": "{base_url}",
        "OPENAI_API_BASE": "{base_url}",
    },
}


BASE_URL_VARIABLES = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENROUTER_BASE_URL")


class Recorder:
    """The fake provider's ``chooser``: keeps every request body, answers with a mode."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.modes: dict[str, str] = {}

    def __call__(self, body: dict[str, Any]) -> str:
        self.bodies.append(body)
        return self.modes.get(str(body.get("model")), "ok")


@pytest.fixture(autouse=True)
def _stack_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, clean_provider_env: None
) -> None:
    """The module's servers' provider variables, set again for each test (the package's
    clean-environment fixture clears them before every test).
    """
    for name in ("first", "second", "held"):
        if name in request.fixturenames:
            up = request.getfixturevalue(name)[0]
            for variable, value in ENV[name].items():
                monkeypatch.setenv(variable, value.format(base_url=up.base_url))


def _no_secrets(*texts: str) -> None:
    for text in texts:
        assert CALLER_KEY not in text and SERVER_KEY not in text and TOKEN not in text


# -- the first system: /route and /route/with-file, the caller's own OpenAI key -------------


@contextmanager
def _stack(
    name: str, preset: str, token: str | None = None
) -> Iterator[tuple[FakeUpstream, Recorder, httpx.Client]]:
    """The fake provider, and a server over ``preset``'s real models with ``ENV[name]``
    pointing them at it (no other provider variable set).
    """
    recorder = Recorder()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with pytest.MonkeyPatch.context() as mp, fake_upstream(chooser=recorder) as up:
        for variable in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", *BASE_URL_VARIABLES):
            mp.delenv(variable, raising=False)
        for variable, value in ENV[name].items():
            mp.setenv(variable, value.format(base_url=up.base_url))
        app = create_app(SmartRouter.from_preset(preset), server_token=token)
        with (
            live_server(app) as live,
            httpx.Client(base_url=live.url, headers=headers, timeout=60) as http,
        ):
            yield up, recorder, http


def _servers(name: str, preset: str, token: str | None = None) -> Any:
    """A module-scoped fixture of one :func:`_stack`."""

    @pytest.fixture(scope="module")
    def fixture() -> Iterator[tuple[FakeUpstream, Recorder, httpx.Client]]:
        with _stack(name, preset, token) as stack:
            yield stack

    return fixture


# The first router's clients: a keyless server (no token, no provider key), OpenAI's models.
first = _servers("first", "openai")
# A server that holds the operator's OpenAI key, behind a token.
held = _servers("held", "openai", TOKEN)
# The second router's: the operator's OpenRouter key behind a token, OpenRouter's models
# reached through OPENROUTER_BASE_URL.
second = _servers("second", "openrouter", TOKEN)


def test_route_spends_the_callers_openai_api_key(
    first: tuple[FakeUpstream, Recorder, httpx.Client],
) -> None:
    up, recorder, http = first
    before = len(up.calls)
    body = {"prompt": "Say hello to the team", "temperature": 0.3, "openai_api_key": CALLER_KEY}
    response = http.post("/route", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    for field in FIRST_ROUTE_FIELDS:
        assert field in answer, field
    assert answer["response"] == "the fake provider answers this in a few words"
    assert answer["selected_model"] == answer["model"] in preset_catalog("openai")
    assert answer["file_processed"] is False and answer["file_processing_error"] is None
    assert answer["prompt"] == body["prompt"]
    calls = up.calls[before:]
    assert calls and {c.key for c in calls} == {CALLER_KEY}  # the caller's key, nothing else
    sent = recorder.bodies[-1]
    if answer["model"] != "o4-mini":  # a reasoning model takes no temperature
        assert sent["temperature"] == 0.3
    # Without a key, a keyless server has nothing to spend.
    refused = http.post("/route", json={"prompt": "Say hello", "temperature": 0.3})
    assert refused.status_code == 401
    _no_secrets(response.text, refused.text)


def test_route_with_file_reads_temperature_and_the_key_from_the_form(
    first: tuple[FakeUpstream, Recorder, httpx.Client],
) -> None:
    up, recorder, http = first
    before = len(up.calls)
    response = http.post(
        "/route/with-file",
        data={"prompt": "When is the invoice due?", "temperature": "0.25",
              "openai_api_key": CALLER_KEY},
        files={"file": ("invoice.pdf", text_pdf(["Invoice 2291 is due on 3 March."]))},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    answer = response.json()
    for field in FIRST_ROUTE_FIELDS:
        assert field in answer, field
    assert answer["file_processed"] is True and answer["file_processing_error"] is None
    assert answer["attachment"]["kind"] == "pdf"
    sent = recorder.bodies[-1]
    assert "Invoice 2291 is due on 3 March." in json.dumps(sent["messages"])
    if answer["selected_model"] != "o4-mini":
        assert sent["temperature"] == 0.25
    assert {c.key for c in up.calls[before:]} == {CALLER_KEY}


def test_openai_api_key_spends_only_the_callers_money(
    held: tuple[FakeUpstream, Recorder, httpx.Client],
) -> None:
    up, _, http = held
    before = len(up.calls)
    own = http.post("/route", json={"prompt": "Say hi", "openai_api_key": CALLER_KEY})
    assert own.status_code == 200, own.text
    mine = up.calls[before:]
    assert mine and {c.key for c in mine} == {CALLER_KEY}  # never the server's key
    before = len(up.calls)
    form = http.post(
        "/route/with-file",
        data={"prompt": "What does it say?", "openai_api_key": CALLER_KEY},
        files={"file": ("note.txt", b"meet at noon")},
    )
    assert form.status_code == 200 and form.json()["file_processed"] is True
    assert {c.key for c in up.calls[before:]} == {CALLER_KEY}
    before = len(up.calls)
    served = http.post("/route", json={"prompt": "Say hi"})  # the token alone: the server pays
    assert served.status_code == 200 and {c.key for c in up.calls[before:]} == {SERVER_KEY}
    # Without the token, a request that brings its key is served on that key alone (the
    # server's key cannot be spent for it); without either, it is refused.
    before = len(up.calls)
    bare = httpx.post(
        f"{http.base_url}/route", json={"prompt": "Say hi", "openai_api_key": CALLER_KEY}
    )
    assert bare.status_code == 200 and {c.key for c in up.calls[before:]} == {CALLER_KEY}
    assert httpx.post(f"{http.base_url}/route", json={"prompt": "Say hi"}).status_code == 401
    _no_secrets(own.text, form.text, served.text, bare.text)


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("empty.pdf", b"", "is empty (0 bytes)"),
        ("archive.zip", b"PK\x03\x04" + b"\x00" * 200, "ZIP archive"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "damaged or truncated"),
    ],
)
def test_an_unreadable_file_is_reported_and_the_prompt_answered(
    first: tuple[FakeUpstream, Recorder, httpx.Client], name: str, data: bytes, says: str
) -> None:
    _, recorder, http = first
    response = http.post(
        "/route/with-file",
        data={"prompt": "What does the file say?", "openai_api_key": CALLER_KEY},
        files={"file": (name, data)},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["file_processed"] is False
    assert says in answer["file_processing_error"]
    assert answer["attachment"] is None
    assert answer["response"] and answer["selected_model"]
    assert recorder.bodies[-1]["messages"][-1]["content"] == "What does the file say?"


def test_the_newer_endpoints_stay_strict_about_files(
    first: tuple[FakeUpstream, Recorder, httpx.Client],
) -> None:
    _, _, http = first
    chat = http.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {CALLER_KEY}"},
        json={
            "model": "smartroute",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What does it say?"},
                        {
                            "type": "file",
                            "file": {
                                "filename": "broken.pdf",
                                "file_data": "data:application/pdf;base64,JVBERi0xLjQKMSAwIG9i",
                            },
                        },
                    ],
                }
            ],
        },
    )
    assert chat.status_code == 422, chat.text
    assert "damaged or truncated" in chat.json()["error"]["message"]
    # An unknown form field is still refused, naming it.
    unknown = http.post(
        "/route/with-file",
        data={"prompt": "hi", "openai_api_key": CALLER_KEY, "colour": "blue"},
        files={"file": ("a.txt", b"hello")},
    )
    assert unknown.status_code == 422 and "'colour'" in unknown.json()["error"]["message"]


# -- the second system: the OpenRouter models, their names and endpoints ----------------------


def test_query_takes_prompt_and_echoes_the_second_systems_fields(
    second: tuple[FakeUpstream, Recorder, httpx.Client],
) -> None:
    up, recorder, http = second
    before = len(up.calls)
    body = {"prompt": "What is the capital of Peru?", "temperature": 0.4}
    response = http.post("/query", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    for field in SECOND_QUERY_FIELDS:
        assert field in answer, field
    if answer["selected_model"] != "deepseek-r1":  # a reasoning model takes no temperature
        assert recorder.bodies[-1]["temperature"] == 0.4
    assert answer["prompt"] == "What is the capital of Peru?"
    assert answer["selected_model"] in preset_catalog("openrouter")
    assert 0.0 <= answer["selection_confidence"] <= 1.0
    assert answer["response"] == "the fake provider answers this in a few words"
    # OPENROUTER_BASE_URL is honoured: the call reached the fake provider, with the server key.
    assert [c.key for c in up.calls[before:]] == [SERVER_KEY]
    # Both names of one field, with different values: refused, naming both.
    both = http.post("/query", json={"prompt": "a", "query": "b"})
    assert both.status_code == 422
    assert "'query' and 'prompt' are the same field" in both.json()["error"]["message"]
    # A field neither system has is still unknown.
    unknown = http.post("/query", json={"prompt": "hi", "colour": "blue"})
    assert unknown.status_code == 422 and "colour" in unknown.json()["error"]["message"]
    _no_secrets(response.text, both.text, unknown.text)


@pytest.mark.parametrize(("name", "model_id"), sorted(SECOND_NAMES.items()))
def test_query_specific_takes_the_second_systems_model_names(
    second: tuple[FakeUpstream, Recorder, httpx.Client], name: str, model_id: str
) -> None:
    _, recorder, http = second
    response = http.post("/query-specific", json={"prompt": "Name a colour", "model": name})
    assert response.status_code == 200, response.text
    answer = response.json()
    for field in SECOND_QUERY_FIELDS:
        assert field in answer, field
    assert preset_catalog("openrouter").resolve(name) == answer["selected_model"]
    assert recorder.bodies[-1]["model"] == model_id


def test_query_compare_with_old_names(
    second: tuple[FakeUpstream, Recorder, httpx.Client],
) -> None:
    _, _, http = second
    response = http.post(
        "/query-compare", json={"prompt": "Explain recursion", "models": ["qwen", "llama-3.3"]}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["prompt"] == "Explain recursion"
    assert report["selected_model"] in preset_catalog("openrouter")
    assert 0.0 <= report["selection_confidence"] <= 1.0
    assert [r["model"] for r in report["results"]] == ["qwen-2.5-72b", "llama-3.3-70b"]
    assert all(r["ok"] and r["score"] is not None for r in report["results"])


def test_batch_query_with_prompts_and_compare(
    second: tuple[FakeUpstream, Recorder, httpx.Client],
) -> None:
    up, _, http = second
    prompts = ["What is 2 + 2?", "Write a limerick about a cat"]
    plain = http.post("/batch-query", json={"prompts": prompts})
    assert plain.status_code == 200, plain.text
    results = plain.json()["results"]
    assert [r["prompt"] for r in results] == prompts
    for result in results:
        assert result["ok"] is True
        for field in SECOND_QUERY_FIELDS:
            assert field in result, field
    before = len(up.calls)
    compared = http.post("/batch-query", json={"prompts": prompts, "compare": True})
    assert compared.status_code == 200, compared.text
    body = compared.json()
    assert body["compare"] is True and body["succeeded"] == 2
    for prompt, result in zip(prompts, body["results"], strict=True):
        assert result["prompt"] == prompt
        assert result["selected_model"] in preset_catalog("openrouter")
        assert 0.0 <= result["selection_confidence"] <= 1.0
        models = [r["model"] for r in result["comparison"]["results"]]
        assert sorted(models) == sorted(preset_catalog("openrouter"))
        assert result["best_model"] in models
    assert len(up.calls) - before == 2 * len(preset_catalog("openrouter"))
    # compare with a named subset, old names included.
    some = http.post(
        "/batch-query", json={"prompts": ["hi"], "compare": True, "models": ["deepseek-r1"]}
    ).json()
    assert [r["model"] for r in some["results"][0]["comparison"]["results"]] == ["deepseek-r1"]


def test_test_selection_without_a_body_runs_sample_prompts(
    second: tuple[FakeUpstream, Recorder, httpx.Client],
) -> None:
    up, _, http = second
    before = len(up.calls)
    response = http.post("/test-selection")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sample_prompts"] is True and body["count"] == len(SAMPLE_PROMPTS)
    assert [r["prompt"] for r in body["results"]] == list(SAMPLE_PROMPTS)
    for result in body["results"]:
        assert result["selected_model"] in preset_catalog("openrouter")
        assert 0.0 <= result["selection_confidence"] <= 1.0
    # The samples span the ladder: not every prompt goes to one model.
    assert len({r["selected_model"] for r in body["results"]}) >= 2
    one = http.post("/test-selection", json={"prompt": "Prove Fermat's little theorem"}).json()
    assert one["prompt"] == "Prove Fermat's little theorem" and one["selected_model"]
    many = http.post("/test-selection", json={"prompts": ["hi", "Write a SQL join"]}).json()
    assert [r["prompt"] for r in many["results"]] == ["hi", "Write a SQL join"]
    assert len(up.calls) == before  # decisions only: no model was called


def test_per_model_health(second: tuple[FakeUpstream, Recorder, httpx.Client]) -> None:
    up, recorder, http = second
    catalog = preset_catalog("openrouter")
    open_view = httpx.get(f"{http.base_url}/health", params={"models": "true"}).json()
    entries = {e["model"]: e for e in open_view["model_health"]}
    assert set(entries) == set(catalog)
    assert all(e["key_present"] and e["key_source"] == "environment" for e in entries.values())
    # The details need the token, as every protected endpoint does.
    assert httpx.get(f"{http.base_url}/health/models").status_code == 401
    recorder.modes["deepseek/deepseek-r1"] = "500"
    try:
        checked = http.get("/health/models", params={"check": "true"})
    finally:
        recorder.modes.clear()
    assert checked.status_code == 200, checked.text
    by_name = {e["model"]: e for e in checked.json()["models"]}
    assert by_name["deepseek-r1"]["reachable"] is False
    assert by_name["deepseek-r1"]["check"]["error_kind"] == "server_error"
    assert by_name["deepseek-r1"]["last_error"]["kind"] == "server_error"
    assert all(by_name[n]["reachable"] is True for n in catalog if n != "deepseek-r1")
    # The fake provider echoes the key it was sent in its error: never passed on.
    _no_secrets(checked.text, json.dumps(open_view))
    # The open summary gives the kind of the last error, not its message.
    summary = httpx.get(f"{http.base_url}/health", params={"models": "true"}).json()
    last = {e["model"]: e["last_error"] for e in summary["model_health"]}["deepseek-r1"]
    assert last["kind"] == "server_error" and "message" not in last
    assert {c.key for c in up.calls} == {SERVER_KEY}


def test_a_keyless_model_health_says_so() -> None:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY"):
            mp.delenv(name, raising=False)
        app = create_app(SmartRouter.from_preset("openrouter"))
        with live_server(app) as live:
            entries = httpx.get(f"{live.url}/health", params={"models": "1"}).json()
            assert {e["key_present"] for e in entries["model_health"]} == {False}
            checked = httpx.get(
                f"{live.url}/health/models", headers={"X-OpenRouter-API-Key": CALLER_KEY}
            ).json()
    # The caller's own key is present for this request only, and named as the request's.
    assert {e["key_source"] for e in checked["models"]} == {"request"}
    _no_secrets(json.dumps(entries), json.dumps(checked))
