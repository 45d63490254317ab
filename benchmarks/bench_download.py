"""Download benchmark against a loopback MAST: throughput, cancel latency, time to give up.

Run: ``python benchmarks/bench_download.py [--mb 200]``.
Baseline in the same run: a bare ``requests`` stream (``iter_content`` of 64 KiB blocks
written to a file), which is what the download did before it read the socket in a helper
thread and checked every file.  Also measured: how long after ``cancel.set()`` a download
stalled by its server returns, and how long a 1-byte/s server keeps ``download`` busy
with ``min_download_rate`` 2048 bytes/s over ``rate_window`` 5 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from loopback import Behaviour, LoopbackServer, fits_bytes

from fgs_widgets.archive import conf, download
from fgs_widgets.archive.errors import DownloadCancelled, DownloadStalled

NAME = "jw01534001001_gs-fg_2022340000825_cal.fits"
URI = f"mast:JWST/product/{NAME}"


def table(size: int) -> pd.DataFrame:
    return pd.DataFrame([{"file_name": NAME, "uri": URI, "size": size, "folder": None}])


def bare(url: str, out: Path) -> None:
    with requests.get(f"{url}/api/v0.1/Download/file", params={"uri": URI}, stream=True,
                      timeout=60) as response, open(out, "wb") as handle:
        for block in response.iter_content(1 << 16):
            handle.write(block)


def best(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        work()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200, help="file size in MB")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = fits_bytes(int(args.mb * 1e6) // 2880)
    size = len(data)
    with tempfile.TemporaryDirectory() as tmp, LoopbackServer(Behaviour(files={URI: data})) as s:
        root = Path(tmp)
        with conf.override(mast_server=s.url, cache_dir=root / "cache", timeout=60):
            def ours() -> None:
                for path in (root / "cache").rglob("*.fits"):
                    path.unlink()
                download(table(size))

            t_bare = best(args.runs, lambda: bare(s.url, root / "bare.fits"))
            t_ours = best(args.runs, ours)
            print(f"file {size / 1e6:.0f} MB over loopback, best of {args.runs}")
            print(f"  bare requests stream : {t_bare:6.3f} s  {size / t_bare / 1e6:7.0f} MB/s")
            print(f"  fgs_widgets download : {t_ours:6.3f} s  {size / t_ours / 1e6:7.0f} MB/s"
                  f"  ({t_ours / t_bare:.2f}x the baseline's time)")

            s.behaviour.stall_after = 100_000
            latencies = []
            for _ in range(5):
                for path in (root / "cache").rglob("*"):
                    if path.is_file():
                        path.unlink()
                cancel = threading.Event()
                marks: list[float] = []

                def later(cancel=cancel, marks=marks) -> None:
                    time.sleep(0.7)
                    marks.append(time.perf_counter())
                    cancel.set()

                threading.Thread(target=later).start()
                try:
                    download(table(size), cancel=cancel)
                except DownloadCancelled:
                    latencies.append(time.perf_counter() - marks[0])
            print(f"  cancel while the server sends nothing: returns after "
                  f"{np.median(latencies) * 1e3:.0f} ms (median of 5, max "
                  f"{max(latencies) * 1e3:.0f} ms); socket timeout is {conf.timeout:g} s")
            s.behaviour.stall_after = None
            s.behaviour.trickle = 1.0
            with conf.override(rate_window=5.0):
                t = time.perf_counter()
                try:
                    download(table(size))
                except DownloadStalled:
                    pass
                print(f"  1 byte/s server: given up after {time.perf_counter() - t:.1f} s "
                      f"(min_download_rate {conf.min_download_rate:g} B/s over "
                      f"{conf.rate_window:g} s); {size / 86400:.0f} days at that rate otherwise")
            s.behaviour.release.set()


if __name__ == "__main__":
    main()
