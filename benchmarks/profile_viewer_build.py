"""Where the time goes when the viewer is built on a large Session (kernel side only).

Builds a Session with N synthetic frames (float32 (N, 8, 8): a Gaussian star at a
jittering position plus noise, split into files with short gaps between them, and a
quick-fit table shaped like `fgs_widgets.engine.quick_fit`'s), then times each step
with `time.perf_counter` (best of ``--repeat``), profiles it with cProfile (top
functions by cumulative time) and measures its peak of new Python/numpy memory with
tracemalloc:

* ``session.data = data`` and ``session.quick_fit = table``;
* ``TimeseriesViewer(session, columns=("flux", "x_mean", "y_mean"))``;
* ``FrameViewer(session)``;
* ``App(session, columns=...)``;
* ``App(Session())`` first, then data and quick fit assigned (the panels follow).

Widgets are built outside a kernel (their comms go nowhere), so this is the Python
work only, not the websocket traffic; ``bench_browser.py`` measures the whole path.
At the end, each step's time ratio between the largest and smallest N is printed: with
4x the frames a ratio well above 4 means a superlinear step.

With ``--files`` the frames come from real fine-guide files (`read_fine_guide`, then the
first N frames; the quick fit is computed once with `fgs_widgets.engine.quick_fit`), to
find what synthetic data does not show.

Run: ``python benchmarks/profile_viewer_build.py [--points 1000000 4000000] [--top 12]
[--files PATH ...]``
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from fgs_widgets.data import GuideStarData
from fgs_widgets.engine.psf import PARAMETERS
from fgs_widgets.model import Session

COLUMNS = ("flux", "x_mean", "y_mean")
CADENCE_S = 0.0625
#: frames per synthetic file (a new segment, after a gap of GAP_S seconds)
FILE_FRAMES = 250_000
GAP_S = 10.0
#: distinct noisy frames drawn, then repeated (drawing 4e6 x 64 normals takes minutes)
BANK = 4096


def synthetic_data(n: int, seed: int = 0) -> tuple[GuideStarData, pd.DataFrame]:
    """N realistic-looking frames and a quick-fit table of the same length.

    Returns
    -------
    data : GuideStarData
        float32 frames (a Gaussian star with jittered centre on a background, noise),
        several files with gaps, time in MJD.
    quick_fit : pandas.DataFrame
        `PARAMETERS` columns (float64 rows of one (7, N) array, as `quick_fit` makes) and
        a categorical ``status``.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:8, 0:8].astype(np.float32)
    cx = 3.5 + rng.normal(0, 0.05, BANK).astype(np.float32)
    cy = 3.4 + rng.normal(0, 0.05, BANK).astype(np.float32)
    star = 2e4 * np.exp(-((xx - cx[:, None, None]) ** 2 + (yy - cy[:, None, None]) ** 2)
                        / (2 * 0.9**2))
    bank = (star + 50 + rng.normal(0, 10, (BANK, 8, 8))).astype(np.float32)
    pick = np.arange(n) % BANK
    frames = bank[pick]  # one fresh (N, 8, 8) float32 array, N x 256 B
    drift = (1 + 1e-3 * np.sin(np.arange(n) * 2 * np.pi / 50_000)).astype(np.float32)
    frames *= drift[:, None, None]
    flux = bank.sum(axis=(1, 2), dtype=np.float64)[pick] * drift

    segments = (np.arange(n) // FILE_FRAMES).astype(np.int32)
    n_files = int(segments[-1]) + 1 if n else 0
    seconds = np.arange(n) * CADENCE_S + segments * GAP_S
    time_ = 60000.0 + seconds / 86400.0
    first = np.arange(n_files) * FILE_FRAMES
    counts = np.minimum(FILE_FRAMES, n - first)
    products = pd.DataFrame({
        "file_name": [f"jw01234001001_gs-fg_{i:03d}_cal.fits" for i in range(n_files)],
        "path": ["synthetic"] * n_files, "program": ["01234"] * n_files,
        "observation": ["001"] * n_files, "visit": ["001"] * n_files,
        "guider": ["GUIDER1"] * n_files, "gs_id": ["S0"] * n_files,
        "data_start": time_[first], "data_end": time_[first + counts - 1],
        "first_frame": first, "n_frames": counts})
    data = GuideStarData(frames=frames, time=time_, flux=flux,
                         quality=np.zeros(n, dtype=np.uint16), segments=segments,
                         products=products)

    out = np.empty((len(PARAMETERS), n))
    out[0] = 2e4 * drift
    out[1] = cx[pick] + rng.normal(0, 0.003, n)
    out[2] = cy[pick] + rng.normal(0, 0.003, n)
    out[3], out[4], out[5], out[6] = 0.9, 0.9, 0.0, 50.0
    table = dict(zip(PARAMETERS, out, strict=True))
    table["status"] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8),
                                                categories=["converged", "bad_input"])
    return data, pd.DataFrame(table, copy=False)


