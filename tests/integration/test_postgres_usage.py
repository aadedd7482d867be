"""The usage log (/stats) on a real PostgreSQL server shared by two apps, as by two replicas
(a throwaway cluster, :mod:`tests.support.postgres`)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from smartroute_graph import SmartRouter
from smartroute_graph.serving.app import create_app
from smartroute_graph.serving.usage import open_usage_log
from tests.support.postgres import pg_url
from tests.support.servers import fake_models

pytestmark = pytest.mark.integration

__all__ = ["pg_url"]

TOKEN = "usage-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_two_replicas_share_the_usage_log(pg_url: str) -> None:
    with open_usage_log(pg_url) as log:  # a clean slate for this test
        log.clear()
    replicas = [
        create_app(
            SmartRouter.from_preset("openai", models=fake_models()),
            server_token=TOKEN,
            usage_store=pg_url,
        )
        for _ in range(2)
    ]
    clients = [TestClient(app) for app in replicas]
    answers = []
    for i, query in enumerate(
        ["Write a Python function to sort a list", "Prove sqrt(2) is irrational"] * 3
    ):
        response = clients[i % 2].post("/route", json={"prompt": query}, headers=AUTH)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    for app in replicas:
        app.state.telemetry.usage.flush()
    data = [client.get("/stats/data", headers=AUTH).json() for client in clients]
    for app in replicas:
        app.state.telemetry.close()
    assert data[0] == data[1]  # either replica shows the whole deployment
    summary = data[0]
    assert summary["store"] == "postgresql"
    assert summary["totals"]["answers"] == 6
    assert summary["totals"]["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in answers))
    expected: dict[str, int] = {}
    for answer in answers:
        expected[answer["domain"]] = expected.get(answer["domain"], 0) + 1
    assert summary["mix"]["domain"] == expected
    assert sum(day["requests"] for day in summary["per_day"]) == 6
    assert summary["latency"][0]["n"] == 6
