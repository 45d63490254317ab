"""Drive notebooks in JupyterLab in headless Chromium (Debian's /usr/bin/chromium + Playwright).

Follows ../shared/reference/browser-testing.md: one fresh, isolated JupyterLab per run
(private config, data, runtime, IPython, settings and workspace dirs; random token; free
port), Chromium launched with flags that keep it off the network, console errors collected,
and everything stopped through its own handle.

`JupyterHub` (or the `jupyterhub` context manager) serves the same behind a JupyterHub
with a base URL, all on loopback.

Typical use (pytest or a script)::

    from browser.harness import notebook_in_lab, write_notebook

    write_notebook(tmp_path / "demo.ipynb", ["import ipywidgets as W", "W.IntSlider()"])
    with notebook_in_lab(tmp_path / "demo.ipynb") as run:
        run.page.wait_for_selector(".widget-slider")
        run.screenshot("demo.png")
        assert run.errors == []

`JupyterLab` and `Browser` can also be used on their own (e.g. one server, many pages).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "Browser",
    "JupyterHub",
    "JupyterLab",
    "LabRun",
    "browser_page",
    "chromium_missing",
    "configurable_http_proxy",
    "delay_kernel_answers_cell",
    "hub_login",
    "hub_missing",
    "jupyterhub",
    "jupyterlab",
    "notebook_errors",
    "notebook_in_lab",
    "open_and_run_all",
    "open_notebook",
    "run_all",
    "run_all_cells",
    "voila",
    "voila_server",
    "wait_for_all_cells_run",
    "wait_for_app_kernel_idle",
    "wait_for_file_line",
    "wait_for_kernel_idle",
    "wait_for_lines",
    "write_notebook",
]

CHROMIUM = "/usr/bin/chromium"
#: screenshots and logs worth keeping after a run (gitignored)
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
#: quiet Chromium on a closed network (no Google services, no updates, no QUIC probes)
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
_DELAY_CELL = """\
# a hub's network: every message the kernel sends on IOPub (widget updates, custom
# messages, status) leaves {ms:g} ms later, in order; the kernel is never blocked
import queue as _delay_queue, threading as _delay_threading, time as _delay_time
def _delay_kernel_answers(ms):
    kernel = get_ipython().kernel
    send = kernel.session.send
    pending = _delay_queue.Queue()
    def sender():
        while True:
            due, args, kwargs = pending.get()
            wait = due - _delay_time.monotonic()
            if wait > 0:
                _delay_time.sleep(wait)
            send(*args, **kwargs)
    _delay_threading.Thread(target=sender, daemon=True, name="fgs-delay").start()
    def delayed(stream, *args, **kwargs):
        if stream is not kernel.iopub_socket:
            return send(stream, *args, **kwargs)
        pending.put((_delay_time.monotonic() + ms / 1e3, (stream, *args), kwargs))
        return None
    kernel.session.send = delayed