def synthetic_session(n: int, seed: int = 0) -> Session:
    """A Session holding `synthetic_data` (data and quick fit)."""
    data, table = synthetic_data(n, seed)
    session = Session()
    session.data = data
    session.quick_fit = table
    return session


def real_source(paths: list[str]) -> Callable[[int], tuple[GuideStarData, pd.DataFrame]]:
    """The first N frames of real files (and their quick fit), as `synthetic_data` gives."""
    from fgs_widgets.archive.reader import read_fine_guide
    from fgs_widgets.engine.quickfit import quick_fit

    started = time.perf_counter()
    data = read_fine_guide(paths)
    read = time.perf_counter() - started
    started = time.perf_counter()
    table = quick_fit(data.frames)
    print(f"read {len(data):,} frames in {read:.1f} s ({data.frames.dtype}, "
          f"{len(data.products)} files); quick fit in {time.perf_counter() - started:.1f} s")

    def first(n: int, seed: int = 0) -> tuple[GuideStarData, pd.DataFrame]:
        if n > len(data):
            raise ValueError(f"the files hold only {len(data):,} frames")
        if n == len(data):
            return data, table
        return data[:n], table.iloc[:n].reset_index(drop=True)

    return first


# -- the steps ---------------------------------------------------------------------------
#: a step: (setup, work); setup (untimed) makes work's argument, work is what is measured
Step = tuple[Callable[[], Any], Callable[[Any], Any]]


def steps(data: GuideStarData, table: pd.DataFrame) -> dict[str, Step]:
    """The measured steps, each on a fresh Session.

    Widgets are not closed afterwards (``App.close`` is not idempotent); each step's
    Session and its widgets are just dropped (see `_quiet_widget_del`).
    """
    from fgs_widgets.widgets import App, FrameViewer, TimeseriesViewer

    def loaded() -> Session:
        session = Session()
        session.data = data
        session.quick_fit = table
        return session

    def assign_data(session: Session) -> None:
        session.data = data

    def assign_both(session: Session) -> None:
        session.data = data
        session.quick_fit = table

    def app_then_data(session: Session) -> App:
        app = App(session, columns=COLUMNS)
        session.data = data
        session.quick_fit = table
        return app

    return {
        "Session.data = data": (Session, assign_data),
        "Session.data + quick_fit": (Session, assign_both),
        "TimeseriesViewer(3 columns)": (loaded, lambda s: TimeseriesViewer(s, columns=COLUMNS)),
        "FrameViewer": (loaded, FrameViewer),
        "App(session)": (loaded, lambda s: App(s, columns=COLUMNS)),
        "App(Session()) then data": (Session, app_then_data),
    }


def _quiet_widget_del() -> list[str]:
    """Count, instead of printing, the ValueErrors collected widgets raise in ``__del__``.

    ``Widget.__del__`` calls ``close``; ``JobProgress.close`` (and ``App.close``) call
    ``unobserve`` without a guard, so a panel closed by its parent and then collected
    raises ``ValueError: list.remove(x)``.  Harmless here, but it would bury the output.
    """
    seen: list[str] = []
    default = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, ValueError) and "__del__" in repr(unraisable.object):
            seen.append(repr(unraisable.object))
        else:
            default(unraisable)

    sys.unraisablehook = hook
    return seen


