"""The quickstart's App behind a JupyterHub with a base URL, in JupyterLab and in Notebook 7.

One hub for the module (`hub` fixture): loopback only, ``base_url='/hubprefix/'``,
``DummyAuthenticator`` with a password, ``SimpleLocalProcessSpawner`` (one home per user,
the venv's python), configurable-http-proxy from ``make hub-deps``.  Each front-end has
its own user, so its own single-user server and kernel: ``lab-user`` lands on ``/lab``,
``nb7-user`` on Notebook 7's ``/tree``.  Per front-end: log in through the hub's page
(which spawns the server), open the quickstart by URL, run all cells through the app's
command registry, then hover, click, play and the periodogram (the panel's Periodogram
button), on the page and in Python (files the kernel appends to).  Every request the page
makes, websockets included, must stay under the base URL on the hub's port, and no
console error may appear but the front-end's own, listed below.

Needs chromium, jupyterhub, notebook>=7 and configurable-http-proxy: skipped without
them, a failure with ``FGS_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass

import pytest
from app_steps import (
    LINKED_LOG_CELL,
    PERIODOGRAM_LOG_CELL,
    assert_views_tell_the_truth,
    click_picks_frame,
    hover_panel,
    periodogram_by_button,
    play_advances,
    quickstart_with_logs,
    wait_for_app,
    wait_for_periodogram,
)
from harness import (
    ARTIFACTS,
    Browser,
    JupyterHub,
    hub_login,
    notebook_errors,
    run_all_cells,
    wait_for_all_cells_run,
    wait_for_app_kernel_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BASE_URL = "/hubprefix/"
#: the series whose periodogram the test asks for (the notebook computes x_mean and y_mean)
SERIES = "flux"
#: Notebook 7.6's own errors, seen as well with a plain `jupyter notebook` and no widget
#: of ours on the page: its shortcuts extension reads the schema of a plugin whose
#: settings failed to load ("Settings failed to load for
#: (@jupyterlab/application-extension:context-menu)" is logged just before)
NOTEBOOK7_NOISE = ("pageerror: Cannot read properties of undefined (reading 'schema')",)
#: Voila's Lab-preview extension on Notebook 7's file browser (gone when it is disabled)
TREE_NOISE = ("console: Cannot convert undefined or null to object",)


@dataclass(frozen=True)
class FrontEnd:
    user: str
    landing: str  #: the server's default URL (c.Spawner.default_url for this user)
    notebook: str  #: the quickstart's address under /user/<name>/
    screenshot: str
    noise: tuple[str, ...] = ()  #: its own errors on the notebook page
    landing_noise: tuple[str, ...] = ()  #: and on its landing page


FRONT_ENDS = {
    "lab": FrontEnd("lab-user", "/lab", "lab/tree/quickstart.ipynb", "hub-lab-app.png"),
    "notebook7": FrontEnd("nb7-user", "/tree", "notebooks/quickstart.ipynb",
                          "hub-notebook7-app.png", NOTEBOOK7_NOISE,
                          NOTEBOOK7_NOISE + TREE_NOISE),
}


@pytest.fixture(scope="module")
def hub(hub_deps, tmp_path_factory):
    """One JupyterHub for both front-ends; on teardown nothing of it may be left running."""
    import psutil

    cache = tmp_path_factory.mktemp("hub-cache")
    env = {"FGS_CACHE_DIR": str(cache), "FGS_MAST_SERVER": "http://127.0.0.1:9"}
    handle = JupyterHub({front.user: front.landing for front in FRONT_ENDS.values()},
                        env=env, base_url=BASE_URL)
    handle.start()
    try:
        yield handle
    finally:
        started = time.perf_counter()
        handle.stop()
        print(f"\nhub stopped in {time.perf_counter() - started:.1f} s "
              f"({len(handle.tree)} processes under it)")
    alive = []
    for pid in handle.tree:
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{pid} {' '.join(process.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    assert not handle.killed, f"had to kill what the hub left: {handle.killed}"
    assert not alive, f"left running: {alive}"
    assert not handle.workdir.exists()


def _outside(urls: list[str], hub: JupyterHub, user: str) -> list[str]:
    """The requests not under the hub's own pages or this user's server."""
    allowed = tuple(prefix + path for prefix in (hub.origin, hub.origin.replace("http", "ws", 1))
                    for path in (f"{BASE_URL}hub/", f"{BASE_URL}user/{user}/"))
    return [url for url in urls
            if not url.startswith(allowed) and not url.startswith(("data:", "blob:"))]


def _serious(errors: list[str], noise: tuple[str, ...], user: str) -> list[str]:
    # the spawn page follows the spawn with an event stream; the hub's redirect to the
    # ready server ends it
    progress = re.compile(rf"requestfailed: \S+{BASE_URL}hub/api/users/{user}/server/"
                          r"progress\?\S* \(net::ERR_ABORTED\)$")
    return [error for error in errors if error not in noise and not progress.match(error)]


@pytest.mark.parametrize("name", list(FRONT_ENDS))
def test_app_behind_jupyterhub(hub, name):
    front = FRONT_ENDS[name]
    home = hub.home(front.user)
    quickstart_with_logs(home, (LINKED_LOG_CELL, PERIODOGRAM_LOG_CELL))
    log, periodograms = home / "linked.log", home / "periodograms.log"
    timings: dict[str, float] = {}
    urls: list[str] = []

    def mark(step: str, since: float) -> float:
        now = time.perf_counter()
        timings[step] = round(now - since, 1)
        return now

    # tall: frame viewer, series and periodogram in one screenshot
    with Browser(viewport=(1400, 1700)) as browser:
        page = browser.new_page(default_timeout_ms=120_000)
        page.on("request", lambda request: urls.append(request.url))
        page.on("websocket", lambda socket: urls.append(socket.url))
        try:
            t = start = time.perf_counter()
            hub_login(page, hub, front.user)  # the hub spawns the server on the way
            t = mark("login_spawn_landing", t)
            landing_errors = list(browser.errors)
            browser.errors.clear()
            # the user's server: this venv's python, in the user's own home
            servers = [proc for proc in hub.processes()
                       if proc["cmdline"][1:3] == ["-m", "jupyterhub.singleuser"]
                       and proc["home"] == str(home)]
            assert [proc["cmdline"][0] for proc in servers] == [sys.executable], \
                hub.processes()

            page.goto(hub.url(f"user/{front.user}/{front.notebook}"))
            wait_for_app_kernel_idle(page)
            t = mark("notebook_kernel_idle", t)
            run_all_cells(page)
            wait_for_app(page)
            t = mark("app_drawn", t)
            # the log cells come last: on a busy machine the full fit and the science cells
            # still run when the App is drawn, and a click before them would go unlogged
            wait_for_all_cells_run(page)  # the full fit, the notebook's periodograms, science
            assert notebook_errors(page) == []
            t = mark("all_cells_run", t)

            # hover names a frame; a click picks it in the frame viewer and in Python
            readout, frame, point = hover_panel(page)
            click_picks_frame(page, point, frame, log)
            # play moves on; the pause sends the frame it stopped on to Python
            first, last = play_advances(page, log)
            t = mark("hover_click_play", t)

            x_mean_peaks = wait_for_periodogram(page, "x_mean")  # computed after the fit
            # the App's action: the panel's Periodogram button on a series without one
            series_peaks, rows = periodogram_by_button(page, SERIES, periodograms)
            # the sample's flux is noise after each file's level is removed: said in words
            assert series_peaks[0].startswith("no significant peak"), series_peaks
            assert_views_tell_the_truth(page)
            t = mark("periodogram", t)

            page.evaluate("() => document.querySelector('.fgs-app').scrollIntoView()")
            page.wait_for_timeout(500)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / front.screenshot))
            mark("total", start)
        except Exception as exc:
            exc.add_note(f"browser errors: {browser.errors}")
            exc.add_note(f"JupyterHub log (tail):\n{hub.log_text()[-3000:]}")
            raise
        errors = list(browser.errors)

    print(f"\n{name}: {timings}; hover '{readout[:60]}…', clicked frame {frame}, "
          f"played {first}->{last}, peaks x_mean {x_mean_peaks}, {SERIES} {series_peaks} "
          f"({rows[0]}), {len(urls)} requests")
    assert not _outside(urls, hub, front.user), _outside(urls, hub, front.user)
    server = f"{BASE_URL}user/{front.user}/"
    # what makes the App went through the hub: the widget front-ends and the kernel's socket
    for needed in ("lab/extensions/bqplot/", "lab/extensions/anywidget/", "api/kernels/"):
        assert any(server + needed in url for url in urls), f"no request for {server}{needed}"
    assert any(url.startswith("ws://") and "/channels" in url for url in urls), "no kernel socket"
    assert not _serious(landing_errors, front.landing_noise, front.user), landing_errors
    assert not _serious(errors, front.noise, front.user), errors