_delay_kernel_answers({ms!r})
"""


def delay_kernel_answers_cell(ms: float) -> str:
    """A notebook cell that delays everything the kernel sends to the browser on IOPub by
    ``ms`` milliseconds, in order and without blocking the kernel (a remote hub's round
    trip, seen from the browser).  Put it first: it applies from the next message on.
    """
    return _DELAY_CELL.format(ms=float(ms))


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def chromium_missing(executable: str = CHROMIUM) -> str | None:
    """Why a browser test cannot run here, or None when it can."""
    if not Path(executable).exists():
        return f"{executable} not found (apt-get install chromium; never `playwright install`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


def write_notebook(path: str | os.PathLike, cells: Sequence[str]) -> Path:
    """Write code cells as a notebook with a kernelspec.

    Without ``metadata.kernelspec`` JupyterLab opens a "Select Kernel" dialog and the
    kernel never starts.
    """
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path = Path(path)
    nbformat.write(notebook, path)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    """A private JupyterLab server on a free loopback port, stopped by its own handle.

    Parameters
    ----------
    root_dir : path
        Folder served (the notebooks to open).
    workdir : path, optional
        Where its settings, workspaces, config, runtime and IPython dirs go (a new temp
        dir, removed on stop, when not given).
    extra_args : sequence of str
        More command-line options for ``python -m jupyterlab``.
    env : dict, optional
        Extra environment variables (e.g. for the kernel: it inherits the server's).
    startup_timeout : float
        Seconds to wait for ``/api/status``.
    """

    def __init__(self, root_dir: str | os.PathLike, *, workdir: str | os.PathLike | None = None,
                 extra_args: Sequence[str] = (), env: dict[str, str] | None = None,
                 startup_timeout: float = 60.0) -> None:
        self.root_dir = Path(root_dir).resolve()
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="fgs-lab-"))
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "jupyterlab.log"
        self.startup_seconds = float("nan")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab", **query: Any) -> str:
        """Address of ``path`` with the token (``reset`` etc. as keyword flags)."""
        params = [f"token={self.token}"] + [
            key if value is True else f"{key}={value}" for key, value in query.items()]
        return f"{self.base_url}/{path.lstrip('/')}?{'&'.join(params)}"

    def start(self) -> JupyterLab:
        dirs = {name: self.workdir / name for name in
                ("settings", "workspaces", "config", "data", "runtime", "ipython")}
        for folder in dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        # the news toast shows even with news_url=None; this setting stops it
        notification = dirs["settings"] / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false"}))
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(dirs["config"]),
               "JUPYTER_DATA_DIR": str(dirs["data"]),  # no user kernelspecs shadow python3
               "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "IPYTHONDIR": str(dirs["ipython"]),
               **self.env}
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
            f"--port={self.port}", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}", "--ServerApp.port_retries=0",
            "--LabApp.news_url=None", "--LabApp.check_for_updates_class="
            "jupyterlab.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={dirs['settings']}",
            f"--LabApp.workspaces_dir={dirs['workspaces']}",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            *self.extra_args,
        ]
        started = time.perf_counter()
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     cwd=self.root_dir)
        log.close()  # the child keeps its own descriptor
        status = f"{self.base_url}/api/status?token={self.token}"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n"
                                   f"{self.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(status, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.perf_counter() - started > self.startup_timeout:
                self.stop()
                raise TimeoutError(f"JupyterLab not up after {self.startup_timeout} s:\n"
                                   f"{self.log_text()[-3000:]}")
            time.sleep(0.2)
        self.startup_seconds = time.perf_counter() - started
        return self

    def log_text(self) -> str:
        """The server's (and its kernels') combined output so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Terminate the server (it shuts its kernels down), then remove a private workdir."""
        _terminate(self.proc)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _terminate(proc: subprocess.Popen | None) -> None:
    """Terminate a server process; kill it if it has not exited 10 s later."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def configurable_http_proxy() -> str | None:
    """JupyterHub's proxy (an npm package): ``$FGS_CHP``, the venv's, or the one on PATH.

    ``make hub-deps`` installs it into the venv (``npm install --global --prefix .venv
    configurable-http-proxy``), which puts it next to the venv's python.
    """
    candidates = [os.environ.get("FGS_CHP"),
                  str(Path(sys.executable).parent / "configurable-http-proxy"),
                  str(Path(sys.prefix) / "bin" / "configurable-http-proxy"),
                  shutil.which("configurable-http-proxy")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def hub_missing() -> str | None:
    """Why a JupyterHub browser test cannot run here, or None when it can."""
    import importlib.util

    for module, pip in (("jupyterhub", "jupyterhub"), ("notebook", "'notebook>=7'")):
        if importlib.util.find_spec(module) is None:
            return f"the {module} package is not installed (pip install {pip})"
    if configurable_http_proxy() is None:
        return ("configurable-http-proxy not found (make hub-deps, i.e. npm install --global "
                "--prefix .venv configurable-http-proxy; or set FGS_CHP to its path)")
    if shutil.which("node") is None:
        return "node is not on PATH (configurable-http-proxy runs on Node.js)"
    return None


_HUB_CONFIG = '''\
# written by tests/browser/harness.py: a private JupyterHub for one test run
import json

cfg = json.loads({cfg!r})
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = cfg["port"]
c.JupyterHub.base_url = cfg["base_url"]  # no bind_url: with base_url it binds :8000 on all
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = cfg["hub_port"]
c.JupyterHub.db_url = "sqlite:///" + cfg["db"]
c.JupyterHub.cookie_secret_file = cfg["cookie_secret_file"]
c.JupyterHub.pid_file = cfg["pid_file"]
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.log_level = "INFO"
c.ConfigurableHTTPProxy.command = [cfg["chp"]]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%d" % cfg["api_port"]
c.ConfigurableHTTPProxy.auth_token = cfg["proxy_token"]
c.ConfigurableHTTPProxy.pid_file = cfg["proxy_pid_file"]
c.ConfigurableHTTPProxy.should_start = True
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = cfg["password"]
c.Authenticator.allowed_users = set(cfg["users"])
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = cfg["home_template"]
c.Spawner.notebook_dir = cfg["home_template"]
c.Spawner.cmd = cfg["cmd"]
c.Spawner.args = cfg["args"]
c.Spawner.default_url = cfg["default_url"]
c.Spawner.environment = cfg["environment"]
c.Spawner.start_timeout = cfg["timeout"]
c.Spawner.http_timeout = cfg["timeout"]


def _per_user(spawner):
    url = cfg["users"].get(spawner.user.name)
    if url:
        spawner.default_url = url


c.Spawner.pre_spawn_hook = _per_user
'''


class JupyterHub:
    """A private JupyterHub behind ``base_url`` on loopback, stopped by its own handle.

    The hub, its configurable-http-proxy and the single-user servers it spawns (with
    their kernels) are child processes of one ``python -m jupyterhub``; `stop` terminates
    it (it stops its proxy and servers), then kills whatever of that process tree is
    still alive, and removes the private workdir (database, cookie secret, pid files,
    config, the users' homes).

    The hub uses the test-only ``DummyAuthenticator`` with a shared password and
    ``SimpleLocalProcessSpawner``: each user's server runs as the current user with
    ``HOME`` = ``<workdir>/home/<name>`` (so its Jupyter config, data, runtime and
    IPython dirs are private), started with this interpreter
    (``sys.executable -m jupyterhub.singleuser``), in that home.

    Parameters
    ----------
    users : dict
        User name -> the URL its server opens by default (``/lab``; ``/tree`` is
        Notebook 7).  Only these users may log in.
    env : dict, optional
        Environment of the single-user servers and their kernels (they do not inherit
        the hub's, apart from PATH, LANG and the like).
    base_url : str
        The hub's prefix; every page lives under it.
    proxy : str, optional
        configurable-http-proxy executable (default: `configurable_http_proxy()`).
    """

    def __init__(self, users: dict[str, str], *, env: dict[str, str] | None = None,
                 base_url: str = "/hubprefix/", workdir: str | os.PathLike | None = None,
                 proxy: str | None = None, startup_timeout: float = 60.0,
                 spawn_timeout: int = 120) -> None:
        if not (base_url.startswith("/") and base_url.endswith("/")):
            raise ValueError(f"base_url must start and end with '/': {base_url!r}")
        self.users = dict(users)
        self.env = dict(env or {})
        self.base_url = base_url
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="fgs-hub-"))
        self.proxy = proxy or configurable_http_proxy()
        if self.proxy is None:
            raise FileNotFoundError(hub_missing())
        self.startup_timeout = startup_timeout
        self.spawn_timeout = spawn_timeout
        self.port, self.hub_port, self.api_port = _free_ports(3)
        self.password = secrets.token_hex(12)
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "jupyterhub.log"
        self.startup_seconds = float("nan")
        #: pids of the hub's process tree that had to be killed on stop (should stay empty)
        self.killed: list[str] = []
        #: pids of the hub's process tree seen at stop
        self.tree: list[int] = []

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "") -> str:
        """Address of ``path`` under the base URL (``hub/login``, ``user/<name>/lab``)."""
        return f"{self.origin}{self.base_url}{path.lstrip('/')}"

    def home(self, user: str) -> Path:
        """The user's home and notebook dir (made, with quiet Lab settings, on first use)."""
        home = self.workdir / "home" / user
        settings = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab"
        news = settings / "apputils-extension" / "notification.jupyterlab-settings"
        if not news.exists():
            news.parent.mkdir(parents=True, exist_ok=True)
            news.write_text(json.dumps({"fetchNews": "false"}))
        return home

    def start(self) -> JupyterHub:
        for user in self.users:
            self.home(user)
        args = ["--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                # window.jupyterapp: run cells and read kernel state through the app
                "--LabApp.expose_app_in_browser=True",
                "--JupyterNotebookApp.expose_app_in_browser=True"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--ServerApp.allow_root=True")
        cfg = {
            "port": self.port, "hub_port": self.hub_port, "api_port": self.api_port,
            "base_url": self.base_url, "db": str(self.workdir / "jupyterhub.sqlite"),
            "cookie_secret_file": str(self.workdir / "jupyterhub_cookie_secret"),
            "pid_file": str(self.workdir / "jupyterhub.pid"),
            "proxy_pid_file": str(self.workdir / "jupyterhub-proxy.pid"),
            "chp": self.proxy, "proxy_token": secrets.token_hex(32),
            "password": self.password, "users": self.users,
            "home_template": str(self.workdir / "home" / "{username}"),
            "cmd": [sys.executable, "-m", "jupyterhub.singleuser"], "args": args,
            "default_url": "/lab", "environment": self.env, "timeout": self.spawn_timeout,
        }
        # the hub reads its cookie secret from a file that only its owner may read
        secret = self.workdir / "jupyterhub_cookie_secret"
        secret.write_text(secrets.token_hex(32))
        secret.chmod(0o600)
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(_HUB_CONFIG.format(cfg=json.dumps(cfg)))
        started = time.perf_counter()
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)], stdout=log,
            stderr=subprocess.STDOUT, cwd=self.workdir,
            env={key: value for key, value in os.environ.items()
                 if key != "CONFIGPROXY_AUTH_TOKEN"})
        log.close()
        health = self.url("hub/health")  # through the proxy: both are up
        while True:
            if self.proc.poll() is not None:
                tail = self.log_text()[-3000:]
                self.stop()
                raise RuntimeError(f"JupyterHub exited with {self.proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(health, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.perf_counter() - started > self.startup_timeout:
                tail = self.log_text()[-3000:]
                self.stop()
                raise TimeoutError(f"JupyterHub not up after {self.startup_timeout} s:\n{tail}")
            time.sleep(0.2)
        self.startup_seconds = time.perf_counter() - started
        return self

    def processes(self) -> list[dict[str, Any]]:
        """The hub's process tree now: pid, command line and HOME of each descendant."""
        import psutil

        found = []
        if self.proc is None or self.proc.poll() is not None:
            return found
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                found.append({"pid": child.pid, "cmdline": child.cmdline(),
                              "home": child.environ().get("HOME")})
            except psutil.Error:
                pass
        return found

    def log_text(self) -> str:
        """The hub's, proxy's, single-user servers' and kernels' combined output so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM the hub (it stops its proxy and user servers), wait, kill what is left."""
        import psutil

        if self.proc is not None and self.proc.poll() is None:
            try:
                tree = psutil.Process(self.proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                tree = []
            self.tree = [child.pid for child in tree]
            self.proc.terminate()
            try:
                self.proc.wait(40)  # a user server gets SIGINT, then 10 + 5 + 5 s at most
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            _, alive = psutil.wait_procs(tree, timeout=10)
            for child in alive:
                try:
                    self.killed.append(f"{child.pid} {' '.join(child.cmdline())[:200]}")
                    child.kill()
                except psutil.NoSuchProcess:
                    pass
            psutil.wait_procs(alive, timeout=5)
        # a hub that died on its own leaves its proxy running (by design: it outlives hub
        # restarts); its pid file says which process it is
        pid_file = self.workdir / "jupyterhub-proxy.pid"
        try:
            proxy = psutil.Process(int(pid_file.read_text().strip()))
            if "configurable-http-proxy" in " ".join(proxy.cmdline()):
                self.killed.append(f"{proxy.pid} {' '.join(proxy.cmdline())[:200]}")
                proxy.kill()
                proxy.wait(5)
        except (OSError, ValueError, psutil.Error):
            pass  # no pid file (the hub removes it when it stops its proxy), or gone
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> JupyterHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def jupyterhub(users: dict[str, str], env: dict[str, str] | None = None,
               **options: Any) -> Iterator[JupyterHub]:
    """A running `JupyterHub` (its log's tail is added to an exception raised inside)."""
    hub = JupyterHub(users, env=env, **options)
    hub.start()
    try:
        yield hub
    except Exception as exc:
        exc.add_note(f"JupyterHub log (tail):\n{hub.log_text()[-3000:]}")
        raise
    finally:
        hub.stop()


def hub_login(page, hub: JupyterHub, user: str, timeout_ms: float = 120_000) -> None:
    """Log in through the hub's login page, as a person does.

    The hub spawns the user's server on the way (its "starting" page follows the spawn
    and then redirects) and lands on the server's default URL (``hub.users[user]``);
    returns once that page's app has restored its layout and the network is quiet, so a
    next ``goto`` aborts nothing the landing page still loads.
    """
    page.goto(hub.url("hub/login"))
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password)
    page.click("#login_submit")
    page.wait_for_url(f"**{hub.base_url}user/{user}{hub.users[user]}**", timeout=timeout_ms)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=timeout_ms)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    page.wait_for_load_state("networkidle", timeout=timeout_ms)


