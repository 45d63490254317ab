"""A survey on a real multi-process ray cluster against a loopback MAST serving many programs.

Run: ``python benchmarks/bench_survey.py [--programs 20] [--fit gaussian] [--no-kill]``

What it measures, on this machine:

1. *Throughput with 1 and 2 worker nodes.*  A multi-process cluster: a head node with
   no CPUs (it schedules, it fits nothing) plus 1 or 2 worker nodes of 1 CPU, each
   its own raylet and processes (``ray.cluster_utils.Cluster``).  The
   driver is a separate process running `fgs_widgets.survey.Survey` over every
   program; each worker downloads its programs' files from the loopback MAST into a
   fresh cache, reads, fits, computes the statistics and writes its partitions.
2. *Bytes the head sends.*  TCP bytes sent (``bytes_sent`` of ``ss -ti``) by the driver
   and by the head node's own daemons (gcs_server, raylet), against the files' bytes
   the MAST server sent to the workers and the serialized task descriptions.  Sockets
   are read at the end of the run, before anything closes them.
3. *A worker node killed mid-survey.*  With 2 worker nodes, one is killed (its raylet
   and workers, without a graceful shutdown) once a few programs are done; ray re-runs
   its tasks on the other node.  Checked: every program ends done, the dataset equals
   the uninterrupted run's, and each observation's partition was written exactly once
   (the retried task skips the observations the dead one had finished).
4. *Per-frame and per-byte costs* in one process (download, read, fit on one core,
   statistics), and from them a projection for 10^9 frames on N nodes.

Keep the machine otherwise idle; with 2 cores the 2-node run shares them with the
driver, the head and the MAST server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from loopback import Behaviour, LoopbackServer, serve_sample  # noqa: E402
from ray_address import ray_address_path, read_address_file, restore_address_file  # noqa: E402

from fgs_widgets.archive import conf  # noqa: E402
from fgs_widgets.archive.sample import write_sample_program  # noqa: E402

DRIVER = """
import json, os, sys, time
from fgs_widgets.survey import Survey, tasks_for_programs
root, address, fit, cache, programs = sys.argv[1:6]
tasks, missing = tasks_for_programs([int(p) for p in programs.split(",")])
survey = Survey(tasks, root, fit=fit, cache_dir=cache, address=address, retries=3)
import fgs_widgets.runtime.executor as ex
ex.ensure_ray(address)
started = time.perf_counter()
survey.run(lambda p, s, r: print(survey.message, file=sys.stderr, flush=True))
elapsed = time.perf_counter() - started
sent = sum(len(__import__("pickle").dumps((t.to_dict(), root, survey.settings))) for t in tasks)
print(json.dumps({"seconds": elapsed, "n_frames": survey.n_frames, "done": survey.n_done,
                  "failed": survey.n_failed, "errors": survey.errors,
                  "task_bytes": sent, "reports": {str(k): v for k, v in survey.reports.items()},
                  "pid": os.getpid()}), flush=True)
sys.stdin.readline()  # the parent reads our sockets now, then lets us go
"""


def prepare(n: int, folder: Path) -> dict[int, object]:
    """n sample programs (ids 3001..), a day apart; written once and reused."""
    folder.mkdir(parents=True, exist_ok=True)
    programs = {}
    t = time.perf_counter()
    for i in range(n):
        program = 3001 + i
        target = folder / str(program)
        done = target / "done.json"
        if done.exists():
            from types import SimpleNamespace

            paths = [target / p for p in json.loads(done.read_text())]
            programs[program] = SimpleNamespace(paths=paths, telemetry={})
            continue
        if target.exists():
            shutil.rmtree(target)
        sample = write_sample_program(target, seed=program, program=program,
                                      start=59950.0 + i)
        done.write_text(json.dumps([str(p.relative_to(target)) for p in sample.paths]))
        programs[program] = sample
    print(f"{n} programs ready in {time.perf_counter() - t:.1f} s "
          f"({sum(len(p.paths) for p in programs.values())} files, "
          f"{sum(q.stat().st_size for p in programs.values() for q in p.paths) / 1e6:.0f} MB)")
    return programs


def tcp_bytes_sent(pids: set[int]) -> int:
    """Bytes sent so far on the open TCP sockets of these processes (``ss -tinp``)."""
    out = subprocess.run(["ss", "-tinpH"], capture_output=True, text=True).stdout
    total, owner = 0, None
    for line in out.splitlines():
        if "users:((" in line:
            found = [int(p) for p in re.findall(r"pid=(\d+)", line)]
            owner = found[0] if found else None
            continue
        match = re.search(r"bytes_sent:(\d+)", line)
        if match and owner in pids:
            total += int(match.group(1))
    return total


class Cluster:
    """A multi-process cluster on this machine: a head that fits nothing, worker nodes.

    Built with ``ray.cluster_utils.Cluster`` (each node its own raylet, object store
    and worker processes, as separate ``ray start`` nodes are), which gives every node
    its own ports: hand-picked ports for several ``ray start`` nodes on one machine
    clashed with other local ray instances here.
    """

    def __init__(self, workers: int):
        from ray.cluster_utils import Cluster as RayCluster

        self.cluster = RayCluster(initialize_head=True, connect=False,
                                  head_node_args={"num_cpus": 0})
        try:
            self.workers = [self.cluster.add_node(num_cpus=1) for _ in range(workers)]
            self.cluster.wait_for_nodes(120)
        except BaseException:
            self.stop()
            raise
        self.address = self.cluster.address

    def head_daemons(self) -> set[int]:
        """The head node's own processes (gcs_server, raylet, ...)."""
        return {info.process.pid for infos in self.cluster.head_node.all_processes.values()
                for info in infos if info.process is not None}

    def kill_worker(self, i: int) -> None:
        """Kill a worker node at once (SIGKILL of its raylet and workers)."""
        self.cluster.remove_node(self.workers[i], allow_graceful=False)

    def stop(self) -> None:
        self.cluster.shutdown()


