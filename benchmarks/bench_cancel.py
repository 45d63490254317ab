"""How fast a cooperative cancel returns on ray, and that ray still works after many.

A cancel stops submitting and never interrupts a running task (`run_bounded`): what is
in flight (at most two chunks per CPU) is kept if it finishes within a second, else left
to finish unobserved.  Printed, on a local ray of this machine's cores, in one run:

* baseline: an uncancelled ray fit of the frames, and its time per chunk;
* ``--rounds`` fits cancelled at random moments (uniform over the baseline's duration):
  the time from the cancel to the fit returning (median, 95th percentile, max), the
  frames kept per cancelled fit, then one more fit checked equal to the serial fit;
* surveys of sample programs, each from an empty folder, cancelled at random moments and
  resumed: the time from `Survey.cancel` to `run` returning, the time until the programs
  it left running have ended (`Survey.settle`), and whether each resumed dataset equals
  the uninterrupted one.

Run: ``python benchmarks/bench_cancel.py [--frames 1000000] [--chunk 50000] [--rounds 20]``
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fgs_widgets.archive.sample import write_sample_program
from fgs_widgets.engine.simulate import simulate_frames
from fgs_widgets.runtime.executor import ensure_ray, in_flight_limit
from fgs_widgets.runtime.fit import fit_gaussians
from fgs_widgets.survey import Survey, read_survey, tasks_from_paths


def spread(values: list[float]) -> str:
    v = np.asarray(values)
    return (f"median {np.median(v):.3f} s, p95 {np.percentile(v, 95):.3f} s, "
            f"max {v.max():.3f} s")


def bench_fits(args, rng) -> None:
    data, sigma, _ = simulate_frames(args.frames, seed=1)  # FGS-like: faint to bright
    serial = fit_gaussians(data, sigma, executor="serial", chunk_size=args.chunk)
    fit_gaussians(data[:2 * args.chunk], sigma[:2 * args.chunk], executor="ray",
                  chunk_size=args.chunk)  # workers started and kernels loaded
    started = time.perf_counter()
    fit_gaussians(data, sigma, executor="ray", chunk_size=args.chunk)
    whole = time.perf_counter() - started
    chunks = -(-args.frames // args.chunk)
    print(f"baseline: uncancelled ray fit of {args.frames:,} frames in {chunks} chunks: "
          f"{whole:.2f} s ({whole / chunks * 1e3:.0f} ms per chunk; "
          f"{in_flight_limit(ensure_ray())} chunks in flight at most)")
    latencies, kept = [], []
    for _ in range(args.rounds):
        cancel = threading.Event()
        moment = rng.uniform(0, whole)
        marks: dict[str, float] = {}

        def fire(cancel=cancel, marks=marks):
            marks["cancel"] = time.perf_counter()
            cancel.set()

        timer = threading.Timer(moment, fire)
        timer.start()
        result = fit_gaussians(data, sigma, executor="ray", chunk_size=args.chunk,
                               cancel=cancel)
        returned = time.perf_counter()
        timer.cancel()
        if "cancel" in marks:
            latencies.append(returned - marks["cancel"])
            kept.append(int((result["status"] != "cancelled").sum()))
    print(f"{len(latencies)} fits cancelled at random moments: cancel -> return "
          f"{spread(latencies)}; frames kept per fit: median {int(np.median(kept)):,} "
          f"of {args.frames:,}")
    after = fit_gaussians(data, sigma, executor="ray", chunk_size=args.chunk)
    print("then one more fit equals the serial fit:", after.equals(serial))


def bench_survey(args, rng, folder: Path) -> None:
    programs = [write_sample_program(folder / str(p), seed=p, program=p, start=59950.0 + i)
                for i, p in enumerate(range(4001, 4001 + args.programs))]
    tasks = tasks_from_paths([p.directory for p in programs])
    started = time.perf_counter()
    Survey(tasks, folder / "reference", fit="gaussian").run()
    whole = time.perf_counter() - started
    print(f"baseline: uninterrupted survey of {len(tasks)} programs (Gaussian fit): "
          f"{whole:.2f} s")
    returned, settled, same = [], [], []
    for k in range(args.survey_rounds):  # each from an empty folder, then resumed
        out = folder / f"survey-{k}"
        survey = Survey(tasks, out, fit="gaussian")
        survey.start()
        time.sleep(rng.uniform(0.1, 0.8) * whole)
        cancelled = time.perf_counter()
        survey.cancel()
        survey.wait()
        returned.append(time.perf_counter() - cancelled)
        survey.settle()
        settled.append(time.perf_counter() - cancelled)
        Survey(tasks, out, fit="gaussian").run()
        same.append(read_survey(out).equals(read_survey(folder / "reference")))
    print(f"{len(returned)} surveys cancelled at random moments: cancel -> run returns "
          f"{spread(returned)}; -> programs left running have ended {spread(settled)}")
    print(f"resumed datasets equal to the uninterrupted one: {sum(same)} of {len(same)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--programs", type=int, default=6)
    parser.add_argument("--survey-rounds", type=int, default=6)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ensure_ray()
    pd.set_option("display.width", 120)
    bench_fits(args, rng)
    with tempfile.TemporaryDirectory() as folder:
        bench_survey(args, rng, Path(folder))


if __name__ == "__main__":
    main()
