"""report.html in a real browser: headless Chromium opens it from disk, every image loads, the
console stays free of errors, and a screenshot is taken (driven over the DevTools protocol)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

pytestmark = pytest.mark.slow
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _chromium() -> str | None:
    """A Chromium binary on PATH, else None (the test then skips: tests install nothing)."""
    return next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)


class DevTools:
    """A minimal Chrome DevTools Protocol client for one page: calls, and the events seen."""

    def __init__(self, url: str) -> None:
        self.socket = connect(url, max_size=None, open_timeout=30)
        self.events: list[dict] = []
        self.last_id = 0

    def call(self, method: str, **params) -> dict:
        self.last_id += 1
        self.socket.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.last_id:
                assert "error" not in message, message
                return message["result"]
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.1))))


@pytest.fixture
def browser_page(tmp_path: Path):
    binary = _chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (apt install chromium, or any of: " + ", ".join(BROWSERS) + ")")
    profile = tmp_path / "profile"
    process = subprocess.Popen([binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.skip("Chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        devtools = DevTools(page["webSocketDebuggerUrl"])
        yield devtools
        devtools.socket.close()
    finally:
        process.kill()
        process.wait()


def test_report_renders_with_every_image_and_no_console_error(tiny_project: Path, browser_page: DevTools,
                                                               tmp_path: Path) -> None:
    report = tiny_project / "reports/report.html"
    for domain in ("Page", "Runtime", "Log"):
        browser_page.call(f"{domain}.enable")
    browser_page.call("Page.navigate", url=report.resolve().as_uri())
    browser_page.wait_for("Page.loadEventFired")
    images = json.loads(browser_page.call("Runtime.evaluate", returnByValue=True, expression=(
        "JSON.stringify(Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]))"))["result"]["value"])
    assert len(images) >= 3  # training curves, confusion matrix, sample thumbnails
    assert [alt for alt, complete, width in images if not (complete and width > 0)] == []
    headings = browser_page.call("Runtime.evaluate", returnByValue=True, expression=(
        "Array.from(document.querySelectorAll('h2')).map(h => h.textContent).join('|')"))["result"]["value"]
    for section in ("Compared with the last commit", "Data", "Validation", "Training", "Test metrics", "Model"):
        assert section in headings.split("|")
    errors = [e for e in browser_page.events if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    screenshot = base64.b64decode(browser_page.call("Page.captureScreenshot", format="png",
                                                    captureBeyondViewport=True)["data"])
    (tmp_path / "report.png").write_bytes(screenshot)
    assert screenshot.startswith(b"\x89PNG") and len(screenshot) > 20_000
