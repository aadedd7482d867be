"""``/metrics``, ``/stats/data`` and the usage log: in-process (ASGI, no socket)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from smartroute_graph import SmartRouter
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.serving.app import create_app
from smartroute_graph.serving.metrics import MULTIPROC_ENV, ServerMetrics
from smartroute_graph.serving.telemetry import RequestObserver, Telemetry
from smartroute_graph.serving.usage import FeedbackRow, UsageRow, open_usage_log
from smartroute_graph.testing import FakeChatModel
from tests.support.classifiers import StubClassifier
from tests.support.fakes import fake_models

TOKEN = "a-long-server-token-for-metrics"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def scrape(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def test_metrics_count_requests_decisions_cost_and_latency(tmp_path: Path) -> None:
    client = TestClient(
        create_app(
            SmartRouter.from_preset("openai", models=fake_models()),
            server_token=TOKEN,
            usage_store=f"sqlite:///{tmp_path / 'usage.db'}",
        )
    )
    assert client.get("/metrics").status_code == 401  # behind the token
    routed = client.post("/route", json={"prompt": "Write a Python function to sort"}, headers=AUTH)
    assert routed.status_code == 200, routed.text
    answer = routed.json()
    decision = client.post("/test-selection", json={"query": "hi there"}, headers=AUTH).json()
    streamed = client.post(
        "/v1/chat/completions",
        json={
            "model": "smartroute",
            "stream": True,
            "messages": [{"role": "user", "content": "Prove sqrt(2) is irrational"}],
        },
        headers=AUTH,
    )
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    assert client.post("/route", json={"prompt": ""}, headers=AUTH).status_code == 422
    assert client.get("/no-such-page").status_code == 404

    got = scrape(client)
    requests = "smartroute_http_requests_total"
    assert value(got, requests, endpoint="/route", method="POST", status="200") == 1
    assert value(got, requests, endpoint="/route", method="POST", status="422") == 1
    assert value(got, requests, endpoint="/metrics", method="GET", status="401") == 1
    assert value(got, requests, endpoint="unmatched", method="GET", status="404") == 1
    assert value(got, requests, endpoint="/v1/chat/completions", method="POST", status="200") == 1
    assert value(got, "smartroute_http_request_seconds_count", endpoint="/route") == 2

    decisions = {
        (dict(labels)["model"], dict(labels)["domain"], dict(labels)["complexity"]): v
        for (name, labels), v in got.items()
        if name == "smartroute_decisions_total"
    }
    assert decisions[(answer["model"], answer["domain"], answer["complexity"])] >= 1
    chosen = decision["decision"]
    assert decisions[(chosen["model"], chosen["domain"], chosen["complexity"])] >= 1
    assert sum(decisions.values()) == 3  # /route, /test-selection (a dry run), the stream
    assert value(got, "smartroute_decision_seconds_count") == 3
    assert value(got, "smartroute_answers_total", model=answer["model"]) >= 1
    assert value(got, "smartroute_model_calls_total", model=answer["model"], outcome="ok") >= 1
    assert value(got, "smartroute_model_call_seconds_count", model=answer["model"]) >= 1
    cost = value(got, "smartroute_cost_usd_total", model=answer["model"], purpose="answer")
    assert cost >= answer["cost_usd"] > 0
    spent = sum(v for (name, _), v in got.items() if name == "smartroute_cost_usd_total")
    # The two answers' cost (the dry run cost nothing), as the routing metadata says.
    data = client.get("/stats/data", headers=AUTH).json()
    assert spent == pytest.approx(data["totals"]["cost_usd"])
    assert data["totals"]["answers"] == 3
    # Declared even with nothing counted yet (the response cache increments it).
    page = client.get("/metrics", headers=AUTH).text
    for name in ("cache_hits", "rate_limited", "cooldown_skips", "budget_refusals", "fallbacks"):
        assert f"# TYPE smartroute_{name}_total counter" in page


def test_fallbacks_escalations_and_reviews_are_counted() -> None:
    models = fake_models(per_model={"gpt-4.1-nano": {"error": TimeoutError("slow")}})
    router = SmartRouter.from_preset(
        "openai", models=models, classifier=StubClassifier("chat", "simple")
    )
    client = TestClient(create_app(router, server_token=TOKEN))
    meta = client.post("/route", json={"prompt": "hello"}, headers=AUTH).json()
    assert meta["model"] != "gpt-4.1-nano"
    got = scrape(client)
    failed = [k for k in got if k[0] == "smartroute_fallbacks_total"]
    assert len(failed) == 1 and dict(failed[0][1])["model"] == "gpt-4.1-nano"
    assert got[failed[0]] == 1
    assert (
        value(
            got, "smartroute_escalations_total", from_model="gpt-4.1-nano", to_model=meta["model"]
        )
        == 1
    )

    reviewed = fake_models()
    reviewed["gpt-4.1-nano"].logprobs = [-2.0, -1.5, -2.5]
    reviewed["gpt-4.1"].logprobs = [-0.05, -0.1]
    router = SmartRouter.from_preset(
        "openai",
        models=reviewed,
        classifier=StubClassifier("chat", "simple"),
        review="logprobs",
        review_threshold=0.5,
    )
    client = TestClient(create_app(router, server_token=TOKEN))
    assert (
        client.post("/route", json={"prompt": "hello"}, headers=AUTH).json()["model"] == "gpt-4.1"
    )
    got = scrape(client)
    review = "smartroute_reviews_total"
    assert value(got, review, model="gpt-4.1-nano", method="logprobs", outcome="failed") == 1
    assert value(got, review, model="gpt-4.1", method="logprobs", outcome="passed") == 1
    assert (
        value(got, "smartroute_escalations_total", from_model="gpt-4.1-nano", to_model="gpt-4.1")
        == 1
    )


def test_cache_hits_come_from_the_routing_metadata() -> None:
    telemetry = Telemetry(ServerMetrics())
    observer = RequestObserver(telemetry.metrics)
    meta: dict[str, Any] = {
        "domain": "chat",
        "complexity": "simple",
        "model": "gpt-4.1-nano",
        "selected_model": "gpt-4.1-nano",
        "attempts": [{"model": "gpt-4.1-nano", "ok": True, "latency_ms": 0.2, "cache_hit": True}],
        "cache_hit": True,
        "cost_usd": 0.0,
    }
    observer.answers.append((meta, 0.001, 0.0005))
    telemetry.finish({"type": "http", "path": "/route", "method": "POST"}, 200, 0.002, observer)
    got = samples(telemetry.metrics.render().decode())
    assert value(got, "smartroute_cache_hits_total", model="gpt-4.1-nano") == 1
    assert value(got, "smartroute_answers_total", model="gpt-4.1-nano") == 1
    calls = "smartroute_model_calls_total"
    assert value(got, calls, model="gpt-4.1-nano", outcome="cache_hit") == 1
    assert value(got, calls, model="gpt-4.1-nano", outcome="ok") == 0  # no provider call
    assert value(got, "smartroute_model_call_seconds_count", model="gpt-4.1-nano") == 0
    # A path that is not one of the app's routes is not a label of its own.
    assert (
        value(
            got, "smartroute_http_requests_total", endpoint="unmatched", method="POST", status="200"
        )
        == 1
    )


def test_usage_outlives_the_app_and_feedback_is_plotted(
    tmp_path: Path, fakes: dict[str, FakeChatModel]
) -> None:
    router = SmartRouter.from_preset("openai", models=fakes, outcome_store=tmp_path / "o.db")
    assert router.learner is not None and router.learner.sync()
    try:
        # No usage store given: the outcome store's file holds the usage tables too.
        client = TestClient(create_app(router, server_token=TOKEN))
        routed = client.post("/route", json={"prompt": "hello there"}, headers=AUTH).json()
        outcome_id = router.invoke("hello there").response_metadata["smartroute"]["outcome_id"]
        ok = client.post("/feedback", json={"id": outcome_id, "score": 0.75}, headers=AUTH)
        assert ok.status_code == 200, ok.text
        got = scrape(client)
        assert value(got, "smartroute_feedback_total", model="gpt-4.1-nano") == 1
        assert value(got, "smartroute_feedback_score_sum", model="gpt-4.1-nano") == 0.75
        client.app.state.telemetry.close()  # type: ignore[attr-defined]

        again = TestClient(create_app(router, server_token=TOKEN))  # a restart
        data = again.get("/stats/data?days=7", headers=AUTH).json()
    finally:
        router.close()
    assert data["store"] == "sqlite" and data["days"] == 7
    assert data["totals"]["answers"] == 1
    assert data["mix"]["model"] == {routed["model"]: 1}
    assert data["mix"]["domain"] == {routed["domain"]: 1}
    assert data["cost_per_model"][routed["model"]] == pytest.approx(routed["cost_usd"])
    assert data["feedback"] == [
        {"day": time.strftime("%Y-%m-%d", time.gmtime()), "mean_score": 0.75, "n": 1}
    ]
    assert data["latency"][0]["n"] == 1 and data["latency"][0]["p50_ms"] > 0


def test_stats_data_checks_its_input(fakes: dict[str, FakeChatModel]) -> None:
    client = TestClient(
        create_app(SmartRouter.from_preset("openai", models=fakes), server_token=TOKEN)
    )
    assert client.get("/stats/data").status_code == 401
    for bad in ("0", "367", "soon"):
        response = client.get(f"/stats/data?days={bad}", headers=AUTH)
        assert response.status_code == 422 and "days" in response.text
    page = client.get("/stats")  # the page is open; its data is not
    assert page.status_code == 200 and "/stats/data" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace(
        "http://www.w3.org/2000/svg", ""
    )  # nothing fetched elsewhere
    assert client.get("/").json()["links"]["stats"] == "/stats"


def test_usage_summary_groups_by_day(tmp_path: Path) -> None:
    log = open_usage_log(tmp_path / "u.db")
    day = 86_400.0
    now = 1_780_000_000.0
    rows = [
        UsageRow(
            now - 2 * day, "/route", 200, "math", "complex", "o4-mini", "o4-mini", 0.01, 900.0, 5.0
        ),
        UsageRow(
            now - 2 * day,
            "/route",
            200,
            "chat",
            "simple",
            "gpt-4.1-nano",
            "gpt-4.1",
            0.002,
            300.0,
            4.0,
            1,
            True,
        ),
        UsageRow(
            now,
            "/v1/chat/completions",
            200,
            "chat",
            "simple",
            "gpt-4.1-nano",
            "gpt-4.1-nano",
            0.001,
            100.0,
            3.0,
        ),
        UsageRow(now - 40 * day, "/route", 200, "code", "simple", "gpt-4.1", "gpt-4.1", 5.0, 1.0),
    ]
    for row in rows:
        log.record(row)
    log.record(FeedbackRow(now - 2 * day, "o4-mini", 1.0))
    log.record(FeedbackRow(now - 2 * day, "gpt-4.1", 0.5))
    summary = log.summary(30, now=now)
    log.close()
    assert summary["totals"] == {"answers": 3, "cost_usd": pytest.approx(0.013)}
    assert summary["mix"]["domain"] == {"chat": 2, "math": 1}  # the 40-day-old row is out
    assert summary["mix"]["model"] == {"gpt-4.1-nano": 1, "o4-mini": 1, "gpt-4.1": 1}
    assert [d["day"] for d in summary["per_day"]] == ["2026-05-26", "2026-05-28"]
    assert summary["per_day"][0]["cost_by_model"] == {"gpt-4.1": 0.002, "o4-mini": 0.01}
    assert summary["latency"][0]["p50_ms"] == 300.0 and summary["latency"][0]["p95_ms"] == 900.0
    assert summary["feedback"] == [{"day": "2026-05-26", "mean_score": 0.75, "n": 2}]


def test_a_bad_usage_store_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown usage log URL"):
        open_usage_log("mysql://u:secret@db/x")
    (tmp_path / "bad.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigError, match="cannot open the usage log") as err:
        open_usage_log(tmp_path / "bad.db")
    assert "secret" not in str(err.value)


_WORKER = """
import sys
from smartroute_graph.serving.metrics import server_metrics
m = server_metrics()
m.decisions.labels("gpt-4.1", "math", "complex").inc(int(sys.argv[1]))
m.cost_usd.labels("gpt-4.1", "answer").inc(0.25)
if len(sys.argv) > 2:
    sys.stdout.write(m.render().decode())
"""


def test_metrics_add_up_across_worker_processes(tmp_path: Path) -> None:
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path), "PYTHONPATH": str(ROOT)}

    def worker(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _WORKER, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    worker("2")
    worker("3")
    got = samples(worker("4", "render"))
    assert (
        value(
            got, "smartroute_decisions_total", model="gpt-4.1", domain="math", complexity="complex"
        )
        == 9
    )
    assert value(
        got, "smartroute_cost_usd_total", model="gpt-4.1", purpose="answer"
    ) == pytest.approx(0.75)


def test_the_multiprocess_folder_is_made_and_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smartroute_graph.serving.metrics import prepare_multiprocess_dir

    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    assert prepare_multiprocess_dir(1) is None and MULTIPROC_ENV not in os.environ
    made = prepare_multiprocess_dir(2)
    assert made is not None and os.environ[MULTIPROC_ENV] == made and Path(made).is_dir()
    os.rmdir(made)
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    (tmp_path / "keep.txt").write_text("not ours")
    assert prepare_multiprocess_dir(4) == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
