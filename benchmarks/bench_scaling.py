"""How the ray fit scales with workers: measured for 1 and 2 local workers, projected beyond.

Run: ``python benchmarks/bench_scaling.py [--frames 400000] [--chunk-size 50000]
[--bandwidth-mb 117]``

For each worker count ray is started locally with that many CPUs (``num_cpus``), warmed
(numba's cache loaded in each worker), and a fit of the same simulated guide-star frames
(with ERR) is timed end to end, ``ray.put`` included.  The same run measures what the
projection needs:

* ``t_chunk``: one core's time for one chunk (the single-threaded kernel the workers run);
* the bytes that cross the network: each chunk (frames + ERR) is its own object, pulled
  by the node whose worker fits it, so with ``nodes`` equal nodes the head sends
  ``(nodes - 1) / nodes`` of the program's bytes in all, at ``--bandwidth-mb`` MB/s
  (default 117 MB/s, a 1 Gb/s link: an assumption, not a measurement);
* the overhead per task, from the 1-worker run: ``(t_1 - chunks x t_chunk) / chunks``.

Projection for ``W`` worker cores on ``nodes = ceil(W / cores per node)`` nodes::

    t(W) = put + (nodes - 1) / nodes x bytes / bandwidth + ceil(chunks / W) x (t_chunk + overhead)

It ignores contention for the head's scheduler, overlap of transfer and compute, and
assumes equal cores; treat it as the shape of the curve, not a promise.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import ray
from bench_fit import best_of_3, guide_star  # the fit benchmark's star and timing

from fgs_widgets.engine.gaussian import fit_chunk
from fgs_widgets.engine.simulate import simulate_frames
from fgs_widgets.runtime.executor import ensure_ray
from fgs_widgets.runtime.fit import fit_gaussians


def timed_ray_fit(frames: np.ndarray, errors: np.ndarray, workers: int,
                  chunk_size: int) -> tuple[float, float, np.ndarray]:
    ray.shutdown()
    t = time.perf_counter()
    ensure_ray(num_cpus=workers)
    start_up = time.perf_counter() - t
    warm = min(len(frames), 4 * workers * 2_000)
    fit_gaussians(frames[:warm], errors[:warm], executor="ray", chunk_size=2_000)
    t = time.perf_counter()
    table = fit_gaussians(frames, errors, executor="ray", chunk_size=chunk_size)
    elapsed = time.perf_counter() - t
    ray.shutdown()
    return start_up, elapsed, table["x_mean"].to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400_000)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--bandwidth-mb", type=float, default=117.0,
                        help="assumed head-node network bandwidth for the projection, MB/s")
    parser.add_argument("--cores-per-node", type=int, default=16)
    args = parser.parse_args()
    n, chunk = args.frames, args.chunk_size
    chunks = math.ceil(n / chunk)

    frames, errors, _ = simulate_frames(n, guide_star, read_noise=12.0, seed=0)
    payload = frames.nbytes + errors.nbytes
    print(f"{n:,} frames + ERR = {payload / 1e6:.0f} MB, {chunks} chunks of {chunk:,}")

    fit_chunk(frames[:2_000], errors[:2_000], parallel=False)  # numba compile/cache load
    t_chunk, _ = best_of_3(fit_chunk, frames[:chunk], errors[:chunk], parallel=False)
    print(f"one chunk on one core (single-threaded kernel, best of 3): {t_chunk:.3f} s "
          f"({chunk / t_chunk:,.0f} frames/s per core)")

    results = {}
    for workers in (1, 2):
        start_up, elapsed, x = timed_ray_fit(frames, errors, workers, chunk)
        results[workers] = (elapsed, x)
        print(f"ray, {workers} local worker(s): start-up {start_up:.1f} s, fit {elapsed:.2f} s "
              f"= {n / elapsed:,.0f} frames/s")
    same = np.allclose(results[1][1], results[2][1], rtol=0, atol=1e-9, equal_nan=True)
    t1, t2 = results[1][0], results[2][0]
    print(f"speed-up 1 -> 2 workers: {t1 / t2:.2f}x; identical results: {same}")

    ensure_ray(num_cpus=1)
    t = time.perf_counter()
    refs = [ray.put(frames), ray.put(errors)]
    put = time.perf_counter() - t
    del refs
    ray.shutdown()
    overhead = max((t1 - put - chunks * t_chunk) / chunks, 0.0)
    print(f"ray.put of frames+ERR: {put:.2f} s ({payload / put / 1e6:,.0f} MB/s); overhead per "
          f"task beyond put and compute (1-worker run): {overhead * 1e3:.0f} ms")

    full_n = 1_000_000
    full_chunks = math.ceil(full_n / chunk)
    full_bytes = payload / n * full_n
    put_full = put / n * full_n
    print(f"\nprojection for a {full_n:,}-frame program ({full_chunks} chunks, "
          f"{full_bytes / 1e6:.0f} MB, {args.cores_per_node} cores per node, "
          f"{args.bandwidth_mb:.0f} MB/s out of the head):")
    print(f"{'workers':>8} {'nodes':>6} {'transfer s':>11} {'compute s':>10} {'total s':>8} "
          f"{'frames/s':>10}")
    for workers in (1, 2, 4, 8, 16, 32, 64):
        nodes = math.ceil(workers / args.cores_per_node)
        # the head node's own workers read from its shared memory: no network
        transfer = (nodes - 1) / nodes * full_bytes / (args.bandwidth_mb * 1e6)
        compute = math.ceil(full_chunks / workers) * (t_chunk + overhead)
        total = put_full + transfer + compute
        print(f"{workers:>8} {nodes:>6} {transfer:>11.1f} {compute:>10.1f} {total:>8.1f} "
              f"{full_n / total:>10,.0f}")
    print("(beyond ~20 workers a 1e6-frame program has fewer chunks than workers: use "
          "smaller chunks, or fit several programs at once)")


if __name__ == "__main__":
    main()