def wait_for_app_kernel_idle(page, timeout_ms: float = 90_000) -> None:
    """Wait until the current notebook's kernel is idle, through ``window.jupyterapp``
    (JupyterLab and Notebook 7 alike; needs ``expose_app_in_browser``)."""
    page.wait_for_function(
        "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"
        "?.status === 'idle'", timeout=timeout_ms)


def run_all_cells(page) -> None:
    """Start 'Run All Cells' through the app's command registry (does not wait for it)."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def wait_for_all_cells_run(page, timeout_ms: float = 180_000) -> None:
    """Wait until every code cell of the current notebook has an execution count and the
    kernel is idle (after `run_all_cells`)."""
    page.wait_for_function("""() => {
        const panel = window.jupyterapp?.shell?.currentWidget;
        if (!panel?.content?.widgets) return false;
        const code = panel.content.widgets.filter(cell => cell.model.type === 'code');
        return code.length > 0 && code.every(cell => cell.model.executionCount !== null)
            && panel.sessionContext?.session?.kernel?.status === 'idle';
    }""", timeout=timeout_ms)


def notebook_errors(page) -> list[str]:
    """The error outputs of the current notebook's cells (``ename: evalue``)."""
    return page.evaluate("""() => {
        const panel = window.jupyterapp.shell.currentWidget;
        const errors = [];
        for (const cell of panel.content.widgets) {
            const outputs = cell.model.outputs ? cell.model.outputs.toJSON() : [];
            for (const out of outputs) {
                if (out.output_type === 'error') errors.push(`${out.ename}: ${out.evalue}`);
            }
        }
        return errors;
    }""")


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held open together while chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextmanager
def voila_server(path: str | os.PathLike, env: dict[str, str] | None = None, *,
                 show_tracebacks: bool = True, startup_timeout: float = 60.0
                 ) -> Iterator[tuple[str, str]]:
    """Serve a notebook or a folder with Voila on a free loopback port; yields
    ``(base_url, token)``.

    ``show_tracebacks=False`` is Voila's default, a deployment's: a failed cell shows only
    Voila's generic sentence.  Voila has no status endpoint and ``GET /`` runs the
    notebook, so any HTTP answer on a static path means it is up.  Its connection files go
    to a private runtime folder (``--Voila.connection_dir_root``), not the system temp
    dir; the log is kept beside the notebook, or in the folder (``voila.log``).  Notebook
    7's lab extension, when installed beside Voila 0.5, fails to load in its pages
    ("The getter for the shared module is not a function", RUNTIME-012) and has nothing to
    offer a dashboard: it is deny-listed, as the README tells hub administrators.
    """
    path = Path(path).resolve()
    folder = path if path.is_dir() else path.parent
    port, token = _free_port(), secrets.token_hex(16)
    workdir = Path(tempfile.mkdtemp(prefix="fgs-voila-"))
    log_path = folder / "voila.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}",
         f"--token={token}", f"--show_tracebacks={show_tracebacks}",
         "--VoilaConfiguration.extension_denylist=@jupyter-notebook/lab-extension",
         f"--Voila.connection_dir_root={workdir}", str(path)],
        stdout=log, stderr=subprocess.STDOUT, cwd=folder,
        env={**os.environ, **(env or {})})
    log.close()
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"voila exited with {proc.returncode}:\n"
                                   f"{log_path.read_text(errors='replace')[-2000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/voila/static/", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # an answer: the server is up
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"voila did not answer in {startup_timeout} s") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", token
    finally:
        _terminate(proc)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def voila(notebook: str | os.PathLike, env: dict[str, str] | None = None,
          startup_timeout: float = 60.0) -> Iterator[str]:
    """`voila_server` for one notebook, tracebacks shown; yields its URL with the token."""
    with voila_server(notebook, env, startup_timeout=startup_timeout) as (base, token):
        yield f"{base}/?token={token}"


