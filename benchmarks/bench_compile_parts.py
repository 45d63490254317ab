"""What the fit kernels' cold compile spends its time on, before and after issue 27.

Each measurement is a fresh Python process with an empty numba cache folder
(``NUMBA_CACHE_DIR``) that compiles, never runs, the kernels a fit calls for float32
frames (the cal files' dtype):

* **lm.py** (`fgs_widgets.engine.lm.fit_signatures`): with ERR `_fit_block_errors`;
  without ERR the four kernels of the noise model;
* **former** (``lm_baseline.py``, the kernels before issue 27): `fit_chunk_parallel`
  (numba-parallel, the default fit's; with and without ERR one kernel, ``use_errors`` a
  run-time argument), and apart `fit_chunk_serial` (a ray worker's).

numba's compile events (``numba:compile``, one per function and signature, nested as the
compiler descends the call tree) give each function's inclusive and exclusive seconds.
The two kernels of a pair compile at the same time, one process per core (this machine
has 2), so that both see the same load; ``--rounds`` pairs, the median of the per-round
ratios.  What the user waits is the sum of the kernels a fit calls (lm.py's without ERR:
its four kernels, compiled one after the other).

Run: ``python benchmarks/bench_compile_parts.py [--rounds 3]`` (~2-4 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
from numba.core import event

which, kind = sys.argv[1], sys.argv[2]
stack, spans = [], []


class Spans(event.Listener):
    def on_start(self, ev):
        d = ev.data["dispatcher"]
        stack.append((d.py_func.__name__, time.perf_counter(), []))

    def on_end(self, ev):
        name, began, children = stack.pop()
        took = time.perf_counter() - began
        spans.append((name, took, took - sum(children), len(stack)))
        if stack:
            stack[-1][2].append(took)


event.register("numba:compile", Spans())
import numba
import numpy as np

frames = np.zeros((64, 8, 8), np.float32)
errors = np.ones((64, 8, 8), np.float32) if kind == "err" else None
began = time.perf_counter()
if which == "lm.py":
    from fgs_widgets.engine import lm

    calls = lm.fit_signatures(frames, errors)
else:
    import importlib.util
    spec = importlib.util.spec_from_file_location("lm_baseline", sys.argv[3])
    old = importlib.util.module_from_spec(spec)
    sys.modules["lm_baseline"] = old
    spec.loader.exec_module(old)
    kernel = old.fit_chunk_serial if which == "former serial" else old.fit_chunk_parallel
    errs = np.empty((0, 8, 8), np.float32) if errors is None else errors
    calls = [(kernel, (frames, errs, errors is not None, np.empty((0, 7)), False, 50, 1e-8,
                       np.empty((64, old.N_OUT)), 16))]
imported = time.perf_counter() - began
began = time.perf_counter()
kernels = {}
for kernel, args in calls:
    t = time.perf_counter()
    kernel.compile(tuple(numba.typeof(a) for a in args))
    kernels[kernel.py_func.__name__] = time.perf_counter() - t
print(json.dumps({"total": time.perf_counter() - began, "import": imported,
                  "kernels": kernels, "spans": spans}))
"""


def start(which: str, kind: str) -> tuple[subprocess.Popen, str]:
    """A fresh process compiling `which` kernels for `kind` ("err", "noerr"), and its
    numba cache folder (new, empty)."""
    cache = tempfile.mkdtemp(prefix="fgs-compile-parts-")
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    return subprocess.Popen([sys.executable, "-c", CHILD, which, kind,
                             str(HERE / "lm_baseline.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), cache


def finish(started: tuple[subprocess.Popen, str]) -> dict:
    process, cache = started
    try:
        out, err = process.communicate(timeout=1800)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if process.returncode:
        raise SystemExit(f"compile child failed:\n{err[-3000:]}")
    return json.loads(out.splitlines()[-1])


def top(spans: list, n: int = 8) -> str:
    """The functions with the most exclusive compile time (summed over signatures)."""
    by = {}
    for name, _, exclusive, _ in spans:
        by[name] = by.get(name, 0.0) + exclusive
    return ", ".join(f"{k} {v:.1f}" for k, v in sorted(by.items(), key=lambda kv: -kv[1])[:n])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", nargs="+", default=["err", "noerr", "ray"],
                        choices=["err", "noerr", "ray"],
                        help="err, noerr: against the former default fit's kernel; ray: "
                             "against the former ray workers' (serial) kernel")
    args = parser.parse_args()
    every = {"err": ("lm.py", "err", "former", "err"),
             "noerr": ("lm.py", "noerr", "former", "noerr"),
             "ray": ("lm.py", "err", "former serial", "err")}
    pairs = [every[name] for name in args.pairs]
    print(f"bench_compile_parts: cold compiles, float32 frames, {os.cpu_count()} cores, "
          f"{args.rounds} rounds; each pair compiled at the same time, one process each\n")
    last = {}
    for new, new_kind, old, old_kind in pairs:
        ratios, times = [], []
        for _ in range(args.rounds):
            a, b = start(new, new_kind), start(old, old_kind)
            ra, rb = finish(a), finish(b)
            ratios.append(ra["total"] / rb["total"])
            times.append((ra["total"], rb["total"]))
            last[new, new_kind], last[old, old_kind] = ra, rb
        ratios.sort()
        ta = sorted(t[0] for t in times)
        tb = sorted(t[1] for t in times)
        print(f"{new} {'with' if new_kind == 'err' else 'without'} ERR vs {old}: "
              f"{ta[len(ta) // 2]:.1f} s vs {tb[len(tb) // 2]:.1f} s (medians; best "
              f"{ta[0]:.1f} vs {tb[0]:.1f}); new / former per round "
              + ", ".join(f"{r:.2f}" for r in ratios)
              + f"; median {ratios[len(ratios) // 2]:.2f}")
    print("\nper kernel (last round, s):")
    for (which, kind), run in last.items():
        print(f"  {which:<14}{kind:<6} " + ", ".join(
            f"{k} {v:.1f}" for k, v in run["kernels"].items())
            + f"\n{'':<22}most exclusive time: {top(run['spans'])}")


if __name__ == "__main__":
    main()