def timed(step: Step, repeat: int) -> float:
    setup, work = step
    best = float("inf")
    for _ in range(repeat):
        argument = setup()
        gc.collect()
        started = time.perf_counter()
        work(argument)
        best = min(best, time.perf_counter() - started)
        del argument
    return best


def profiled(step: Step, top: int) -> str:
    setup, work = step
    argument = setup()
    gc.collect()
    profile = cProfile.Profile()
    profile.runcall(work, argument)
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    # keep only the table (drop pstats' header lines about ordering and file names)
    lines = text.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(line[:150] for line in lines[start:] if line.strip())


def peak_memory(step: Step) -> int:
    """Peak bytes allocated (above the start) while the step runs, numpy buffers included."""
    setup, work = step
    argument = setup()
    gc.collect()
    tracemalloc.start()
    work(argument)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--repeat", type=int, default=2, help="timings: best of this many")
    parser.add_argument("--top", type=int, default=12, help="cProfile rows per step")
    parser.add_argument("--no-profile", action="store_true", help="timings and memory only")
    parser.add_argument("--files", nargs="+", metavar="PATH",
                        help="real fine-guide files, folders or globs instead of synthetic data")
    args = parser.parse_args()
    source = real_source(args.files) if args.files else synthetic_data

    swallowed = _quiet_widget_del()
    # cold start (imports, numba cache load, the JS bundle read) on a small session first,
    # so the first N does not pay it (more than 2 x width_px points, or the decimation
    # kernel is never called and its numba load lands in the first N's timing)
    started = time.perf_counter()
    small = synthetic_data(20_000)
    for setup, work in steps(*small).values():
        work(setup())
    print(f"cold start (imports + first build on 20,000 frames): "
          f"{time.perf_counter() - started:.2f} s\n")

    results: dict[int, dict[str, tuple[float, int]]] = {}
    for n in args.points:
        started = time.perf_counter()
        try:
            data, table = source(n)
        except ValueError as exc:
            print(f"=== N = {n:,}: skipped ({exc})")
            continue
        print(f"=== N = {n:,} frames ({data.frames.nbytes / 2**30:.2f} GiB of frames; "
              f"prepared in {time.perf_counter() - started:.1f} s)")
        results[n] = {}
        for name, step in steps(data, table).items():
            seconds = timed(step, args.repeat)
            peak = peak_memory(step)
            results[n][name] = (seconds, peak)
            print(f"  {name:<28} {seconds * 1e3:9.1f} ms   peak +{peak / 2**20:8.1f} MiB")
            if not args.no_profile:
                print("    " + profiled(step, args.top).replace("\n", "\n    "))
        del data, table
        gc.collect()
        print()

    if len(results) > 1:
        small_n, large_n = min(results), max(results)
        factor = large_n / small_n
        print(f"scaling {small_n:,} -> {large_n:,} frames ({factor:.0f}x the data):")
        for name in results[small_n]:
            (t0, m0), (t1, m1) = results[small_n][name], results[large_n][name]
            ratio = t1 / t0 if t0 > 0 else float("nan")
            flag = "  <-- superlinear" if ratio > 1.5 * factor else ""
            print(f"  {name:<28} {t0 * 1e3:8.1f} -> {t1 * 1e3:8.1f} ms  ({ratio:4.1f}x)   "
                  f"peak {m0 / 2**20:7.1f} -> {m1 / 2**20:7.1f} MiB{flag}")
    if swallowed:
        print(f"\n({len(swallowed)} ValueErrors from Widget.__del__ -> close() on collected "
              "panels were silenced: JobProgress.close / App.close are not idempotent)")


if __name__ == "__main__":
    main()
