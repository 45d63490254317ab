"""The quickstart's App as a Voila page (a dashboard: no notebook around it), narrow."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from harness import ARTIFACTS, Browser, _free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _voila(notebook: Path, workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """Start Voila on a free loopback port; (process, page url).  It has no status
    endpoint, and any HTTP answer on the port means it is up."""
    port, token = _free_port(), secrets.token_hex(16)
    runtime = workdir / "runtime"
    runtime.mkdir()
    log = (workdir / "voila.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}",
         f"--token={token}", "--show_tracebacks=True",
         f"--Voila.connection_dir_root={runtime}", str(notebook)],
        stdout=log, stderr=subprocess.STDOUT, cwd=notebook.parent, env=env)
    log.close()
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited: {(workdir / 'voila.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/voila/static/", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # an answer: the server is up
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                proc.terminate()
                raise TimeoutError("voila did not answer in 60 s") from None
            time.sleep(0.2)
    return proc, f"http://127.0.0.1:{port}/?token={token}"


def test_app_as_a_narrow_voila_page(tmp_path, chromium):
    import os

    notebook = tmp_path / "quickstart.ipynb"
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", notebook)
    env = {**os.environ, "FGS_CACHE_DIR": str(tmp_path / "cache"),
           "FGS_MAST_SERVER": "http://127.0.0.1:9"}
    proc, url = _voila(notebook, tmp_path, env)
    try:
        with Browser(viewport=(720, 1000)) as browser:
            page = browser.new_page(default_timeout_ms=180_000)
            # the template's icon font comes from a CDN: answer it here (no network)
            page.route("**/*", lambda route: route.fulfill(status=200, body="")
                       if not route.request.url.startswith("http://127.0.0.1") else
                       route.continue_())
            page.goto(url)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.fgs-timeseries-panel path')]"
                ".some(p => (p.getAttribute('d') || '').length > 1000)")
            page.wait_for_selector("canvas.fgs-frame-canvas")
            page.wait_for_timeout(1500)
            ARTIFACTS.mkdir(exist_ok=True)
            page.locator(".fgs-timeseries-panel").first.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=str(ARTIFACTS / "voila-narrow.png"))
            widths = page.evaluate(
                "() => { const a = document.querySelector('.fgs-app');"
                " return [a.scrollWidth, a.clientWidth, document.documentElement.scrollWidth,"
                " window.innerWidth]; }")
            assert widths[0] - widths[1] <= 1, f"the App overflows its page: {widths}"
            assert widths[2] <= widths[3] + 1, f"the page scrolls sideways: {widths}"
            # every panel at its readable height, and hover works here too
            heights = page.eval_on_selector_all(".fgs-timeseries-panel",
                                                "els => els.map(e => e.offsetHeight)")
            assert heights and min(heights) >= 150, heights
            panel = page.locator(".fgs-timeseries-panel").first
            panel.scroll_into_view_if_needed()
            box = panel.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
            page.wait_for_function(
                "() => document.querySelector('.fgs-ts-readout')?.innerText.startsWith('t = ')",
                timeout=15_000)
            serious = [e for e in browser.errors if "favicon" not in e]
            assert not serious, serious
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
