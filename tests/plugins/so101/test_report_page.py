"""report.html and sweep.html of real evaluations, opened from disk in headless Chromium.

Chromium comes from the system packages (``apt-get install chromium``; ``.ci/run`` installs it) and is
driven through the DevTools protocol with ``websocket-client``. Without it the tests skip, except in CI
(``CI`` set), where they fail.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from salt_vla_so101.evaluator import SO101Evaluator

from salt_vla.evaluation import EpisodeResult, Outcome

pytestmark = pytest.mark.sim

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs chromium with apt-get).")
    pytest.skip(reason)


class Chromium:
    """One headless Chromium with one page, spoken to over the DevTools protocol."""

    def __init__(self, executable: str, profile: Path) -> None:
        import websocket

        self.log = (profile / "chromium.log").open("w")
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--mute-audio",
             "--autoplay-policy=no-user-gesture-required", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Chromium did not start: {(profile / 'chromium.log').read_text()[-2000:]}")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def _receive(self) -> dict[str, Any]:
        message = json.loads(self.socket.recv())
        if "method" in message:
            self.events.append(message)
        return message

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def open(self, path: Path) -> None:
        """Navigate to ``path`` and wait for its load event."""
        self.events.clear()
        self.send("Page.navigate", url=path.resolve().as_uri())
        while not any(e["method"] == "Page.loadEventFired" for e in self.events):
            self._receive()

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads since the last :meth:`open`."""
        found = []
        for event in self.events:
            params = event["params"]
            if event["method"] == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(str(params["args"]))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    executable = os.environ.get("SALT_VLA_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if executable is None:
        _unavailable("no Chromium on PATH (apt-get install chromium)")
    try:
        import websocket  # noqa: F401
    except ImportError:
        _unavailable("websocket-client is not installed (the test extra)")
    browser = Chromium(executable, tmp_path_factory.mktemp("chromium"))
    yield browser
    browser.close()


PLAYS = """(async () => {
  const video = document.querySelector(%s);
  await video.play();
  const start = performance.now();
  while (video.currentTime < 0.2 && performance.now() - start < 10000) await new Promise(r => setTimeout(r, 50));
  return {time: video.currentTime, width: video.videoWidth, error: video.error && video.error.code};
})()"""


def test_report_page_shows_the_numbers_and_plays_the_videos(chromium, tmp_path) -> None:
    evaluator = SO101Evaluator(max_steps=30, image_size=(48, 64))
    evaluator.evaluate("hold", 2, seed=4, out_dir=tmp_path / "run", video=True, progress=False)
    moved = tmp_path / "shared" / "run"  # the folder moves (or is unzipped elsewhere): the links still work
    shutil.move(tmp_path / "run", moved)
    document = json.loads((moved / "report.json").read_text())

    chromium.open(moved / "report.html")
    assert chromium.errors() == []
    shown = chromium.evaluate("Object.fromEntries([...document.querySelectorAll('[data-metric]')]"
                              ".map(e => [e.dataset.metric, e.textContent]))")
    a = document["aggregates"]
    assert shown["episodes"] == str(a["episodes"]) == "2"
    assert shown["success_rate"] == f"{100 * a['success_rate']:.1f}%"
    low, high = a["success_ci95"]
    assert shown["success_ci95"] == f"{100 * low:.1f}% - {100 * high:.1f}%"
    assert shown["pick_rate"] == f"{100 * a['pick_rate']:.1f}%"
    assert chromium.evaluate("document.querySelectorAll('video').length") == 2
    played = chromium.evaluate(PLAYS % "'video'")
    assert played["error"] is None and played["width"] == 64
    assert played["time"] >= 0.2  # H.264 from salt_vla_so101.video decodes and plays in this browser
    assert chromium.errors() == []


def test_sweep_page_and_one_click_outcome_groups(chromium, tmp_path) -> None:
    evaluator = SO101Evaluator(max_steps=30, image_size=(48, 64))
    reports = evaluator.sweep(["hold", "random"], 2, seed=0, out_dir=tmp_path / "sweep", video=True, progress=False)
    chromium.open(tmp_path / "sweep" / "sweep.html")
    assert chromium.errors() == []
    rows = chromium.evaluate("[...document.querySelectorAll('table.side tbody tr')].map(r => "
                             "[r.dataset.seed, r.querySelectorAll('video').length])")
    assert rows == [["0", 2], ["1", 2]]  # both policies, the same seeds, side by side
    played = chromium.evaluate(PLAYS % "'table.side tbody tr:last-child td:last-child video'")
    assert played["error"] is None and played["time"] >= 0.2

    # From the sweep, one click opens a policy's page on the episodes of one outcome.
    outcome = reports[1].episodes[0].outcome.value
    link = chromium.evaluate(f"document.querySelector('table.breakdown tbody tr:last-child a[href$=\"outcome-{outcome}\"]').href")
    chromium.open(tmp_path / "sweep" / "random" / "report.html")
    chromium.evaluate(f"document.querySelector('nav a[data-outcome=\"{outcome}\"]').click()")
    assert chromium.evaluate("location.href") == link
    assert chromium.errors() == []


def test_an_outcome_link_shows_that_group_alone(chromium, tmp_path) -> None:
    report = SO101Evaluator(max_steps=10, image_size=(48, 64)).evaluate(
        "hold", 1, seed=0, out_dir=tmp_path / "run", video=True, progress=False)
    # A second outcome group next to the real episode (hold never picks the block up).
    report.episodes.append(EpisodeResult(seed=7, outcome=Outcome.DROPPED_DURING_TRANSPORT, steps=10, max_height=0.05,
                                         picked=True))
    report.write(tmp_path / "run")
    chromium.open(tmp_path / "run" / "report.html")
    visible = ("[...document.querySelectorAll('section.outcome')]"
               ".filter(s => getComputedStyle(s).display !== 'none').map(s => s.dataset.outcome)")
    assert chromium.evaluate(visible) == ["never_picked_up", "dropped_during_transport"]
    chromium.evaluate("document.querySelector('nav a[data-outcome=\"dropped_during_transport\"]').click()")
    assert chromium.evaluate(visible) == ["dropped_during_transport"]
    chromium.evaluate("document.querySelector('nav a').click()")  # "all"
    assert chromium.evaluate(visible) == ["never_picked_up", "dropped_during_transport"]
    assert chromium.errors() == []
