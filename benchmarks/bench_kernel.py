"""The fit kernel against the former one (issue 27), and its distance to the machine's limit.

Run: ``python benchmarks/bench_kernel.py [--frames 100000] [--rounds 3]``
(~3 minutes, of which 20-60 s are numba compiling the SIMD prototype, which is not cached).

Frames: real-regime FGS frames (`simulate.real_fgs_parameters`: sigma 0.64-0.73 px, peak
2-3e5 DN/s on 2500-3400 DN/s, 0.0625 s frames, Poisson + 12 e- read noise, ERR from the
noisy data, as in ``bench_real_regime.py``), in two orders: "series", as a guide star is
recorded (`simulate.real_fgs_series`: one star per 2000-frame file, 1 % flux noise,
0.015 px jitter, two 0.1-0.5 px tilt jumps per file), and "independent", a new star
every frame (no neighbour worth starting from: the seeded fit's worst case).  Kernels:
``lm.py`` (`fgs_widgets.engine.lm`), the frozen former kernels (``lm_baseline.py``,
every frame from its moments) and the batched-SIMD prototype of the former control
flow (``kernel_simd.py``: frames across vector lanes, a polynomial exp).

1. Work per frame, with ERR: LM iterations, model passes (`lm._normal`, 64 px), Cholesky
   factorizations and solves.  The former kernels' are counted by the prototype (its
   iterations are checked to equal theirs frame by frame); lm.py's by running its own
   block kernel's code as Python with the leaves wrapped by counters (`lm_work`, on
   ``--work-frames`` frames).  Flops per frame from these counts and the analytic
   tables below (`PASS_TERMS` and the rest: add/sub/mul 1 flop, FMA 2, exp as
   `EXP_FLOPS` flop-equivalents, divisions, square roots and trigonometric calls
   counted apart), cross-checked against the FP instructions of the compiled passes
   (this VM exposes no hardware counters).
2. Accuracy: statuses; frames converged by the former kernels and not by lm.py; the
   centroid differences where both converged, in units of the former uncertainty;
   centroid RMS / Cramér–Rao bound (the RMS of the per-frame bounds over
   ``--crb-frames`` frames) of each kernel.
3. The model pass alone (ns per frame-pass, GFLOP/s, fraction of a core's peak).
4. Frames/s of each kernel on 1 thread and on every core, ``--rounds`` interleaved rounds
   after a warm-up: best round, and lm.py's speed-up also as the median of the per-round
   ratios ("paired": the machine is shared, single rounds vary by 10-30 %); achieved
   fraction of the machine's peak (cores x clock x 16 DP flops/cycle: AVX2 + 2 FMA pipes,
   the clock measured from a dependent chain of float adds, 3 cycles each on AMD Zen 2/3/4:
   an assumption).
5. Edge cases: the FGS-like mix (faint, wide, edge-truncated stars) with NaN pixels, empty,
   flat and noise-only frames, at max_iter 50 and 3, with and without ERR: statuses of
   lm.py and the former kernels, frames lost, and the prototype's control flow against
   the former kernels'.  Without ERR lm.py fits a noise model (``bench_errors.py``), the
   former kernels and the prototype Poisson-like weights: only their statuses compare.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import types
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ for kernel_simd next to the benchmarks

import numba as nb  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernel_simd as ks  # noqa: E402
from bench_errors import fit, former_kernels  # noqa: E402

from fgs_widgets.engine import lm  # noqa: E402
from fgs_widgets.engine.crb import cramer_rao_bound  # noqa: E402
from fgs_widgets.engine.gaussian import canonical_parameters  # noqa: E402
from fgs_widgets.engine.simulate import (  # noqa: E402
    FGS_FRAME_TIME,
    FGS_READ_NOISE,
    fgs_like_parameters,
    real_fgs_parameters,
    real_fgs_series,
    simulate_frames,
)

#: flop-equivalents charged per exp (libm's scalar exp takes ~15 cycles here; the
#: prototype's vector exp is 17 FP instructions, 13 of them FMAs, per lane)
EXP_FLOPS = 20
#: and per sin, cos, atan2 (a few per frame: negligible)
TRIG_FLOPS = 20
#: DP flops per cycle and core: AVX2 (4 doubles) x 2 FMA pipes x 2
DP_FLOPS_PER_CYCLE = 16
#: latency (cycles) of a dependent float add: AMD Zen 2/3/4 (Intel Skylake and later: 4)
ADD_LATENCY = 3

# One pixel of `lm._normal` (the pass: model, Jacobian, chi2 and the 35 sums), term by
# term as the code writes it (2 b, 2 b3, ... hoisted out of the pixel loop, negations
# folded): (what, flops, exps)
PASS_TERMS = (
    ("dx, dy", 2, 0),
    ("dx², dx dy, dy²", 3, 0),
    ("exponent a dx² + 2b dx dy + c dy²", 5, 0),
    ("exp", 0, 1),
    ("amp e; residual f - amp e - off", 3, 0),
    ("w r; chi2 += w r²", 3, 0),
    ("Jacobian: 2 amp e, g1, g2 (4 + 4), g3, g4, g5 (6 each)", 1 + 8 + 18, 0),
    ("w g0..w g5", 6, 0),
    ("28 sums of JᵀWJ (21 FMAs, 7 adds)", 21 * 2 + 7, 0),
    ("7 sums of JᵀWr (6 FMAs, 1 add)", 6 * 2 + 1, 0),
)
PASS_FLOPS = sum(t[1] for t in PASS_TERMS)  # 111
# per pass, outside the pixel loop: cos, sin, 1/sx², 1/sy², 1/sx³, 1/sy³ and the
# exponent's coefficients and their derivatives
PASS_SETUP = {"flops": 45, "div": 4, "trig": 2}
# one damping try of `lm._lm`: damped diagonal (15), 7x7 Cholesky (112 flops, 21 div,
# 7 sqrt), forward and back substitution (84 flops, 14 div), trial point (7)
TRY = {"chol": {"flops": 15 + 112, "div": 21, "sqrt": 7},
       "solve": {"flops": 84 + 7, "div": 14}}
# once per frame: `_load_frame` (1/ERR²: 64 mul, 64 div), `moments` (15 per pixel + the
# eigen-decomposition), `_variances` (a Cholesky and 7 solves), `_store_fit` (7 sqrt),
# accept/convergence tests (~5 per iteration, folded in here)
PER_FRAME = {"flops": 64 + 64 * 15 + 30 + 112 + 7 * 84 + 25, "div": 64 + 2 + 21 + 7 * 14,
             "sqrt": 3 + 7 + 7, "trig": 1}
# a Poisson-weight pass (no ERR: two per frame): ~12 flops, 1 exp, 1 div per pixel
POISSON_PASS = {"flops": 64 * 12 + 30, "exp": 64, "div": 64 + 2, "trig": 2}


def flops_per_frame(work: np.ndarray) -> dict:
    """Mean flops per frame (by kind) from the prototype's per-frame counts ``work``
    (columns: passes, Cholesky factorizations, solves, Poisson-weight passes)."""
    passes, chols, solves, poisson = work.mean(axis=0)
    out = {
        "passes": passes, "chols": chols, "solves": solves, "poisson": poisson,
        "pass flops": passes * (64 * PASS_FLOPS + PASS_SETUP["flops"]),
        "exp": passes * 64 + poisson * POISSON_PASS["exp"],
        "solve flops": chols * TRY["chol"]["flops"] + solves * TRY["solve"]["flops"],
        "other flops": PER_FRAME["flops"] + poisson * POISSON_PASS["flops"],
        "div": (passes * PASS_SETUP["div"] + chols * TRY["chol"]["div"]
                + solves * TRY["solve"]["div"] + PER_FRAME["div"]
                + poisson * POISSON_PASS["div"]),
        "sqrt": chols * TRY["chol"]["sqrt"] + PER_FRAME["sqrt"],
        "trig": passes * PASS_SETUP["trig"] + PER_FRAME["trig"] + poisson * 2,
    }
    out["arith"] = out["pass flops"] + out["solve flops"] + out["other flops"]
    out["total"] = (out["arith"] + EXP_FLOPS * out["exp"] + out["div"] + out["sqrt"]
                    + TRIG_FLOPS * out["trig"])
    return out


def pass_flop_equivalents() -> float:
    """Flop-equivalents of one model pass of one frame."""
    return (64 * (PASS_FLOPS + EXP_FLOPS) + PASS_SETUP["flops"] + PASS_SETUP["div"]
            + TRIG_FLOPS * PASS_SETUP["trig"])


# ---------------------------------------------------------------- the machine's limit

@nb.njit(fastmath={"contract"})
def _fma_loop(y, m, c, reps):
    """8 independent FMA chains per element of y[8, :] (the loop vectorizes across it)."""
    for _ in range(reps):
        for j in range(y.shape[1]):
            v0, v1, v2, v3 = y[0, j], y[1, j], y[2, j], y[3, j]
            v4, v5, v6, v7 = y[4, j], y[5, j], y[6, j], y[7, j]
            for _k in range(8):
                v0, v1, v2, v3 = v0 * m + c, v1 * m + c, v2 * m + c, v3 * m + c
                v4, v5, v6, v7 = v4 * m + c, v5 * m + c, v6 * m + c, v7 * m + c
            y[0, j], y[1, j], y[2, j], y[3, j] = v0, v1, v2, v3
            y[4, j], y[5, j], y[6, j], y[7, j] = v4, v5, v6, v7


@nb.njit(parallel=True)
def _fma_parallel(y, m, c, reps):
    for t in nb.prange(y.shape[0]):
        _fma_loop(y[t], m, c, reps)


@nb.njit
def _add_chain(n, d):
    x = 0.0
    for _ in range(n):
        x = x + d
    return x


def machine() -> dict:
    """ISA flags, the reported and the measured clock, nominal and measured DP peak."""
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    mhz = [float(x) for x in re.findall(r"cpu MHz\s*:\s*([\d.]+)",
                                        Path("/proc/cpuinfo").read_text())]
    _add_chain(10, 1.0)
    n = 100_000_000
    best = np.inf
    for _ in range(3):
        t = time.thread_time()
        _add_chain(n, 1.0)
        best = min(best, time.thread_time() - t)
    ghz = ADD_LATENCY * n / best / 1e9
    y = np.full((8, 64), 0.5)
    reps = 100_000
    _fma_loop(y, 0.999, 1e-4, 1)
    yy = np.full((2, 8, 64), 0.5)
    _fma_parallel(yy, 0.999, 1e-4, 1)
    flops = 64 * 8 * 8 * 2 * reps
    one = two = 0.0
    for _ in range(3):
        t = time.thread_time()
        _fma_loop(y, 0.999, 1e-4, reps)
        one = max(one, flops / (time.thread_time() - t) / 1e9)
        t = time.perf_counter()
        _fma_parallel(yy, 0.999, 1e-4, reps)
        two = max(two, 2 * flops / (time.perf_counter() - t) / 1e9)
    cores = nb.config.NUMBA_NUM_THREADS
    return {"isa": "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE",
            "fma": "fma" in flags, "mhz": mhz[0] if mhz else np.nan, "ghz": ghz,
            "cores": cores, "peak1": DP_FLOPS_PER_CYCLE * ghz,
            "peak": cores * DP_FLOPS_PER_CYCLE * ghz, "fma1": one, "fma2": two}


def compiled_loop(dispatcher, per_step: int = 1) -> dict:
    """What the compiled hot loop of `dispatcher` executes per element (a frame-pixel).

    The loop: the single-block loop (no jump inside; calls allowed) with the most FP
    work.  Counted: FP flops (vector ops x lanes, FMA 2 per lane; compares, blends,
    integer ops not), calls (libm's exp), instructions with a memory operand.  Elements
    per step: the loop counter's increment (``addq $4``, elements) x `per_step` (pixels
    per lane and step in the prototype).
    """
    asm = next(iter(dispatcher.inspect_asm().values())).splitlines()
    labels = {line[:-1]: i for i, line in enumerate(asm) if re.match(r"^\.LBB\d+_\d+:$", line)}
    best = {"flops": 0.0}
    for i, line in enumerate(asm):
        m = re.match(r"\s+j\w+\s+(\.LBB\d+_\d+)$", line)
        if not m or labels.get(m.group(1), i) >= i:
            continue
        body = asm[labels[m.group(1)] + 1:i]
        if any(re.match(r"\s+j\w+\s", ins) for ins in body):
            continue  # not a single basic block: an outer loop
        flops = calls = memory = 0
        for ins in body:
            op = ins.split()[0] if ins.strip() else ""
            width = 4 if "ymm" in ins else 2 if "xmm" in ins and op.endswith("pd") else 1
            if re.match(r"vfn?m(add|sub)\d{3}[ps]d$", op):
                flops += 2 * width
            elif re.match(r"v(mul|add|sub)[ps]d$", op):
                flops += width
            calls += op == "callq"
            memory += "(%" in ins
        cmp = [re.findall(r"%\w+", ins) for ins in body if ins.split()[:1] == ["cmpq"]]
        regs = set(cmp[-1]) if cmp else set()
        step = [int(k) for k, reg in re.findall(r"addq\s+\$(\d+),\s*(%\w+)", "\n".join(body))
                if reg in regs]
        if flops > best["flops"] and step:
            n = step[-1] * per_step
            best = {"flops": flops / n, "calls": calls / n, "memory": memory / n,
                    "step": step[-1]}
    return best


# ---------------------------------------------------------------- passes alone

@nb.njit
def _lm_passes(f, w, p, reps):
    """`lm._normal` over every frame of a batch, `reps` times (the scalar layout's core)."""
    jtj = np.empty((7, 7))
    jtr = np.empty(7)
    s = 0.0
    for _ in range(reps):
        for k in range(f.shape[0]):
            s += lm._normal(f[k], w[k], p[k], jtj, jtr)
    return s


def _with_globals(function, **replace):
    """A jitted function's Python code with some of its globals swapped (uncompiled)."""
    py = function.py_func
    namespace = dict(py.__globals__)
    namespace.update(replace)
    return types.FunctionType(py.__code__, namespace, py.__name__, py.__defaults__)


def _make_simd_passes(batched_pass):
    @nb.njit
    def simd_passes(fv, wv, par, reps):
        """The prototype's pass over every group of `LANES` frames (packed in fv, wv, par:
        one row per group), `reps` times."""
        q = np.empty(ks.N_Q * ks.LANES)
        acc = np.empty(ks.N_ACC * ks.LANES)
        nl = fv.shape[1] // 64  # run-time, as in the prototype's driver
        s = 0.0
        for _ in range(reps):
            for g in range(fv.shape[0]):
                ks._prepare(par[g], q, nl)
                batched_pass(fv[g], wv[g], q, acc, nl)
                s += acc[ks._ACC_CHI2 * ks.LANES]
        return s

    return simd_passes


def pass_rates(frames, errors, truth, n=4096, reps=10) -> dict:
    """ns per frame-pass of lm.py's pass (polynomial exp), the former kernels' (libm's
    exp) and the prototype's (polynomial and libm exp), on `n` frames at their true
    parameters with their ERR weights."""
    f = frames[:n].reshape(n, 64).astype(np.float64)
    w = 1.0 / errors[:n].reshape(n, 64).astype(np.float64) ** 2
    p = np.ascontiguousarray(truth[:n])
    g = n // ks.LANES
    # (groups, pixel-major rows of LANES): element [g, i * LANES + lane]
    fv = f[: g * ks.LANES].reshape(g, ks.LANES, 64).transpose(0, 2, 1).reshape(g, -1).copy()
    wv = w[: g * ks.LANES].reshape(g, ks.LANES, 64).transpose(0, 2, 1).reshape(g, -1).copy()
    par = p[: g * ks.LANES].reshape(g, ks.LANES, 7).transpose(0, 2, 1).reshape(g, -1).copy()
    out = {}
    former = nb.njit(_with_globals(_lm_passes, lm=former_kernels()))
    runs = {"lm.py": lambda r: _lm_passes(f, w, p, r),
            "former": lambda r: former(f, w, p, r)}
    for exp in ("vexp", "libm"):
        kernel = _make_simd_passes(ks.batched_pass(exp))
        runs[f"SIMD ({exp})"] = lambda r, k=kernel: k(fv, wv, par, r)
    for name, run in runs.items():
        run(1)
        best = np.inf
        for _ in range(3):
            t = time.thread_time()
            run(reps)
            best = min(best, time.thread_time() - t)
        frames_done = (n if not name.startswith("SIMD") else g * ks.LANES) * reps
        out[name] = best / frames_done * 1e9
    return out


# ---------------------------------------------------------------- fits

def fit_with(kernels: str, frames, errors=None, max_iter: int = 50, parallel: bool = True):
    """One chunk through lm.py ("lm"), the frozen former kernels ("former") or the
    prototype ("simd", which implements the former control flow)."""
    if kernels == "simd":
        return ks.fit_chunk(frames, errors, max_iter=max_iter, parallel=parallel)[0]
    module = lm if kernels == "lm" else former_kernels()
    return fit(module, frames, errors, parallel, max_iter)


def lm_work(frames, errors) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: model passes, Cholesky factorizations and solves of lm.py's fit with ERR.

    Counted by running its block kernel's own code as Python, the LM functions too, with
    the three leaves (compiled) wrapped by counters; returns (counts (n, 3), result rows).
    """
    n = len(frames)
    counts = np.zeros((n, 3))
    frame = [0]
    leaves = ("_normal", "_cholesky", "_cho_solve")
    python = ("_fit_frame", "_weighted_lm", "_lm")
    saved = {name: getattr(lm, name) for name in (*leaves, *python, "_load_frame")}

    def counting(i, kernel):
        def call(*args):
            counts[frame[0], i] += 1
            return kernel(*args)
        return call

    def load(frames, errors, use_errors, k, *scratch):
        frame[0] = k  # the frame the next counts are charged to
        return saved["_load_frame"](frames, errors, use_errors, k, *scratch)

    out = np.empty((n, lm.N_OUT))
    try:
        for i, name in enumerate(leaves):
            setattr(lm, name, counting(i, saved[name]))
        for name in python:
            setattr(lm, name, saved[name].py_func)
        lm._load_frame = load
        with np.errstate(all="ignore"):
            lm._fit_block_errors.py_func(frames, errors, np.empty((0, 7)), False, 50, 1e-8, 0,
                                         n, out)
    finally:
        for name, kernel in saved.items():
            setattr(lm, name, kernel)
    return counts, out


def best_of_3(*functions, rounds: int = 3):
    """Time each function `rounds` times after a warm-up, the runs interleaved (a shared
    machine's load then falls on all of them alike).  Per function: (best wall time,
    wall times, CPU times of the calling thread, last result); the CPU time is the whole
    work of a 1-thread run, without the time other jobs took the core away."""
    wall = [[] for _ in functions]
    cpu = [[] for _ in functions]
    results = [f() for f in functions]  # warm-up (and compile)
    for _ in range(rounds):
        for i, function in enumerate(functions):
            t, c = time.perf_counter(), time.thread_time()
            results[i] = function()
            cpu[i].append(time.thread_time() - c)
            wall[i].append(time.perf_counter() - t)
    return [(min(w), np.array(w), np.array(c), r)
            for w, c, r in zip(wall, cpu, results, strict=True)]


def paired(a, b, threads: int) -> float:
    """Median over rounds of a's time / b's (CPU times on 1 thread, wall times on more)."""
    i = 2 if threads == 1 else 1
    return float(np.median(a[i] / b[i]))


def rms(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.nanmean(x**2, axis=0))


def accuracy(out: np.ndarray, truth: np.ndarray, crb: np.ndarray) -> np.ndarray:
    """Centroid RMS / CRB (x, y) over the frames fitted (converged or max_iter)."""
    ok = np.isin(out[:, lm.I_STATUS], (lm.CONVERGED, lm.MAX_ITER))
    return rms(out[ok, 1:3] - truth[ok, 1:3]) / crb


def agreement(new: np.ndarray, old: np.ndarray) -> str:
    """lm.py's results against the former kernels': frames converged before and not now,
    and the centroid differences (in units of the former uncertainty) where both did."""
    conv_old = old[:, lm.I_STATUS] == lm.CONVERGED
    conv_new = new[:, lm.I_STATUS] == lm.CONVERGED
    fitted_old = np.isin(old[:, lm.I_STATUS], (lm.CONVERGED, lm.MAX_ITER))
    fitted_new = np.isin(new[:, lm.I_STATUS], (lm.CONVERGED, lm.MAX_ITER))
    both = conv_old & conv_new & np.all(old[:, lm.I_ERR + 1:lm.I_ERR + 3] > 0.0, axis=1)
    shift = np.max(np.abs(new[both, 1:3] - old[both, 1:3])
                   / old[both, lm.I_ERR + 1:lm.I_ERR + 3], axis=1)
    quant = np.quantile(shift, [0.5, 0.999]) if both.any() else (np.nan, np.nan)
    return (f"converged before, not now: {int(np.sum(conv_old & ~conv_new))}; fitted "
            f"before, not now: {int(np.sum(fitted_old & ~fitted_new))}; now converged, "
            f"not before: {int(np.sum(conv_new & ~conv_old))}; centroid shift / error "
            f"median {quant[0]:.1e}, 99.9 % {quant[1]:.1e}, max "
            f"{shift.max() if both.any() else np.nan:.1e}")


def statuses(out: np.ndarray) -> str:
    counts = np.bincount(out[:, lm.I_STATUS].astype(int), minlength=4)
    return ", ".join(f"{lm.STATUS_NAMES[s]} {c}" for s, c in enumerate(counts) if c)


def main() -> None:
    """Length: one report, section after section, reads best in one piece."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--crb-frames", type=int, default=5000)
    parser.add_argument("--work-frames", type=int, default=2000,
                        help="frames whose passes lm.py's fit counts (run as Python)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each fit")
    parser.add_argument("--edge-frames", type=int, default=10_000,
                        help="FGS-like mix with NaN pixels and bad frames")
    args = parser.parse_args()
    n = args.frames
    noise = {"exposure": FGS_FRAME_TIME, "read_noise": FGS_READ_NOISE}

    m = machine()
    print(f"machine: {m['cores']} cores, {m['isa']}{' + FMA' if m['fma'] else ''}; clock "
          f"{m['mhz']:.0f} MHz reported, {m['ghz']:.2f} GHz measured (dependent adds, "
          f"{ADD_LATENCY}-cycle latency)")
    print(f"  DP peak {DP_FLOPS_PER_CYCLE} flops/cycle/core: {m['peak1']:.1f} GFLOP/s per "
          f"core, {m['peak']:.1f} on {m['cores']}; a numba FMA loop reaches {m['fma1']:.1f} "
          f"on 1 thread, {m['fma2']:.1f} on {m['cores']}")

    t = time.perf_counter()
    probe, probe_err, _ = simulate_frames(64, real_fgs_parameters, seed=9, **noise)
    for exp in ("vexp", "libm"):
        ks.fit_chunk(probe, probe_err, parallel=False, exp=exp)
    for errs in (probe_err, None):
        ks.fit_chunk(probe, errs, parallel=True)
        ks.fit_chunk(probe, errs, parallel=False)
    print(f"compiled the prototype in {time.perf_counter() - t:.0f} s")

    datasets = {
        "series": lambda rng: real_fgs_series(rng, n),
        "independent": lambda rng: real_fgs_parameters(rng, n),
    }
    report = {}
    for label, params in datasets.items():
        truth = params(np.random.default_rng(0))
        frames, errors, truth = simulate_frames(n, truth, seed=1, **noise)
        truth = canonical_parameters(truth)
        sample = np.linspace(0, n - 1, min(n, args.crb_frames)).astype(int)
        crb = rms(cramer_rao_bound(truth[sample], **noise)[:, 1:3])
        k = min(n, args.work_frames)
        work_new, rows_new = lm_work(frames[:k], errors[:k])
        for threads, parallel in ((1, False), (m["cores"], True)):
            timed = best_of_3(*[lambda w=w, f=frames, e=errors, p=parallel:
                                fit_with(w, f, e, parallel=p)
                                for w in ("former", "lm", "simd")], rounds=args.rounds)
            report[label, threads] = timed
        _, work_old = ks.fit_chunk(frames, errors, parallel=False)
        report[label] = (frames, errors, truth, crb, work_new, rows_new, work_old)

    print("\nflops per frame, analytic (ERR weights): per pixel and pass "
          f"{PASS_FLOPS} flops + 1 exp: " + "; ".join(f"{w} {f}" for w, f, e in PASS_TERMS if f))
    simd = compiled_loop(ks.batched_pass(), ks.UNROLL)
    loops = {}
    for name, module in (("lm.py", lm), ("former", former_kernels())):
        normal = nb.njit(fastmath=lm.FASTMATH)(_with_globals(module._normal))  # inspectable
        normal(np.zeros(64), np.ones(64), np.array([1e3, 3.5, 3.5, 0.7, 0.7, 0.1, 1.0]),
               np.empty((7, 7)), np.empty(7))
        loops[name] = compiled_loop(normal)
    print("  cross-check in the compiled loops, per frame-pixel: " + "; ".join(
        f"{name}'s pass {c.get('flops', np.nan):.0f} flops, {c.get('calls', np.nan):.0f} "
        f"exp calls, {c.get('memory', np.nan):.0f} memory operands (over "
        f"{c.get('step', 0)} pixels a step)" for name, c in loops.items())
        + f"; prototype {simd.get('flops', np.nan):.0f} flops with the exp inline, "
        f"{simd.get('memory', np.nan):.0f} memory operands ({simd.get('step', 0)} lanes x "
        f"{ks.UNROLL} px per step)")

    flops = {}
    for label in datasets:
        frames, errors, truth, crb, work_new, rows_new, work_old = report[label]
        t1 = report[label, 1]
        fits = {"former": t1[0][3], "lm": t1[1][3], "simd": t1[2][3]}
        k = len(work_new)
        new_fl = flops_per_frame(np.column_stack([work_new, np.zeros(k)]))
        old_fl = flops_per_frame(work_old)
        flops[label] = {"former": old_fl["total"], "lm": new_fl["total"],
                        "simd": old_fl["total"]}
        same_py = np.nanmax(np.abs(rows_new[:, 1:3] - fits["lm"][:k, 1:3]))
        same_simd = np.mean(fits["simd"][:, lm.I_NITER] == fits["former"][:, lm.I_NITER])
        print(f"\n{label}: {n:,} real-regime frames ("
              + ("`real_fgs_series`: a star per 2000-frame file, 1 % flux noise, 0.015 px "
                 "jitter, 2 tilt jumps per file" if label == "series" else
                 "`real_fgs_parameters`: a new star every frame")
              + f"), Cramér–Rao bound x {crb[0]:.2e}, y {crb[1]:.2e} px")
        for name, fl, out in (("former", old_fl, fits["former"]), ("lm.py", new_fl, fits["lm"])):
            print(f"  {name:<7} LM iterations {out[:, lm.I_NITER].mean():.3f} per frame; "
                  f"model passes {fl['passes']:.3f}, Cholesky {fl['chols']:.3f}, solves "
                  f"{fl['solves']:.3f} per frame; {fl['total']:,.0f} flop-equivalents per frame"
                  f" ({fl['pass flops']:,.0f} in the passes)")
        print(f"  (former kernels' work counted by the prototype, whose iterations equal "
              f"theirs on {100 * same_simd:.2f} % of frames; lm.py's by its own code run as "
              f"Python on the first {k:,} frames: its centroids differ from the compiled fit's "
              f"by {same_py:.0e} px at most)")
        print(f"  statuses: former {statuses(fits['former'])}; lm.py {statuses(fits['lm'])}")
        print(f"  lm.py vs former: {agreement(fits['lm'], fits['former'])}")
        for name, out in fits.items():
            a = accuracy(out, truth, crb)
            print(f"  centroid RMS / CRB {name:<7} x {a[0]:.4f}, y {a[1]:.4f}")

    rates = pass_rates(*report["series"][:2], report["series"][2])
    pass_fe = pass_flop_equivalents()
    print(f"\nmodel pass alone (64 px, {pass_fe:.0f} flop-eq.), 1 thread (series frames):")
    for name, ns in rates.items():
        print(f"  {name:<12} {ns:6.0f} ns per frame-pass = {pass_fe / ns:5.1f} GFLOP/s "
              f"({100 * pass_fe / ns / m['peak1']:4.1f} % of a core's peak)")

    print(f"\n{'frames':<12}{'thr':>4}{'former fr/s':>13}{'% peak':>8}{'lm.py fr/s':>12}"
          f"{'% peak':>8}{'speed-up':>10}{'paired':>8}{'SIMD fr/s':>12}{'vs former':>11}")
    for label in datasets:
        for threads in (1, m["cores"]):
            timed = report[label, threads]
            peak = m["peak1"] * threads
            rate = {name: n / timed[i][0] for i, name in enumerate(("former", "lm", "simd"))}
            pct = {name: 100 * rate[name] * flops[label][name] / 1e9 / peak for name in rate}
            print(f"{label:<12}{threads:>4}{rate['former']:>13,.0f}{pct['former']:>7.1f}%"
                  f"{rate['lm']:>12,.0f}{pct['lm']:>7.1f}%{timed[0][0] / timed[1][0]:>9.2f}x"
                  f"{paired(timed[0], timed[1], threads):>7.2f}x{rate['simd']:>12,.0f}"
                  f"{timed[0][0] / timed[2][0]:>10.2f}x")
    print("(frames/s: best wall time of the rounds; speed-up: lm.py against the former "
          "kernels, best and paired: the median over the rounds of the former's time / "
          "lm.py's in the same round, CPU times on 1 thread; % peak: flop-equivalents per "
          f"frame x frames/s over {DP_FLOPS_PER_CYCLE} DP flops/cycle x {m['ghz']:.2f} GHz x "
          "threads; SIMD: the batched prototype of the former control flow)")
    edge_cases(args.edge_frames)


