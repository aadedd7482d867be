"""/playground in a real browser: headless Chromium driven over the DevTools protocol.

Debian's ``/usr/bin/chromium`` is started with ``--remote-debugging-port=0`` and driven with
a small client over the ``websockets`` package (no Selenium, no chromedriver). The test
types into the page with real input events, clicks with real mouse events, waits for the
routing decision and the streamed answer, and saves a screenshot to
``artifacts/playground.png``. It skips when Chromium is not installed; it installs nothing.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smartroute_graph.serving.app import create_app
from tests.support.servers import fake_router, live_server

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TOKEN = "playground-token-0123456789abcdef"
USER_KEY = "sk-proj-PLAYGROUNDKEY0123456789abc"
QUERY = "Write a Python function that merges two sorted lists"


class DevTools:
    """A minimal Chrome DevTools Protocol client for one page target."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        # Entered as a context manager: the form every websockets version supports.
        self._connection = connect(ws_url, max_size=None, open_timeout=10)
        self._ws = self._connection.__enter__()
        self._ids = itertools.count(1)

    def call(self, method: str, timeout: float = 15, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == ident:  # events (no id) are skipped
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expression}")

    def type_into(self, selector: str, text: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=text)

    def click(self, selector: str) -> None:
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box[0],
                y=box[1],
                button="left",
                clickCount=1,
            )

    def text(self, selector: str) -> str:
        return str(self.evaluate(f"document.querySelector({json.dumps(selector)}).textContent"))

    def close(self) -> None:
        self._connection.__exit__(None, None, None)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[str]:
    """A headless Chromium; yields the DevTools HTTP endpoint."""
    if not CHROMIUM.exists():
        pytest.skip(
            "Chromium is not installed at /usr/bin/chromium (Debian: apt-get install -y "
            "chromium chromium-driver); the playground browser test needs it"
        )
    pytest.importorskip("websockets.sync.client", reason="the DevTools client needs websockets")
    profile = tmp_path / "profile"
    log = (tmp_path / "chromium.log").open("w")
    process = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,900",
            "about:blank",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    "Chromium did not start: " + (tmp_path / "chromium.log").read_text()[-2000:]
                )
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


def _page(endpoint: str) -> DevTools:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        targets = httpx.get(f"{endpoint}/json/list", timeout=5).json()
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return DevTools(pages[0]["webSocketDebuggerUrl"])
        time.sleep(0.1)
    raise AssertionError("Chromium has no page target")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_playground_routes_and_streams_in_a_browser(browser: str) -> None:
    app = create_app(fake_router(), server_token=TOKEN)
    with live_server(app) as server:
        expected = httpx.post(
            f"{server.url}/test-selection",
            json={"query": QUERY},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()["decision"]
        page = _page(browser)
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

            shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
        finally:
            page.close()
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "playground.png"
    target.write_bytes(shot)
    assert target.stat().st_size > 20_000  # a rendered page, not a blank canvas
    width, height = _png_size(target.read_bytes())
    assert width >= 800 and height >= 600
