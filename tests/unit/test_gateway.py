"""The gateway in one process: response cache, cooldowns, callers with budgets, the factory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.globals import set_llm_cache

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.routing.cooldown import CooldownPolicy, MemoryCooldowns
from smartroute_graph.serving.app import create_app
from smartroute_graph.serving.budgets import Caller, load_callers
from smartroute_graph.serving.command import args_from_env, env_from_args
from smartroute_graph.serving.gateway import build_gateway
from smartroute_graph.serving.shared_state import parse_rate_limits, rate_limiters
from tests.support.servers import Tracker, fake_models, fake_router

CALLER_TOKEN = "caller-token-0123456789"


@pytest.fixture(autouse=True)
def no_global_cache() -> Iterator[None]:
    yield
    set_llm_cache(None)


def _chat(client: TestClient, text: str, **extra: Any) -> dict[str, Any]:
    headers = extra.pop("headers", {})
    body = {"model": "smartroute", "messages": [{"role": "user", "content": text}], **extra}
    response = client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _stream_meta(client: TestClient, text: str) -> tuple[str, dict[str, Any]]:
    body = {"model": "smartroute", "stream": True, "messages": [{"role": "user", "content": text}]}
    answer, meta = "", {}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            event = json.loads(line[6:])
            for choice in event.get("choices", []):
                answer += choice["delta"].get("content") or ""
            meta = event.get("smartroute") or meta
    return answer, meta


def test_a_repeated_request_is_answered_from_the_cache_for_free(tmp_path: Path) -> None:
    tracker = Tracker()
    gateway = build_gateway(cache_url=f"sqlite:///{tmp_path}/answers.db")
    app = create_app(fake_router(fake_models(tracker)), gateway=gateway)
    with TestClient(app) as client:
        first = _chat(client, "hi there, how are you?")
        assert not first["smartroute"]["cache_hit"] and first["smartroute"]["cost_usd"] > 0
        second = _chat(client, "hi there, how are you?")
        assert len(tracker.seen) == 1  # no second model call
        assert (
            second["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]
        )
        assert second["smartroute"]["cache_hit"] is True
        assert second["usage"]["cache_hit"] is True
        assert second["smartroute"]["cost_usd"] == 0
        assert second["smartroute"]["attempts"][0]["cache_hit"] is True
        # Opting out: the header, or the body field, reads nothing from the cache.
        _chat(client, "hi there, how are you?", headers={"Cache-Control": "no-cache"})
        assert len(tracker.seen) == 2
        opted = _chat(client, "hi there, how are you?", cache=False)
        assert len(tracker.seen) == 3 and not opted["smartroute"]["cache_hit"]
        # Another model, or another setting, is another entry.
        forced = _chat(client, "hi there, how are you?", model="o4-mini")
        assert len(tracker.seen) == 4 and not forced["smartroute"]["cache_hit"]
        _chat(client, "hi there, how are you?", temperature=0.3)
        assert len(tracker.seen) == 5


def test_streamed_answers_are_cached_and_served_from_the_cache(tmp_path: Path) -> None:
    tracker = Tracker()
    gateway = build_gateway(cache_url=str(tmp_path / "answers.db"))
    app = create_app(fake_router(fake_models(tracker)), gateway=gateway)
    with TestClient(app) as client:
        answer, meta = _stream_meta(client, "write a haiku about rain")
        assert answer and not meta["cache_hit"] and len(tracker.seen) == 1
        again, meta = _stream_meta(client, "write a haiku about rain")
        assert again == answer and meta["cache_hit"] and meta["cost_usd"] == 0
        assert len(tracker.seen) == 1
        # The streamed answer serves a plain request too (one cache entry per call).
        plain = _chat(client, "write a haiku about rain")
        assert plain["smartroute"]["cache_hit"] and len(tracker.seen) == 1


def test_no_cache_means_no_caching(tmp_path: Path) -> None:
    tracker = Tracker()
    with TestClient(create_app(fake_router(fake_models(tracker)))) as client:
        _chat(client, "hello")
        second = _chat(client, "hello")
    assert len(tracker.seen) == 2 and second["smartroute"]["cache_hit"] is False


def test_a_failing_model_cools_down_and_the_reason_says_so() -> None:
    models = fake_models(per_model={"gpt-4.1-nano": {"error": ConnectionError("down")}})
    gateway = build_gateway(cooldown="2/60/30")
    assert gateway is not None
    with TestClient(create_app(fake_router(models), gateway=gateway)) as client:
        for _ in range(2):
            meta = _chat(client, "hi there!")["smartroute"]
            assert meta["attempts"][0]["model"] == "gpt-4.1-nano"
            assert not meta["attempts"][0]["ok"]
        meta = _chat(client, "hi there!")["smartroute"]
        metrics = client.get("/metrics").text
    assert [a["model"] for a in meta["attempts"]] == [meta["selected_model"]]
    assert meta["selected_model"] != "gpt-4.1-nano"
    assert "gpt-4.1-nano failed 2 times within 60 s, skipped for 30 s (cooldown)" in meta["reason"]
    assert 'smartroute_cooldown_skips_total{model="gpt-4.1-nano"} 1.0' in metrics


def test_a_cooldown_ends() -> None:
    now = [0.0]
    tracker = MemoryCooldowns(CooldownPolicy(2, 10, 5), clock=lambda: now[0])
    tracker.record_failure("m")
    now[0] = 11  # the first failure left the window
    tracker.record_failure("m")
    assert tracker.cooling(["m"]) == {}
    tracker.record_failure("m")
    assert "m" in tracker.cooling(["m"])
    now[0] = 16.5
    assert tracker.cooling(["m"]) == {}


def test_callers_have_daily_budgets_and_health_shows_no_token(tmp_path: Path) -> None:
    callers = [Caller("small", CALLER_TOKEN, 1e-9), Caller("big", "x" * 20 + "big", 100.0)]
    gateway = build_gateway(callers=callers, spend_store=f"sqlite:///{tmp_path}/spend.db")
    app = create_app(fake_router(), gateway=gateway)
    small = {"Authorization": f"Bearer {CALLER_TOKEN}"}
    with TestClient(app) as client:
        assert client.post("/route", json={"prompt": "hi"}).status_code == 401
        wrong = {"Authorization": "Bearer not-a-caller-token-at-all"}
        assert client.post("/route", json={"prompt": "hi"}, headers=wrong).status_code == 401
        assert client.post("/route", json={"prompt": "hi"}, headers=small).status_code == 200
        refused = client.post("/route", json={"prompt": "hi"}, headers=small)
        assert refused.status_code == 429
        assert "caller 'small' has spent" in refused.json()["detail"]
        assert "daily budget" in refused.json()["detail"]
        assert 0 < int(refused.headers["Retry-After"]) <= 86400
        big = {"Authorization": "Bearer " + "x" * 20 + "big"}
        assert client.post("/route", json={"prompt": "hi"}, headers=big).status_code == 200
        health = client.get("/health").text
        metrics = client.get("/metrics", headers=big).text
    assert 'smartroute_budget_refusals_total{caller="small"} 1.0' in metrics
    assert CALLER_TOKEN not in metrics
    assert CALLER_TOKEN not in health and "xxxxbig" not in health
    assert json.loads(health)["auth"]["token_required"] is True


def test_calls_held_back_by_a_rate_limit_are_counted() -> None:
    waited: list[str] = []
    limiter = rate_limiters({"m": 50.0}, None, on_wait=waited.append)["m"]
    for _ in range(3):  # the bucket starts empty and holds one token: each call waits
        assert limiter.acquire()
    assert waited == ["m", "m", "m"]


def test_callers_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_TOKEN", "t" * 24)
    path = tmp_path / "callers.yaml"
    path.write_text(
        "callers:\n  - {name: team, token_env: TEAM_TOKEN, daily_budget_usd: 5}\n"
        f"  - {{name: ops, token: {'o' * 20}}}\n"
    )
    callers = load_callers(path)
    assert [(c.name, c.daily_budget_usd) for c in callers] == [("team", 5.0), ("ops", None)]
    assert "t" * 24 not in repr(callers)
    path.write_text("callers:\n  - {name: team, token: short}\n")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_callers(path)
    with pytest.raises(ConfigError, match="--spend-store"):
        build_gateway(callers=[Caller("a", "a" * 20, 1.0)])


def test_options_that_would_split_state_between_workers_are_refused() -> None:
    with pytest.raises(ConfigError, match="needs --redis"):
        build_gateway(rate_limits="gpt-4.1=5", workers=2)
    with pytest.raises(ConfigError, match="MODEL=REQUESTS_PER_SECOND"):
        parse_rate_limits("gpt-4.1:5", ["gpt-4.1"])
    with pytest.raises(ConfigError, match="unknown model"):
        parse_rate_limits("gpt-5=5", ["gpt-4.1"])
    with pytest.raises(ConfigError, match="N/T/C"):
        build_gateway(cooldown="3 in 60")
    with pytest.raises(ConfigError, match="unknown cache URL"):
        build_gateway(cache_url="memcached://x")


def test_the_worker_factory_reads_what_serve_was_given() -> None:
    from smartroute_graph.cli import build_parser

    args = build_parser().parse_args(
        ["serve", "--workers", "2", "--cache", "redis://h:1/0", "--rate-limit", "gpt-4.1=5",
         "--insecure-open", "--preset", "openrouter", "--max-batch", "7"]
    )  # fmt: skip
    env = env_from_args(args)
    assert env["SMARTROUTE_SERVE_CACHE"] == "redis://h:1/0"
    assert env["SMARTROUTE_SERVE_INSECURE_OPEN"] == "1"
    back = args_from_env(env)
    for name in ("cache", "rate_limit", "insecure_open", "preset", "max_batch", "workers"):
        assert getattr(back, name) == getattr(args, name), name
    with pytest.raises(ConfigError, match="SMARTROUTE_SERVE_"):
        args_from_env({"SMARTROUTE_SERVE_MAX_BATCH": "many"})