def edge_cases(n: int) -> None:
    """lm.py against the former kernels, and the prototype's control flow against theirs,
    off the real regime: the FGS-like mix (faint, wide, edge-truncated stars) with NaN
    pixels, empty, flat and noise-only frames, at max_iter 50 and 3 (many frames stop at
    max_iter), with ERR and without (lm.py's fitted noise model; the former and the
    prototype's Poisson-like weights)."""
    if n < 100:
        return
    frames, errors, _ = simulate_frames(n, fgs_like_parameters, seed=3)
    rng = np.random.default_rng(0)
    k = rng.integers(0, n, n // 10)
    frames[k, rng.integers(0, 8, len(k)), rng.integers(0, 8, len(k))] = np.nan
    frames[5] = np.nan
    frames[7, :, :6] = np.nan
    frames[9] = 0.0
    errors[11] = 0.0
    frames[13] = rng.normal(0.0, 1.0, (8, 8))
    print(f"\nedge cases ({n:,} FGS-like frames, {len(k):,} NaN pixels, bad frames):")
    for max_iter in (50, 3):
        for weights, errs in (("ERR", errors), ("Poisson", None)):
            old = fit_with("former", frames, errs, max_iter=max_iter, parallel=False)
            new = fit_with("lm", frames, errs, max_iter=max_iter, parallel=False)
            simd = fit_with("simd", frames, errs, max_iter=max_iter, parallel=False)
            same = np.mean((old[:, lm.I_STATUS] == simd[:, lm.I_STATUS])
                           & (old[:, lm.I_NITER] == simd[:, lm.I_NITER]))
            print(f"  max_iter {max_iter:2d}, {weights:<7}: former {statuses(old)}; lm.py "
                  f"{statuses(new)}; mean iterations {old[:, lm.I_NITER].mean():.2f} -> "
                  f"{new[:, lm.I_NITER].mean():.2f}")
            if weights == "ERR":
                print(f"      lm.py vs former: {agreement(new, old)}")
            print(f"      prototype: same status and iterations as the former on "
                  f"{100 * same:.3f} %, max |dx| "
                  f"{np.nanmax(np.abs(old[:, 1] - simd[:, 1])):.1e} px")


if __name__ == "__main__":
    main()
