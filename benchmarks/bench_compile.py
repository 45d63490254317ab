"""First use: numba's compile of the fit kernels, and what the background warm-up saves.

Each run is a fresh Python process (nothing compiled in memory) with its own numba cache
folder (``NUMBA_CACHE_DIR``) and its own fit cache, on the bundled sample program
(14,336 frames, written once by this script):

* **cold**: an empty numba cache; the Session's warm-up (`fgs_widgets.runtime.warmup`)
  compiles every fit kernel in the background, timed per kernel, and then the ray
  workers' kernel ("ray", unless ``--no-ray``);
* **warm**: the same numba cache again: the kernels load from disk;
* **load -> first fit**: what the user waits, from the data being loaded to the full
  fit's table (``Session.fit_frames("full", executor="serial", block=True)``), for a
  fit pressed at once, with the warm-up off (``FGS_WARMUP=0``: the fit compiles) and
  on (it waits for the warm-up's fit kernel), with a cold and a warm numba cache, and
  for a fit pressed once the warm-up has finished (the user looked at the data
  first; measured by waiting for the warm-up, not by sleeping).  "fit kernel ready"
  is when a fit pressed then no longer waits for a compile.

No sleeps: every number is a wait the user would see.  ~2 minutes on 2 cores (each
cold run compiles for real).

Run: ``python benchmarks/bench_compile.py [--no-ray]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
mode, paths = sys.argv[1], [p for p in sys.argv[2:] if p != "--ray"]
began = time.perf_counter()
from fgs_widgets.runtime import warmup
from fgs_widgets.model import Session

session = Session()
session.read_files(paths)                       # the warm-up starts here (unless off)
loaded = time.perf_counter()
warm = warmup.running()[0] if warmup.running() else None
if mode == "after":                             # the user looks at the data meanwhile
    warm.wait()
pressed = time.perf_counter()
session.fit_frames("full", executor="serial", block=True)
out = {"import+load": loaded - began, "wait": time.perf_counter() - pressed,
       "message": session.fit_job.message}
if warm is not None:
    warm.wait()
    out["warmup"] = dict(warm.timings)
    if mode == "after" and "--ray" in sys.argv:  # the ray workers' kernel, cold too
        data = session.data
        ray = warmup.warm_kernels(data.frames, data.errors, kernels=["ray"], background=False)
        out["ray"] = ray.timings["ray"]
    # steps run one after the other from warm.started: the fit kernel is the 2nd
    out["fit_ready_after_load"] = (warm.started + warm.timings["display"]
                                   + warm.timings["fit"] - loaded)
print(json.dumps(out))
"""

def child(code: str, args: list[str], numba_dir: Path, **env: str) -> dict:
    """Run `code` in a fresh process with this numba cache folder; its JSON line."""
    fit_cache = tempfile.mkdtemp(prefix="fgs-bench-")
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(numba_dir),
                   "FGS_CACHE_DIR": fit_cache, **env}
    try:
        done = subprocess.run([sys.executable, "-c", code, *args], env=environment,
                              capture_output=True, text=True, timeout=900)
    finally:
        shutil.rmtree(fit_cache, ignore_errors=True)
    if done.returncode:
        raise SystemExit(f"benchmark child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-ray", action="store_true",
                        help="skip the cold compile of the ray workers' kernel")
    args = parser.parse_args()
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="fgs-bench-compile-"))
    try:
        run(root, args.no_ray)
    finally:
        shutil.rmtree(root, ignore_errors=True)  # the sample program and numba caches
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")


def run(root: Path, no_ray: bool) -> None:
    """The runs and their report, with every file under `root`."""
    os.environ["FGS_CACHE_DIR"] = str(root / "fgs")
    from fgs_widgets.archive.sample import sample_program

    paths = [str(p) for p in sample_program(root / "sample").paths]
    shared = root / "numba-shared"
    # empty cache: compiles (and then the ray workers' kernel)
    cold = child(CHILD, ["after", *paths, *([] if no_ray else ["--ray"])], shared)
    warm = child(CHILD, ["now", *paths], shared)              # same cache: loads
    warm_off = child(CHILD, ["now", *paths], shared, FGS_WARMUP="0")
    off = child(CHILD, ["now", *paths], root / "numba-off", FGS_WARMUP="0")
    now = child(CHILD, ["now", *paths], root / "numba-now")

    print(f"bench_compile: sample program, 14,336 frames, {os.cpu_count()} cores, "
          "fresh processes\n")
    print(f"{'kernel':<28}{'cold compile s':>16}{'warm load s':>14}")
    for name, seconds in cold["warmup"].items():
        print(f"{name:<28}{seconds:16.2f}{warm['warmup'][name]:14.2f}")
    if "ray" in cold:
        print(f"{'ray (workers, read-only)':<28}{cold['ray']:16.2f}{'':>14}")
    total_cold = sum(cold["warmup"].values()) + cold.get("ray", 0.0)
    total_warm = sum(warm["warmup"].values())
    print(f"{'total':<28}{total_cold:16.2f}{total_warm:14.2f}")
    print("  ('display' includes importing numba: ~1 s of its warm load)\n")
    print(f"{'load -> first full fit':<44}{'user waits s':>14}")
    rows = [("pressed at once, warm-up off (cold cache)", off),
            ("pressed at once, warm-up on (cold cache)", now),
            ("pressed after the warm-up (cold cache)", cold),
            ("pressed at once, warm-up off (warm cache)", warm_off),
            ("pressed at once, warm-up on (warm cache)", warm)]
    for label, result in rows:
        print(f"{label:<44}{result['wait']:14.2f}")
    ready = now.get("fit_ready_after_load")
    if ready is not None:
        print(f"\nwith the warm-up, the fit kernel is ready {ready:.1f} s after the load "
              "(cold): a fit pressed later waits for no compile")


if __name__ == "__main__":
    main()
