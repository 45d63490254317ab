"""The guiding report: time and file size, on the sample program and on ~10^6 frames.

Run: ``python benchmarks/bench_report.py [--scale 70] [--repeats 3]``

For each data set (the sample program, 14,336 frames; the same program at ``--scale``
times the frames, 1,003,520 at 70, written once like ``bench_stability.py`` does),
after a quick fit of every frame:

* **baseline**: the numbers any report of these frames must compute, alone —
  `visit_statistics`, `tilt_events` and the per-observation periodograms of x and y
  (what ``fgs_widgets.report.content.gather`` calls);
* **report**: ``session.report(path)``, everything (numbers, figures, HTML, write);
* the file's size, and how much of it is figures.

Times are the shortest of ``--repeats`` calls after one untimed call.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stability import scaled_program, shortest

from fgs_widgets import Session
from fgs_widgets.archive import sample_program
from fgs_widgets.archive.reader import read_fine_guide
from fgs_widgets.engine.periodogram import periodograms
from fgs_widgets.engine.stability import tilt_events, visit_statistics


def numbers_alone(session: Session) -> None:
    """The baseline: the statistics, tilts and per-observation periodograms."""
    data, fit = session.data, session.fit_table
    visit_statistics(data, fit)
    tilt_events(data, fit)
    observation = data.products["observation"].to_numpy()[data.segments]
    for obs in np.unique(observation):
        mask = observation == obs
        periodograms(data.time[mask], {c: fit[c].to_numpy()[mask] for c in ("x_mean", "y_mean")},
                     good=data.good[mask], pieces=data.segments[mask], piece_name="file")


def measure(name: str, paths: list[Path], repeats: int, folder: Path) -> None:
    session = Session()
    session.data = read_fine_guide(paths)
    t = time.perf_counter()
    session.fit_frames("quick", block=True)
    fit_s = time.perf_counter() - t
    n = len(session.data)
    base, _ = shortest(lambda: numbers_alone(session), repeats)
    path = folder / f"report_{name}.html"
    whole, _ = shortest(lambda: session.report(path), repeats)
    html = path.read_text(encoding="utf-8")
    images = sum(len(m) for m in re.findall(r'src="data:image/png;base64,[^"]*"', html))
    size = path.stat().st_size
    print(f"{name:>8}: {n:>9,} frames | quick fit {fit_s:6.1f} s | numbers alone "
          f"{base:6.2f} s | report {whole:6.2f} s ({whole / base:4.1f}x the numbers) | "
          f"file {size / 1e6:5.2f} MB ({images / size:.0%} figures)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=70)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
        folder = Path(folder)
        measure("sample", sample_program(folder / "sample").paths, args.repeats, folder)
        measure(f"x{args.scale}", scaled_program(args.scale), args.repeats, folder)


if __name__ == "__main__":
    main()
