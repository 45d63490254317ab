"""Run a notebook in a real JupyterLab and drive it with Playwright + Debian's Chromium.

Follows ../shared/reference/browser-testing.md: one fresh, isolated server per
test (private settings, workspaces, config, runtime and IPython dirs), the
page opened with ``&reset``, Run All from the menu bar, console errors
collected, everything stopped by its own handle.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab(root: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """A JupyterLab server on a free port serving ``root``; yields (base url, token)."""
    port, token = _free_port(), secrets.token_hex(16)
    private = root / ".lab"
    settings = private / "settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
     ).write_text(json.dumps({"fetchNews": "false"}))
    environment = {**os.environ, **(env or {}),
                   "JUPYTER_CONFIG_DIR": str(private / "cfg"),
                   "JUPYTER_RUNTIME_DIR": str(private / "rt"),
                   "IPYTHONDIR": str(private / "ipython")}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
               f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={private / 'ws'}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(private / "server.log", "w")
    process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {(private / 'server.log').read_text()}")
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start within 60 s") from None
                time.sleep(0.2)
        yield url, token
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def browser_page(viewport: dict | None = None):
    """A Chromium page; yields (page, errors) where errors collects console/page errors."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport=viewport or {"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: errors.append(f"requestfailed: {r.url}"))
        try:
            yield page, errors
        finally:
            browser.close()


def open_and_run_all(page, url: str, token: str, notebook: str) -> None:
    """Open ``notebook`` in JupyterLab, wait for the kernel, and Run All Cells."""
    page.goto(f"{url}/lab/tree/{notebook}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    page.wait_for_function(
        "() => (document.querySelector('#jp-main-statusbar')||{}).innerText?.includes('Idle')",
        timeout=90_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def wait_for_file_line(path: Path, predicate, timeout: float = 20.0) -> str:
    """Poll a file the kernel appends to until its last line satisfies ``predicate``."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            if lines:
                last = lines[-1]
                if predicate(last):
                    return last
        time.sleep(0.2)
    raise AssertionError(f"{path.name}: last line {last!r} never satisfied the condition")