class Browser:
    """Headless Debian Chromium through Playwright; pages collect console errors.

    Parameters
    ----------
    executable : str
        Chromium binary (Playwright's own download does not work offline).
    viewport : (int, int)
        Page size in CSS pixels.
    ignore : sequence of callables
        Predicates on an error text; matching errors are not collected.
    """

    def __init__(self, executable: str = CHROMIUM, *, viewport: tuple[int, int] = (1280, 900),
                 headless: bool = True, ignore: Sequence[Callable[[str], bool]] = ()) -> None:
        self.executable = executable
        self.viewport = viewport
        self.headless = headless
        self.ignore = list(ignore)
        self.errors: list[str] = []
        self._playwright = None
        self.browser = None

    def start(self) -> Browser:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        try:
            self.browser = self._playwright.chromium.launch(
                executable_path=self.executable, headless=self.headless, args=list(CHROMIUM_ARGS))
        except Exception:
            self._playwright.stop()
            raise
        return self

    def _collect(self, text: str) -> None:
        if not any(rule(text) for rule in self.ignore):
            self.errors.append(text)

    def new_page(self, default_timeout_ms: float = 60_000):
        """A page whose console errors, page errors and failed requests go to `errors`."""
        width, height = self.viewport
        page = self.browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(default_timeout_ms)
        page.on("console", lambda m: self._collect(f"console: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self._collect(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self._collect(
            f"requestfailed: {r.url} ({r.failure})"))
        return page

    def stop(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self.browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None

    def __enter__(self) -> Browser:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_kernel_idle(page, timeout_ms: float = 60_000) -> None:
    """Wait until the status bar says the kernel is Idle (a hidden "Idle" can match first)."""
    page.wait_for_function(
        "() => (document.querySelector('#jp-main-statusbar') || {}).innerText?.includes('Idle')",
        timeout=timeout_ms)


def open_notebook(page, lab: JupyterLab, name: str, timeout_ms: float = 60_000) -> None:
    """Open ``name`` (relative to the server's root) in a fresh layout; wait for an idle kernel."""
    page.goto(lab.url(f"lab/tree/{name}", reset=True))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_ms)
    wait_for_kernel_idle(page, timeout_ms)


