"""Installed as a JupyterHub image installs it: size, time, and the first fit's wait.

Builds the wheel of this checkout, then in fresh virtual environments (pip's cache as it
is on this machine: the times are with downloads cached, as on an image builder that
rebuilds):

* **install**: ``pip install <wheel>`` without stdatamodels, then ``pip install
  stdatamodels`` on top: the size and time that library (a core dependency, so that a
  plain install writes the bundled sample) adds;
* **first full fit**: a fresh Python process loads the sample program and presses the
  full fit at once (``Session.fit_frames("full", block=True)``); the seconds from the
  press to the table, in four installations:

  - ``cold``: a plain install, nothing warmed (every user's first session today);
  - ``warmed``: after ``fgs-widgets warmup`` (what ``make demo`` and an image recipe run);
  - ``read-only``: the warmed install mounted read-only, a user with an empty home (a
    hub user): the kernels come from the package's cache (`engine.kernel_cache`);
  - ``read-only, numba alone``: the same without our seeding (numba's own locators):
    numba skips the read-only folder and compiles.

The read-only rows need ``unshare -m`` (root).  ~6 minutes on 2 cores.

Run: ``python benchmarks/bench_install.py``
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STOCK_LOCATORS = "UserProvidedCacheLocator,InTreeCacheLocator,UserWideCacheLocator"
CHILD = r"""
import json, time
began = time.perf_counter()
from fgs_widgets import Session
session = Session()
session.load_sample()
loaded = time.perf_counter()
session.fit_frames("full", block=True)
print(json.dumps({"import+load": loaded - began, "press->fit": time.perf_counter() - loaded,
                  "message": session.fit_job.message}))
"""


def sh(args: list, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    if done.returncode:
        raise SystemExit(f"{args}: {done.stdout}\n{done.stderr}")
    return done


def size_mb(env: Path) -> float:
    site = next((env / "lib").glob("python3*/site-packages"))
    return sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 2**20


def timed(args: list, **kw) -> float:
    began = time.perf_counter()
    sh(args, **kw)
    return time.perf_counter() - began


def first_fit(env: Path, home: Path, *, read_only: bool = False, stock: bool = False,
              own_cache: bool = False) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    variables = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    variables.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
                     FGS_CACHE_DIR=str(home / "fgs"))
    if own_cache:  # compile into the user's folder: the installation stays unwarmed
        variables["NUMBA_CACHE_DIR"] = str(home / "numba")
    if stock:
        variables["NUMBA_CACHE_LOCATOR_CLASSES"] = STOCK_LOCATORS
    command = [env / "bin" / "python", "-c", CHILD]
    if read_only:
        package = next((env / "lib").glob("python3*/site-packages")) / "fgs_widgets"
        command = ["unshare", "-m", "sh", "-c",
                   f"mount --bind -o ro {package} {package} && exec \"$0\" -c \"$1\"",
                   env / "bin" / "python", CHILD]
    done = sh(command, env=variables, cwd=home)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-install-"))
    try:
        sh([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", ROOT])
        wheel, = (work / "dist").glob("*.whl")
        env = work / "env"
        sh([sys.executable, "-m", "venv", env])
        pip = [env / "bin" / "python", "-m", "pip", "install", "-q"]
        sh([*pip, "--upgrade", "pip"])
        core = json.loads(sh([sys.executable, "-c", (
            "import json, tomllib; print(json.dumps(tomllib.load(open("
            f"{str(ROOT / 'pyproject.toml')!r}, 'rb'))['project']['dependencies']))")]).stdout)
        others = [d for d in core if not d.startswith("stdatamodels")]
        seconds = timed(pip + others)
        sh([*pip, "--no-deps", wheel])
        before = size_mb(env)
        added = timed(pip + [d for d in core if d.startswith("stdatamodels")])
        after = size_mb(env)
        share = 100 * (after - before) / before
        print(f"install without stdatamodels: {before:,.0f} MB in {seconds:.0f} s; "
              f"stdatamodels adds {after - before:,.1f} MB ({share:.1f} %) in {added:.1f} s")

        rows = [("cold (plain install)", first_fit(env, work / "u1", own_cache=True))]
        began = time.perf_counter()
        sh([env / "bin" / "fgs-widgets", "warmup"], cwd=work)
        print(f"fgs-widgets warmup (cold): {time.perf_counter() - began:.0f} s")
        rows.append(("warmed", first_fit(env, work / "u2")))
        if shutil.which("unshare") and subprocess.run(["unshare", "-m", "true"]).returncode == 0:
            rows.append(("read-only, warmed", first_fit(env, work / "u3", read_only=True)))
            rows.append(("read-only, numba alone", first_fit(env, work / "u4", read_only=True,
                                                             stock=True)))
        else:
            print("(no `unshare -m`: the read-only rows need root)")
        print(f"\n{'installation':<24} {'import+load':>11} {'press->fit':>10}  message")
        for name, r in rows:
            print(f"{name:<24} {r['import+load']:>10.1f}s {r['press->fit']:>9.2f}s  "
                  f"{r['message']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