def run_survey(workers: int, programs: dict, server, out: Path, fit: str, env: dict,
               kill_after: int | None = None) -> dict:
    """One survey on a fresh cluster; the result and the bytes each side sent."""
    address_file = ray_address_path()
    before = read_address_file(address_file)
    try:
        cluster = Cluster(workers)
    except BaseException:
        restore_address_file(address_file, before)
        raise
    served_before = server.sent
    try:
        cache = out.parent / f"{out.name}-cache"
        shutil.rmtree(cache, ignore_errors=True)
        driver = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(out), cluster.address, fit, str(cache),
             ",".join(map(str, programs))], env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed_at = None
        if kill_after is not None:
            status = out / "_survey"
            while killed_at is None and driver.poll() is None:
                if status.is_dir() and len(list(status.glob("program=*.json"))) >= kill_after:
                    cluster.kill_worker(1)
                    killed_at = time.time()
                time.sleep(0.05)
        line = driver.stdout.readline()
        while line and not line.startswith("{"):  # ray's own notices
            line = driver.stdout.readline()
        if not line:
            raise RuntimeError(f"the driver failed: {driver.stderr.read()[-3000:]}")
        result = json.loads(line)
        result["driver_sent"] = tcp_bytes_sent({result["pid"]})
        result["head_daemons_sent"] = tcp_bytes_sent(cluster.head_daemons())
        driver.stdin.write("\n")
        driver.stdin.flush()
        driver.wait(60)
        result["mast_sent"] = server.sent - served_before
        result["killed_at"] = killed_at
        return result
    finally:
        cluster.stop()
        restore_address_file(address_file, before)


class CountingServer(LoopbackServer):
    """The loopback MAST, counting the file bytes it sends."""

    @property
    def sent(self) -> int:
        files = self.behaviour.files
        return sum(len(files.get(parse_qs(urlparse(path).query).get("uri", [""])[0], b""))
                   for method, path, _ in self.behaviour.log
                   if method == "GET" and "Download/file" in path)


def costs(sample, fit: str, folder: Path) -> dict:
    """Per-frame and per-byte costs of one program in this process, one core."""
    from fgs_widgets.archive.downloads import download
    from fgs_widgets.archive.mast import find_products
    from fgs_widgets.archive.reader import read_fine_guide
    from fgs_widgets.engine.quickfit import quick_fit
    from fgs_widgets.engine.stability import visit_statistics
    from fgs_widgets.runtime.executor import use_threads
    from fgs_widgets.runtime.fit import fit_gaussians

    use_threads(1)
    program = int(sample.paths[0].name[2:7])
    products = find_products(program)
    t = time.perf_counter()
    result = download(products, folder)
    t_download = time.perf_counter() - t
    size = sum(p.stat().st_size for p in result.paths)
    best = {}
    for name, work in (("read", lambda: read_fine_guide(result.paths)),):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            data = work()
            times.append(time.perf_counter() - t)
        best[name] = min(times)
    fitter = (lambda: quick_fit(data.frames)) if fit == "quick" else (
        lambda: fit_gaussians(data.frames, data.errors, executor="serial"))
    fitter()  # compiled
    times = []
    for _ in range(3):
        t = time.perf_counter()
        table = fitter()
        times.append(time.perf_counter() - t)
    best["fit"] = min(times)
    visit_statistics(data, table)  # like the fit: timed warm (a worker runs it many times)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        visit_statistics(data, table)
        times.append(time.perf_counter() - t)
    best["statistics"] = min(times)
    n = len(data)
    return {"frames": n, "bytes": size, "download_s": t_download,
            **{f"{k}_s": v for k, v in best.items()},
            "bytes_per_frame": size / n,
            "cpu_s_per_frame": sum(best.values()) / n,
            "download_mb_s": size / t_download / 1e6}