def run_all(page) -> None:
    """Run > Run All Cells from the menu bar (JupyterLab 4 has no default Run All shortcut)."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def wait_for_lines(path: str | os.PathLike, predicate: Callable[[list[str]], bool],
                   timeout: float = 10.0, interval: float = 0.05,
                   split: Callable[[str], list[str]] = str.split) -> list[str]:
    """Poll a file the kernel appends to until ``predicate(lines)``; return the lines.

    ``split`` turns the text into lines (default: whitespace-separated tokens).

    Raises
    ------
    TimeoutError
        With the last lines seen.
    """
    path = Path(path)
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while True:
        if path.exists():
            lines = split(path.read_text())
            if predicate(lines):
                return lines
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path.name}: condition not met in {timeout} s; "
                               f"last lines {lines[-10:]}")
        time.sleep(interval)


@dataclass
class LabRun:
    """A notebook opened and run in JupyterLab: the page and what is needed to check it."""

    page: Any
    lab: JupyterLab
    browser: Browser
    root: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> list[str]:
        """Console errors, page errors and failed requests so far."""
        return self.browser.errors

    def mark(self, name: str, since: float) -> None:
        """Record seconds elapsed since ``since`` (a `time.perf_counter` value)."""
        self.timings[name] = round(time.perf_counter() - since, 2)

    def screenshot(self, name: str, *, selector: str | None = None,
                   directory: Path = ARTIFACTS) -> Path:
        """Save a PNG of the page (or of one element) into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        if selector is None:
            self.page.screenshot(path=str(path), full_page=True)
        else:
            self.page.locator(selector).first.screenshot(path=str(path))
        return path


