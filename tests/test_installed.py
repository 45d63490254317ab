"""As a JupyterHub image installs it: the wheel, no extras, a fresh environment.

The wheel is built from this checkout and installed with a plain ``pip install`` (and
ipykernel, which every Jupyter image has) into a new virtual environment; then, as an
image recipe would, ``fgs-widgets warmup`` compiles the kernels, and:

* a user who cannot write the installation (site-packages mounted read-only, a home of
  their own) finds every kernel compiled: ``fgs-widgets warmup --check`` compiles
  nothing (`fgs_widgets.engine.kernel_cache` seeds their numba cache);
* the quickstart notebook, and the reference tool's quickstart, run top to bottom in that
  environment's kernel (nbclient), with the outputs `test_notebooks` asserts.

Slow (a few minutes: pip installs ~100 packages, numba compiles every kernel once).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_notebooks import check_quickstart, check_spelunker_quickstart, run

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def _run(args: list, cwd: Path, env: dict | None = None, timeout: float = 900
         ) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh environment with the wheel installed without extras, then warmed up."""
    root = tmp_path_factory.mktemp("installed")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", root / "dist",
          ROOT], cwd=root)
    wheel, = (root / "dist").glob("fgs_widgets-*.whl")
    env = root / "env"
    _run([sys.executable, "-m", "venv", env], cwd=root)
    python = env / "bin" / "python"
    _run([python, "-m", "pip", "install", "--quiet", wheel, "ipykernel"], cwd=root)
    warm = _run([env / "bin" / "fgs-widgets", "warmup"], cwd=root)
    assert "fit" in warm.stdout and "periodogram" in warm.stdout, warm.stdout
    return env


def _site_packages(env: Path) -> Path:
    return next((env / "lib").glob("python3*/site-packages"))


def test_a_plain_install_has_what_the_quickstart_needs_and_no_extras(installed, tmp_path):
    python = installed / "bin" / "python"
    where = _run([python, "-c", "import fgs_widgets, stdatamodels; print(fgs_widgets.__file__)"],
                 cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(_site_packages(installed))
    extras = subprocess.run([python, "-c", "import jupyterlab"], capture_output=True)
    assert extras.returncode != 0  # the demo/test extras were not installed


def test_a_user_of_a_read_only_install_waits_for_no_compile(installed, tmp_path):
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs `unshare -m` (root) to mount the installation read-only")
    package = _site_packages(installed) / "fgs_widgets"
    assert list((package / "engine" / "__pycache__").glob("lm._fit_block_errors-*.nbi"))
    home = tmp_path / "home"
    home.mkdir()
    script = (f"mount --bind -o ro {package} {package} && "
              f"exec {installed / 'bin' / 'fgs-widgets'} warmup --check")
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    env.pop("NUMBA_CACHE_DIR", None)
    checked = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=tmp_path,
                             capture_output=True, text=True, timeout=900,
                             env={k: v for k, v in {**os.environ, **env}.items()
                                  if k != "NUMBA_CACHE_DIR"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = [line for line in checked.stdout.splitlines() if "frames" in line]
    assert len(lines) == 12 and all("loaded from the disk cache" in line for line in lines), \
        checked.stdout
    # the user's own numba cache now holds them; the package folder was not written
    assert str(home / ".cache" / "numba") in checked.stdout


@pytest.fixture
def installed_kernel(installed, tmp_path, monkeypatch) -> str:
    """The installed environment as a Jupyter kernel (its name)."""
    prefix = tmp_path / "jupyter"
    _run([installed / "bin" / "python", "-m", "ipykernel", "install", "--prefix", prefix,
          "--name", "fgs-installed"], cwd=tmp_path)
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    return "fgs-installed"


def test_the_quickstart_runs_in_the_installed_environment(installed_kernel, tmp_path,
                                                          monkeypatch):
    check_quickstart(run("quickstart.ipynb", tmp_path, monkeypatch,
                         kernel_name=installed_kernel))


def test_the_reference_tools_quickstart_runs_in_the_installed_environment(
        installed_kernel, tmp_path, monkeypatch):
    check_spelunker_quickstart(run("spelunker_quickstart.ipynb", tmp_path, monkeypatch,
                                   kernel_name=installed_kernel), tmp_path)
