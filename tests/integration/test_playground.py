"""/playground in a real browser: headless Chromium driven over the DevTools protocol.

Debian's ``/usr/bin/chromium`` is started with ``--remote-debugging-port=0`` and driven with
a small client over the ``websockets`` package (no Selenium, no chromedriver). The test
types into the page with real input events, clicks with real mouse events, waits for the
routing decision and the streamed answer, and saves a screenshot to
``artifacts/playground.png``. It skips when Chromium is not installed; it installs nothing.
"""

from __future__ import annotations

import httpx
import pytest

from smartroute_graph.serving.app import create_app
from tests.support.browser import open_page, screenshot
from tests.support.servers import fake_router, live_server

pytestmark = pytest.mark.integration

TOKEN = "playground-token-0123456789abcdef"
USER_KEY = "sk-proj-PLAYGROUNDKEY0123456789abc"
QUERY = "Write a Python function that merges two sorted lists"


def test_playground_routes_and_streams_in_a_browser(browser: str) -> None:
    app = create_app(fake_router(), server_token=TOKEN)
    with live_server(app) as server:
        expected = httpx.post(
            f"{server.url}/test-selection",
            json={"query": QUERY},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()["decision"]
        page = open_page(browser)
        try:
            page.call("Page.enable")
            page.call("Page.navigate", url=f"{server.url}/playground")
            page.wait_for("document.body && document.body.dataset.ready === '1'")
            assert "token required" in page.text("#status")
            assert page.evaluate(
                "!document.getElementById('token-box').hidden && "
                "getComputedStyle(document.getElementById('token-box'))"
                ".display !== 'none'"
            )

            # An empty query is refused in the page itself.
            page.click("#route-btn")
            assert "empty" in page.wait_for("document.getElementById('error').textContent")

            # Without the token the server's 401 message is shown.
            page.type_into("#query", QUERY)
            page.click("#route-btn")
            page.wait_for("document.getElementById('error').textContent.includes('token')")
            assert "this server needs a token" in page.text("#error")

            page.type_into("#token", TOKEN)
            page.click("#route-btn")
            page.wait_for("document.getElementById('model').textContent !== ''")
            assert page.text("#model") == expected["model"]
            assert page.text("#domain") == expected["domain"] == "coding"
            assert page.text("#complexity").startswith(expected["complexity"])
            assert page.text("#reason") == expected["reason"]
            assert page.text("#cost").startswith(f"${expected['estimated_cost_usd']:.6f}")
            assert (
                page.evaluate("getComputedStyle(document.getElementById('error')).display")
                == "none"
            )
            bars = page.evaluate(
                "[...document.querySelectorAll('#domain-bars .bar')].map(b => "
                "[b.dataset.label, parseFloat(b.querySelector('.fill').style.width)])"
            )
            assert len(bars) == 7 and bars[0][0] == "coding"
            assert bars[0][1] == pytest.approx(expected["domain_probs"]["coding"] * 100, abs=0.1)
            assert sum(width for _, width in bars) == pytest.approx(100, abs=1)
            assert page.evaluate("document.querySelectorAll('#complexity-bars .bar').length") == 3

            # A key typed in beside the token is the only key that request may spend; the
            # server's models run on the operator's credentials, so the page shows why not.
            page.type_into("#api-key", USER_KEY)
            page.click("#ask-btn")
            page.wait_for("document.getElementById('error').textContent.includes('only that key')")

            # With the token alone, the answer streams in from /v1/chat/completions.
            page.evaluate("document.getElementById('api-key').value = ''")
            page.click("#ask-btn")
            page.wait_for(
                "document.getElementById('answer-meta').textContent.startsWith('answered by')"
            )
            answer = page.text("#answer")
            assert answer == f"answer from {expected['model']}: all good here"
            assert page.text("#answer-meta").startswith(f"answered by {expected['model']}")

            # The secrets stay in the page's memory: nothing stored, nothing in the markup.
            assert page.evaluate("localStorage.length + sessionStorage.length") == 0
            assert page.evaluate("document.cookie") == ""
            html = page.evaluate("document.documentElement.outerHTML")
            assert USER_KEY not in html and TOKEN not in html

            screenshot(page, "playground.png")
        finally:
            page.close()