@contextmanager
def notebook_in_lab(notebook: str | os.PathLike, *, run: bool = True,
                    browser_options: dict[str, Any] | None = None,
                    lab_options: dict[str, Any] | None = None) -> Iterator[LabRun]:
    """Serve the notebook's folder, open the notebook, Run All, yield a `LabRun`.

    The server and the browser stop on exit, also after a failure (the server log's
    tail is then attached to the exception as a note).  Test a copy of a notebook you
    care about: JupyterLab's autosave may write the executed version back.
    """
    notebook = Path(notebook).resolve()
    started = time.perf_counter()
    lab = JupyterLab(notebook.parent, **(lab_options or {}))
    browser = Browser(**(browser_options or {}))
    result = LabRun(page=None, lab=lab, browser=browser, root=notebook.parent)
    try:
        lab.start()
        result.timings["server_up"] = round(lab.startup_seconds, 2)
        browser.start()
        result.page = browser.new_page()
        step = time.perf_counter()
        open_notebook(result.page, lab, notebook.name)
        result.mark("kernel_idle", step)
        if run:
            run_all(result.page)
        yield result
    except Exception as exc:
        exc.add_note(f"JupyterLab log (tail):\n{lab.log_text()[-2000:]}")
        raise
    finally:
        step = time.perf_counter()
        browser.stop()
        result.mark("browser_stop", step)
        step = time.perf_counter()
        lab.stop()
        result.mark("server_stop", step)
        result.mark("total", started)


