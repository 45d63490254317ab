"""Reading benchmark: files/s, frames/s and peak memory for a ~10^6-frame program.

Run: ``python benchmarks/bench_read.py [--scale 70]`` (scale 70 = 1,003,520 frames,
about 0.5 GB of SCI+ERR on disk, written once into a temporary folder).
Baseline in the same run: astropy reading each file's SCI with ``fits.getdata``
(no memmap) and concatenating, as the reference tool does.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import sys, time
import numpy as np
from pathlib import Path
import fgs_widgets.archive.reader, astropy.io.fits
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
paths = sorted(Path(sys.argv[2]).rglob("*_cal.fits"))
before = status("VmRSS:")
t = time.perf_counter()
if sys.argv[1] == "ours":
    from fgs_widgets.archive import read_fine_guide
    data = read_fine_guide(paths, errors=sys.argv[3] == "1")
    n, frame_bytes = len(data), data.frames.nbytes
else:
    from astropy.io import fits
    arrays = [fits.getdata(p, "SCI", memmap=False).astype(np.float32) for p in paths]
    frames = np.concatenate(arrays); flux = np.nansum(frames, axis=(1, 2))
    n, frame_bytes = len(frames), frames.nbytes
dt = time.perf_counter() - t
print(len(paths), n, dt, status("VmHWM:") - before, frame_bytes)
"""


def run(mode: str, folder: Path, errors: bool = True) -> tuple[int, int, float, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(folder), "1" if errors else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    files, n, dt, extra, frame_bytes = out.stdout.split()
    return int(files), int(n), float(dt), int(extra), int(frame_bytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=70)
    args = parser.parse_args()
    from fgs_widgets.archive.sample import write_sample_program

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_sample_program(tmp, scale=args.scale)
        print(f"wrote sample at scale {args.scale} in {time.perf_counter() - t:.1f} s")
        rows = {}
        for label, mode, errors in (
            ("fgs_widgets (SCI+ERR)", "ours", True),
            ("fgs_widgets (SCI only)", "ours", False),
            ("baseline getdata+concat (SCI)", "base", False),
        ):
            files, n, dt, extra, frame_bytes = run(mode, Path(tmp), errors)
            rows[label] = dt
            print(
                f"{label:32s} {files} files, {n:,} frames: {dt:6.2f} s = {files / dt:6.1f} files/s,"
                f" {n / dt:12,.0f} frames/s; peak RSS above imports {extra / 2**20:7.1f} MiB"
                f" = {extra / frame_bytes:.2f}x frame bytes ({frame_bytes / 2**20:.0f} MiB)"
            )
        ratio = rows["baseline getdata+concat (SCI)"] / rows["fgs_widgets (SCI only)"]
        print(f"speed-up vs baseline (SCI only): {ratio:.2f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(benchmark process peak RSS {peak:.0f} MiB)")


if __name__ == "__main__":
    main()
