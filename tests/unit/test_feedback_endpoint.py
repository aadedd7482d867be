"""``POST /feedback``: in-process (ASGI, no socket), a router learning into a temporary store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smartroute_graph import SmartRouter
from smartroute_graph.serving.app import create_app
from smartroute_graph.testing import FakeChatModel
from tests.support.classifiers import StubClassifier

TOKEN = "a-long-server-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def learning(tmp_path: Path, fakes: dict[str, FakeChatModel]) -> Iterator[SmartRouter]:
    router = SmartRouter.from_preset("openai", models=fakes, outcome_store=tmp_path / "o.db")
    assert router.learner is not None and router.learner.sync()
    yield router
    router.close()


def test_feedback_is_stored_and_checked(learning: SmartRouter) -> None:
    client = TestClient(create_app(learning, server_token=TOKEN))
    answer = client.post("/route", json={"prompt": "hello there"}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    outcome_id = learning.invoke("hello there").response_metadata["smartroute"]["outcome_id"]
    ok = client.post("/feedback", json={"id": outcome_id, "score": 0.75}, headers=AUTH)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {
        "stored": True,
        "id": outcome_id,
        "model": "gpt-4.1-nano",
        "score": 0.75,
        "source": "feedback",
    }
    other = {"run_id": outcome_id, "score": 1, "model": "gpt-4.1"}
    assert client.post("/feedback", json=other, headers=AUTH).json()["model"] == "gpt-4.1"
    store = learning.learner.store  # type: ignore[union-attr]
    assert store is not None and store.count(source="feedback") == 2
    assert client.post("/feedback", json={"id": outcome_id, "score": 0.5}).status_code == 401
    unknown = client.post("/feedback", json={"id": "nope", "score": 0.5}, headers=AUTH)
    assert unknown.status_code == 404 and "no answer is remembered" in unknown.text
    for bad in ({"id": outcome_id, "score": 1.5}, {"id": outcome_id, "score": -0.1}, {"score": 1}):
        assert client.post("/feedback", json=bad, headers=AUTH).status_code == 422
    wrong_model = {"id": outcome_id, "score": 0.5, "model": "claude"}
    assert client.post("/feedback", json=wrong_model, headers=AUTH).status_code == 422
    assert store.count(source="feedback") == 2


def test_a_server_that_does_not_learn_says_so(fakes: dict[str, FakeChatModel]) -> None:
    router = SmartRouter.from_preset(
        "openai", models=fakes, classifier=StubClassifier("chat", "simple")
    )
    client = TestClient(create_app(router, server_token=TOKEN))
    response = client.post("/feedback", json={"id": "x", "score": 0.5}, headers=AUTH)
    assert response.status_code == 409 and "does not learn" in response.text
