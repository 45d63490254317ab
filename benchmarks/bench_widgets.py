"""Kernel-side cost of a zoom in the TimeseriesViewer at 10^6 points per series.

A zoom sets the shared x scale.  With the front-end bundle the browser redraws the lines
itself (`SeriesLines`) and the kernel only follows the window (session window, y ranges,
ticks, flagged marks, status); without it (``client_side=False``) the kernel also
re-decimates every panel and sends the lines.  Printed: median kernel time per zoom
(3 panels) of both, the line points each sends per zoom, and a naive baseline that hands
all points in the window to the marks (what bqplot alone would do).

Run: ``python benchmarks/bench_widgets.py [--points 1000000]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from fgs_widgets.data import GuideStarData
from fgs_widgets.model import Session
from fgs_widgets.widgets.timeseries import TimeseriesViewer


def session(n: int) -> Session:
    rng = np.random.default_rng(0)
    t = 60000.0 + np.arange(n) * 0.0625 / 86400
    data = GuideStarData(
        frames=np.zeros((n, 8, 8), dtype=np.float32), time=t, flux=rng.normal(1e5, 300, n),
        quality=np.zeros(n, dtype=np.uint16), segments=np.zeros(n, dtype=np.int32),
        products=pd.DataFrame({"file_name": ["a"], "path": ["a"], "gs_id": ["A"],
                               "data_start": [t[0]], "data_end": [t[-1]], "first_frame": [0],
                               "n_frames": [n]}))
    s = Session()
    s.data = data
    s.quick_fit = pd.DataFrame({"x_mean": rng.normal(3.5, 0.01, n),
                                "y_mean": rng.normal(3.4, 0.01, n)})
    return s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    s = session(args.points)
    span = (s.data.time[-1] - s.data.time[0]) * 86400
    results = {}
    for client_side in (True, False):
        viewer = TimeseriesViewer(s, columns=("flux", "x_mean", "y_mean"), width_px=900,
                                  client_side=client_side)
        rng = np.random.default_rng(1)
        times = []
        for _ in range(20):
            a = rng.uniform(0, span * 0.8)
            b = a + rng.uniform(span * 0.01, span * 0.2)
            t = time.perf_counter()
            with viewer.xs.hold_trait_notifications():
                viewer.xs.min, viewer.xs.max = a, b
            times.append(time.perf_counter() - t)
        sent = max(len(p.line.x) for p in viewer.panels)  # lines the kernel sends per zoom
        results[client_side] = (float(np.median(times)), max(times), sent)
        where = "browser" if client_side else "kernel"
        print(f"zoom, 3 panels x {args.points:,} points, lines drawn by the {where}: kernel "
              f"{results[client_side][0] * 1e3:.1f} ms median (max {max(times) * 1e3:.1f} ms), "
              f"{sent:,} line points per panel sent")
        if client_side:
            viewer.close()
    zoom, _, sent = results[False]

    seconds = (s.data.time - s.data.time[0]) * 86400
    naive = []
    for _ in range(5):
        a, b = span * 0.1, span * 0.3
        t = time.perf_counter()
        keep = (seconds >= a) & (seconds <= b)
        for panel in viewer.panels:
            _, values = s.series(panel.column)
            panel.line.x, panel.line.y = seconds[keep], values[keep]
        naive.append(time.perf_counter() - t)
    naive_t = float(np.median(naive))
    ours_bytes = 3 * sent * 16  # x and y float64 per point
    naive_bytes = 3 * int(keep.sum()) * 16
    print(f"naive (all {int(keep.sum()):,} window points per panel to the marks): "
          f"{naive_t * 1e3:.1f} ms in the kernel (ratio {naive_t / zoom:.2f}x), but "
          f"{naive_bytes / 2**20:.1f} MiB to the browser per zoom vs {ours_bytes / 2**10:.0f} KiB "
          f"({naive_bytes / ours_bytes:.0f}x less); SVG draws ~10^5 segments at ~0.1 fps")


if __name__ == "__main__":
    main()
