"""/stats in a real browser (headless Chromium, :mod:`tests.support.browser`): traffic through the
live server, a restart on the same usage store, then the page asks for the token, draws every
chart from /stats/data, and a screenshot is saved to ``artifacts/stats.png``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from smartroute_graph import SmartRouter
from smartroute_graph.serving.app import create_app
from tests.support.browser import open_page, screenshot
from tests.support.servers import fake_models, live_server

pytestmark = pytest.mark.integration

TOKEN = "stats-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUERIES = (
    "Write a Python function that merges two sorted lists",
    "Prove that sqrt(2) is irrational",
    "hello, how are you?",
    "Summarise this: the meeting moved to Tuesday and the budget was approved.",
    "Write a short poem about autumn",
)


def test_stats_page_draws_usage_in_a_browser(browser: str, tmp_path: Path) -> None:
    store = tmp_path / "outcomes.db"
    router = SmartRouter.from_preset("openai", models=fake_models(), outcome_store=store)
    assert router.learner is not None and router.learner.sync()
    try:
        first = create_app(router, server_token=TOKEN)
        with live_server(first) as server:
            for query in QUERIES:
                body = {"model": "smartroute", "messages": [{"role": "user", "content": query}]}
                answer = httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=AUTH)
                assert answer.status_code == 200, answer.text
                feedback = {"id": answer.json()["smartroute"]["outcome_id"], "score": 0.8}
                ok = httpx.post(f"{server.url}/feedback", json=feedback, headers=AUTH)
                assert ok.status_code == 200, ok.text
        first.state.telemetry.close()

        with live_server(create_app(router, server_token=TOKEN)) as server:  # restarted
            expected = httpx.get(f"{server.url}/stats/data", headers=AUTH).json()
            page = open_page(browser)
            try:
                page.call("Page.enable")
                page.call("Page.navigate", url=f"{server.url}/stats")
                page.wait_for("document.body && document.body.dataset.ready === '1'")
                # Without the token: the server's 401, and the token box appears.
                assert "token" in page.text("#error").lower()
                assert page.evaluate(
                    "!document.getElementById('token-box').classList.contains('hidden')"
                )
                page.type_into("#token", TOKEN)
                page.click("#load-btn")
                page.wait_for("document.body.dataset.loaded === '1'")
                assert (
                    page.evaluate("getComputedStyle(document.getElementById('error')).display")
                    == "none"
                )
                assert page.text("#total-answers") == str(len(QUERIES))
                drawn = page.evaluate(
                    "Object.fromEntries(['domain', 'complexity', 'model'].map(k => [k, "
                    "Object.fromEntries([...document.querySelectorAll('#mix-' + k + ' .bar')]"
                    ".map(b => [b.dataset.label, Number(b.dataset.value)]))]))"
                )
                assert drawn == expected["mix"]
                cost_bars = page.evaluate(
                    "Object.fromEntries([...document.querySelectorAll('#cost-model .bar')]"
                    ".map(b => [b.dataset.label, Number(b.dataset.value)]))"
                )
                assert cost_bars == pytest.approx(expected["cost_per_model"])
                assert page.evaluate("document.querySelectorAll('#cost-day .day').length") == 1
                assert page.evaluate("document.querySelectorAll('#latency .point').length") == 3
                score = page.evaluate("document.querySelectorAll('#feedback .point').length")
                assert score == 1 and expected["feedback"][0]["mean_score"] == pytest.approx(0.8)
                assert TOKEN not in page.evaluate("document.documentElement.outerHTML")
                screenshot(page, "stats.png")
            finally:
                page.close()
    finally:
        router.close()
    assert sum(expected["mix"]["domain"].values()) == len(QUERIES)