def projection(c: dict, nodes: list[int], cores: int, mast_mb_s: float, link_mb_s: float,
               frames: float = 1e9) -> pd.DataFrame:
    """Hours for `frames` on N nodes of `cores` cores: the slowest of CPU, MAST and links."""
    total_bytes = frames * c["bytes_per_frame"]
    rows = []
    for n in nodes:
        cpu = frames * c["cpu_s_per_frame"] / (n * cores)
        mast = total_bytes / (mast_mb_s * 1e6)
        links = total_bytes / (n * link_mb_s * 1e6)
        hours = max(cpu, mast, links) / 3600
        bound = max((("cores", cpu), ("MAST", mast), ("node links", links)),
                    key=lambda kv: kv[1])[0]
        rows.append({"nodes": n, "cores": n * cores, "cpu_h": cpu / 3600,
                     "mast_h": mast / 3600, "links_h": links / 3600, "hours": hours,
                     "bound by": bound})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=20)
    parser.add_argument("--fit", default="gaussian", choices=("gaussian", "quick"))
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument("--mast-mb-s", type=float, default=1000.0,
                        help="assumed MAST egress for the projection (MB/s)")
    parser.add_argument("--link-mb-s", type=float, default=117.0,
                        help="assumed node link (MB/s; 1 Gb/s)")
    parser.add_argument("--cores-per-node", type=int, default=32)
    args = parser.parse_args()
    base = Path(os.environ.get("FGS_CACHE_DIR") or tempfile.gettempdir()) / "bench-survey-v1"
    programs = prepare(args.programs, base / "programs")
    behaviour = Behaviour(page_size=100)
    for sample in programs.values():
        serve_sample(behaviour, sample)
    # the nodes (started from this process) and the driver share the cluster's token
    os.environ.update({"RAY_DEDUP_LOGS": "0", "RAY_AUTH_MODE": "token",
                       "RAY_AUTH_TOKEN": secrets.token_hex(16)})
    env = dict(os.environ)
    work = Path(tempfile.mkdtemp(prefix="fgs-bench-survey-"))
    with CountingServer(behaviour) as server:
        env["FGS_MAST_SERVER"] = server.url
        with conf.override(mast_server=server.url):
            c = costs(next(iter(programs.values())), args.fit, work / "costs-cache")
        runs = {}
        for workers in (1, 2):
            runs[workers] = run_survey(workers, programs, server, work / f"out-{workers}",
                                       args.fit, env)
        killed = None if args.no_kill else run_survey(
            2, programs, server, work / "out-killed", args.fit, env,
            kill_after=max(2, args.programs // 4))
    from fgs_widgets.survey import read_survey

    n_frames = runs[1]["n_frames"]
    print(f"\n{args.programs} programs, {n_frames:,} frames, fit={args.fit}; "
          f"files {sum(len(p.paths) for p in programs.values())}")
    print(f"{'worker nodes':>12} {'seconds':>8} {'frames/s':>9} {'programs/s':>10} "
          f"{'driver sent':>12} {'head daemons':>12} {'MAST sent':>10} {'tasks':>8}")
    for workers, r in runs.items():
        print(f"{workers:>12} {r['seconds']:8.1f} {r['n_frames'] / r['seconds']:9,.0f} "
              f"{args.programs / r['seconds']:10.2f} {r['driver_sent'] / 1e3:10.0f} kB "
              f"{r['head_daemons_sent'] / 1e3:10.0f} kB {r['mast_sent'] / 1e6:8.0f} MB "
              f"{r['task_bytes'] / 1e3:6.0f} kB")
    print(f"speed-up 2 vs 1 worker node: {runs[1]['seconds'] / runs[2]['seconds']:.2f}x")
    one, two = read_survey(work / "out-1"), read_survey(work / "out-2")
    pd.testing.assert_frame_equal(one, two)
    if killed is not None:
        three = read_survey(work / "out-killed")
        pd.testing.assert_frame_equal(one, three)
        written, skipped = {}, 0
        for program, report in killed["reports"].items():
            for o in report["observations"]:
                written.setdefault((program, o["observation"]), 0)
                written[(program, o["observation"])] += o["state"] == "written"
                skipped += o["state"] == "skipped"
        manifests = list((work / "out-killed").glob("program=*/observation=*/_partition.json"))
        twice = sum(v > 1 for v in written.values())
        print(f"killed a worker node after {max(2, args.programs // 4)} programs: "
              f"{killed['done']} done, {killed['failed']} failed in {killed['seconds']:.1f} s; "
              f"{len(manifests)} partitions, dataset equal to the uninterrupted run; "
              f"{skipped} observation(s) finished by the dead node kept (skipped on retry), "
              f"{twice} written twice")
    print("\nper program, one core (this process): "
          + ", ".join(f"{k} {v:.3g}" for k, v in c.items()))
    steps = ("download", "read", "fit", "statistics")
    print("µs per frame: " + ", ".join(f"{k} {c[f'{k}_s'] / c['frames'] * 1e6:.2f}"
                                       for k in steps)
          + f"; all four (cpu_s_per_frame) {c['cpu_s_per_frame'] * 1e6:.2f}")
    table = projection(c, [1, 10, 100, 1000], args.cores_per_node, args.mast_mb_s,
                       args.link_mb_s)
    print(f"\nprojection for 10^9 frames ({c['bytes_per_frame'] * 1e9 / 1e12:.2f} TB), "
          f"{args.cores_per_node} cores per node, MAST {args.mast_mb_s:.0f} MB/s (assumed), "
          f"links {args.link_mb_s:.0f} MB/s (assumed):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