# -- the first harness' functional API (tests/browser/test_app_browser.py uses it) ---------
@contextmanager
def jupyterlab(root: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """A `JupyterLab` serving ``root``; yields (base url, token)."""
    with JupyterLab(root, env=env) as lab:
        yield lab.base_url, lab.token


@contextmanager
def browser_page(viewport: dict[str, int] | None = None) -> Iterator[tuple[Any, list[str]]]:
    """A Chromium page; yields (page, errors), errors collecting console/page errors."""
    size = (viewport["width"], viewport["height"]) if viewport else (1400, 1000)
    with Browser(viewport=size) as browser:
        yield browser.new_page(), browser.errors


def open_and_run_all(page, url: str, token: str, notebook: str) -> None:
    """Open ``notebook`` in JupyterLab at ``url``, wait for the kernel, and Run All Cells."""
    page.goto(f"{url}/lab/tree/{notebook}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    wait_for_kernel_idle(page, 90_000)
    run_all(page)


def wait_for_file_line(path: Path, predicate: Callable[[str], bool],
                       timeout: float = 20.0) -> str:
    """Poll a file the kernel appends to until its last line satisfies ``predicate``."""
    try:
        lines = wait_for_lines(path, lambda lines: bool(lines) and predicate(lines[-1]),
                               timeout=timeout, split=str.splitlines)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None
    return lines[-1]
