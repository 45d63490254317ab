"""The fit kernel's distance to the machine's limit, and the batched-SIMD layout.

Run: ``python benchmarks/bench_kernel.py [--frames 100000] [--crb-frames 5000]``
(~2 minutes, of which 30-60 s are numba compiling the prototype, which is not cached).

What it measures, on real-regime FGS frames (`simulate.real_fgs_parameters`: sigma
0.64-0.73 px, peak 2-3e5 DN/s on 2500-3400 DN/s, 0.0625 s frames, Poisson + 12 e- read
noise, ERR from the noisy data, as in ``bench_real_regime.py``):

1. Flops per frame of `fgs_widgets.engine.lm` (float64 throughout: float32 frames are
   converted on load), counted analytically from its code (`PASS_TERMS` and the
   other tables below: add/sub/mul 1 flop, FMA 2, exp as `EXP_FLOPS` flop-equivalents,
   divisions, square roots and trigonometric calls counted apart) times the work per
   frame as measured: model passes (`lm._normal`), Cholesky factorizations and solves
   per frame, counted by the prototype's copy of lm.py's control flow (its per-frame
   iteration counts are checked to equal lm.py's).  The analytic count of a pass is
   cross-checked against the compiled code: the FP instructions of the hot loops
   (lm.py's pass and the prototype's), counted in their assembly (this VM exposes no
   hardware counters: ``perf stat -e cycles`` says "not supported").
2. Frames/s of ``gaussian.fit_chunk`` on 1 thread (``parallel=False``) and on both
   cores, best of 3 after a warm-up; achieved GFLOP/s and the fraction of this
   machine's peak.  The peak: cores x clock x 16 DP flops/cycle (AVX2 + 2 FMA pipes),
   with the clock measured from a dependent chain of float adds (3 cycles each on AMD
   Zen 2/3/4: an assumption), and the FMA throughput a numba loop actually reaches.
   The kernel's own arithmetic core: a loop of model passes alone (lm.py's, and the
   prototype's), as an upper bound of frames/s at the measured passes per frame.
3. The batched-SIMD prototype (``benchmarks/kernel_simd.py``: frames across vector
   lanes, a polynomial exp that vectorizes) on the same frames and threads: frames/s,
   speed-up, centroid RMS / Cramér–Rao bound (the RMS of the per-frame bounds over
   ``--crb-frames`` frames, as bench_real_regime) next to lm.py's, and the largest
   difference to lm.py's results.  Two controls separate what the layout gains from
   what the vector exp gains: the prototype with libm's exp (a scalar call per lane),
   and lm.py's own kernel with only its exp replaced by the polynomial
   (``kernel_simd.lm_vexp_fit_chunk``).  Then edge cases (FGS-like mix, NaN pixels, bad
   frames, max_iter 3) check that the prototype's control flow is lm.py's.

Without ERR ("Poisson" rows) the prototype implements the former weighting (two LM rounds
with weights 1 / (max(star model, 0) + corner noise), the covariance scaled by chi2_red),
which lm.py replaced in issue 27 by a fitted noise model (``bench_errors.py``): those rows
compare it with the frozen former kernels, ``lm_baseline.py``, not with lm.py.

The machine is shared (other jobs may run on the 2 cores): timings vary by 10-30 %
between runs; each figure is the best of 3, lm.py's and the prototype's runs
interleaved, and the speed-up is also given as the median of the per-round ratios
("paired").
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
from bench_errors import former_kernels  # noqa: E402

from fgs_widgets.engine import lm  # noqa: E402
from fgs_widgets.engine.crb import cramer_rao_bound  # noqa: E402
from fgs_widgets.engine.gaussian import fit_chunk  # noqa: E402
from fgs_widgets.engine.simulate import (  # noqa: E402
    FGS_FRAME_TIME,
    FGS_READ_NOISE,
    fgs_like_parameters,
    real_fgs_parameters,
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


def _lm_passes_vexp_kernel():
    """`_lm_passes` over lm.py's pass with only its exp replaced (`ks.lm_vexp_normal`)."""
    module = types.ModuleType("lm_vexp")
    module._normal = ks.lm_vexp_normal()
    return nb.njit(ks._clone(_lm_passes, lm=module))


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
    """ns per frame-pass of lm.py's pass (as it is, and with the polynomial exp) and of the
    prototype's (polynomial and libm exp), on `n` frames at their true parameters with
    their ERR weights."""
    f = frames[:n].reshape(n, 64).astype(np.float64)
    w = 1.0 / errors[:n].reshape(n, 64).astype(np.float64) ** 2
    p = np.ascontiguousarray(truth[:n])
    g = n // ks.LANES
    # (groups, pixel-major rows of LANES): element [g, i * LANES + lane]
    fv = f[: g * ks.LANES].reshape(g, ks.LANES, 64).transpose(0, 2, 1).reshape(g, -1).copy()
    wv = w[: g * ks.LANES].reshape(g, ks.LANES, 64).transpose(0, 2, 1).reshape(g, -1).copy()
    par = p[: g * ks.LANES].reshape(g, ks.LANES, 7).transpose(0, 2, 1).reshape(g, -1).copy()
    out = {}
    lm_vexp = _lm_passes_vexp_kernel()
    runs = {"lm.py": lambda r: _lm_passes(f, w, p, r),
            "lm.py+vexp": lambda r: lm_vexp(f, w, p, r)}
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
        frames_done = (n if name.startswith("lm.py") else g * ks.LANES) * reps
        out[name] = best / frames_done * 1e9
    return out


# ---------------------------------------------------------------- fits

def reference_fit(frames, errors=None, max_iter: int = 50, parallel: bool = True):
    """What the prototype is compared with: lm.py's `fit_chunk` with ERR; without, the
    former kernels (``lm_baseline.py``), whose weighting the prototype implements."""
    if errors is not None:
        return fit_chunk(frames, errors, max_iter=max_iter, parallel=parallel)
    old = former_kernels()
    out = np.empty((len(frames), lm.N_OUT))
    kernel = old.fit_chunk_parallel if parallel else old.fit_chunk_serial
    kernel(np.ascontiguousarray(frames), np.empty((0, 8, 8), frames.dtype), False,
           np.empty((0, 7)), False, int(max_iter), 1e-8, out, 16 * nb.get_num_threads())
    out[:, lm.I_SPARE] = 0.0
    return out


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--crb-frames", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each fit")
    parser.add_argument("--edge-frames", type=int, default=10_000,
                        help="FGS-like mix with NaN pixels and bad frames (control-flow check)")
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

    frames, errors, truth = simulate_frames(n, real_fgs_parameters, seed=0, **noise)
    sample = np.linspace(0, n - 1, min(n, args.crb_frames)).astype(int)
    crb = rms(cramer_rao_bound(truth[sample], **noise)[:, 1:3])
    print(f"{n:,} real-regime frames (float32 frames, the kernels compute in float64); "
          f"Cramér–Rao bound x {crb[0]:.2e}, y {crb[1]:.2e} px")

    t = time.perf_counter()
    for exp in ("vexp", "libm"):
        ks.fit_chunk(frames[:64], errors[:64], parallel=False, exp=exp)
    ks.fit_chunk(frames[:64], errors[:64], parallel=True)
    ks.fit_chunk(frames[:64], None, parallel=False)
    ks.fit_chunk(frames[:64], None, parallel=True)
    ks.lm_vexp_fit_chunk(frames[:64], errors[:64])
    print(f"compiled the prototype in {time.perf_counter() - t:.0f} s")

    rows = []
    results = {}
    for weights, errs in (("ERR", errors), ("Poisson", None)):
        for threads, parallel in ((1, False), (m["cores"], True)):
            runs = [lambda e=errs, p=parallel: reference_fit(frames, e, parallel=p),
                    lambda e=errs, p=parallel: ks.fit_chunk(frames, e, parallel=p)]
            if weights == "ERR" and not parallel:
                runs.append(lambda: ks.fit_chunk(frames, errors, parallel=False, exp="libm"))
                runs.append(lambda: ks.lm_vexp_fit_chunk(frames, errors))
            timed = best_of_3(*runs, rounds=args.rounds)
            (t_lm, _, _, out_lm), (t_simd, _, _, (out_simd, work)) = timed[:2]
            if len(timed) > 2:
                t_libm, (out_libm, _) = timed[2][0], timed[2][3]
                gain_libm = paired(timed[0], timed[2], 1)
                t_lmv, out_lmv = timed[3][0], timed[3][3]
                gain_lmv = paired(timed[0], timed[3], 1)
            results[weights, threads] = (t_lm, out_lm, t_simd, out_simd, work)
            rows.append((weights, threads, t_lm, t_simd, paired(timed[0], timed[1], threads)))

    # flop accounting (ERR weights)
    _, out_lm, _, out_simd, work = results["ERR", 1]
    same_iter = np.mean(out_lm[:, lm.I_NITER] == out_simd[:, lm.I_NITER])
    fl = flops_per_frame(work)
    print("\nflops per frame (lm.py, ERR weights), analytic:")
    print(f"  per pixel and pass {PASS_FLOPS} flops + 1 exp: "
          + "; ".join(f"{w} {f}" for w, f, e in PASS_TERMS if f))
    print(f"  measured work per frame: {fl['passes']:.3f} model passes (64 px each), "
          f"{fl['chols']:.3f} Cholesky, {fl['solves']:.3f} solves; mean LM iterations "
          f"{out_lm[:, lm.I_NITER].mean():.3f} (identical per frame to lm.py's on "
          f"{100 * same_iter:.2f} % of frames)")
    print(f"  passes {fl['pass flops']:8.0f} flops   exp {fl['exp']:6.0f} (x{EXP_FLOPS} = "
          f"{EXP_FLOPS * fl['exp']:.0f})   Cholesky+solves {fl['solve flops']:6.0f}   other "
          f"(load, moments, variances) {fl['other flops']:5.0f}")
    print(f"  div {fl['div']:.0f}, sqrt {fl['sqrt']:.0f}, sin/cos/atan2 {fl['trig']:.0f} "
          f"(x{TRIG_FLOPS}); total {fl['arith']:.0f} flops + exp/div/sqrt/trig = "
          f"{fl['total']:.0f} flop-equivalents per frame "
          f"({100 * fl['pass flops'] / fl['arith']:.0f} % of the flops in the passes)")
    simd = compiled_loop(ks.batched_pass(), ks.UNROLL)
    lm_normal = nb.njit(fastmath=lm.FASTMATH)(lm._normal.py_func)  # uncached: inspectable
    lm_normal(np.zeros(64), np.ones(64), truth[0].copy(), np.empty((7, 7)), np.empty(7))
    scalar = compiled_loop(lm_normal)
    lm_vexp = ks.lm_vexp_normal()
    lm_vexp(np.zeros(64), np.ones(64), truth[0].copy(), np.empty((7, 7)), np.empty(7))
    control = compiled_loop(lm_vexp)
    print(f"  cross-check in the compiled loops, per frame-pixel: lm.py's pass "
          f"{scalar.get('flops', np.nan):.0f} flops + {scalar.get('calls', np.nan):.0f} "
          f"libm exp call, {scalar.get('memory', np.nan):.0f} memory operands "
          f"(vectorized over {scalar.get('step', 0)} pixels: its 35 sums x 4 vectors spill); "
          f"prototype {simd.get('flops', np.nan):.0f} flops with the exp inline (analytic "
          f"{PASS_FLOPS} + 34 for the polynomial exp), {simd.get('memory', np.nan):.0f} "
          f"memory operands ({simd.get('step', 0)} lanes x {ks.UNROLL} px per step); "
          f"lm.py's pass with the polynomial exp {control.get('flops', np.nan):.0f} flops, "
          f"{control.get('calls', np.nan):.0f} calls, {control.get('memory', np.nan):.0f} "
          "memory operands")
    poisson = flops_per_frame(results["Poisson", 1][4])

    rates = pass_rates(frames, errors, truth)
    pass_fe = pass_flop_equivalents()
    print(f"\nmodel pass alone (64 px, {pass_fe:.0f} flop-eq.), 1 thread:")
    whole = {"lm.py": results["ERR", 1][0], "lm.py+vexp": t_lmv,
             "SIMD (vexp)": results["ERR", 1][2], "SIMD (libm)": t_libm}
    for name, ns in rates.items():
        bound = 1e9 / (ns * fl["passes"])
        print(f"  {name:<12} {ns:6.0f} ns per frame-pass = {pass_fe / ns:5.1f} GFLOP/s "
              f"({100 * pass_fe / ns / m['peak1']:4.1f} % of a core's peak); bound "
              f"{bound:9,.0f} frames/s at {fl['passes']:.2f} passes/frame; the whole fit "
              f"reaches {100 * n / whole[name] / bound:3.0f} % of it")

    print(f"\n{'weights':<8}{'thr':>4}{'lm.py fr/s':>12}{'GFLOP/s':>9}{'% peak':>8}"
          f"{'SIMD fr/s':>12}{'GFLOP/s':>9}{'% peak':>8}{'speed-up':>10}{'paired':>7}"
          f"{'RMS/CRB lm':>14}{'RMS/CRB SIMD':>15}{'max|dx|,|dy| px':>18}")
    for weights, threads, t_lm, t_simd, gain in rows:
        _, out_lm, _, out_simd, work = results[weights, threads]
        per = (fl if weights == "ERR" else poisson)["total"]
        peak = m["peak1"] * threads
        r_lm, r_simd = n / t_lm, n / t_simd
        a_lm, a_simd = accuracy(out_lm, truth, crb), accuracy(out_simd, truth, crb)
        diff = np.nanmax(np.abs(out_simd[:, 1:3] - out_lm[:, 1:3]))
        print(f"{weights:<8}{threads:>4}{r_lm:>12,.0f}{r_lm * per / 1e9:>9.2f}"
              f"{100 * r_lm * per / 1e9 / peak:>7.1f}%{r_simd:>12,.0f}"
              f"{r_simd * per / 1e9:>9.2f}{100 * r_simd * per / 1e9 / peak:>7.1f}%"
              f"{t_lm / t_simd:>9.2f}x{gain:>6.2f}x"
              f"{a_lm[0]:>8.4f},{a_lm[1]:.4f}"
              f"{a_simd[0]:>9.4f},{a_simd[1]:.4f}{diff:>18.1e}")
    t_lm1 = results["ERR", 1][0]
    print(f"{'ERR':<8}{1:>4}{'':>12}{'':>9}{'':>8}{n / t_libm:>12,.0f}{'':>9}{'':>8}"
          f"{t_lm1 / t_libm:>9.2f}x{gain_libm:>6.2f}x  <- SIMD layout, libm's exp "
          f"(max|dx| "
          f"{np.nanmax(np.abs(out_libm[:, 1:3] - results['ERR', 1][1][:, 1:3])):.1e} px)")
    print(f"{'ERR':<8}{1:>4}{n / t_lmv:>12,.0f}{'':>9}{'':>8}{'':>12}{'':>9}{'':>8}"
          f"{t_lm1 / t_lmv:>9.2f}x{gain_lmv:>6.2f}x  <- lm.py's layout, only its exp made the "
          f"polynomial (max|dx| "
          f"{np.nanmax(np.abs(out_lmv[:, 1:3] - results['ERR', 1][1][:, 1:3])):.1e} px)")
    print("(frames/s and speed-up: best wall times of 3; paired: median over the rounds of "
          "lm.py's time / the prototype's in the same round, CPU times on 1 thread)")
    print(f"(% peak: of {DP_FLOPS_PER_CYCLE} DP flops/cycle x {m['ghz']:.2f} GHz x threads; "
          f"flops/frame {fl['total']:.0f} with ERR, {poisson['total']:.0f} Poisson-like: "
          f"{poisson['passes']:.2f} passes, 2 weight passes)")
    for weights in ("ERR", "Poisson"):
        _, out_lm, _, out_simd, _ = results[weights, 1]
        cols = np.nanmax(np.abs(out_simd - out_lm), axis=0)
        same = np.mean((out_lm[:, lm.I_STATUS] == out_simd[:, lm.I_STATUS])
                       & (out_lm[:, lm.I_NITER] == out_simd[:, lm.I_NITER]))
        reference = "lm.py" if weights == "ERR" else "lm_baseline.py"
        print(f"{weights}: SIMD vs {reference}, same status and iterations on "
              f"{100 * same:.3f} % of frames; max |difference| amplitude {cols[0]:.1e}, widths "
              f"{max(cols[3], cols[4]):.1e} px, theta {cols[5]:.1e}, offset {cols[6]:.1e}, "
              f"x_mean_err {cols[lm.I_ERR + 1]:.1e} px")
    edge_cases(args.edge_frames)


def edge_cases(n: int) -> None:
    """The prototype's control flow against lm.py's off the real regime: the FGS-like mix
    (faint, wide, edge-truncated stars) with NaN pixels, empty, flat and noise-only frames,
    at max_iter 50 and 3 (many frames stop at max_iter)."""
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
    print(f"edge cases ({n:,} FGS-like frames, {len(k):,} NaN pixels, bad frames):")
    for max_iter in (50, 3):
        for weights, errs in (("ERR", errors), ("Poisson", None)):
            a = reference_fit(frames, errs, max_iter=max_iter, parallel=False)
            b, _ = ks.fit_chunk(frames, errs, max_iter=max_iter, parallel=False)
            same = np.mean((a[:, lm.I_STATUS] == b[:, lm.I_STATUS])
                           & (a[:, lm.I_NITER] == b[:, lm.I_NITER]))
            statuses = ", ".join(f"{lm.STATUS_NAMES[s]} {c}" for s, c in enumerate(
                np.bincount(a[:, lm.I_STATUS].astype(int), minlength=4)) if c)
            nan = int(np.sum(np.any(np.isnan(a[:, :14]) != np.isnan(b[:, :14]), axis=1)))
            print(f"  max_iter {max_iter:2d}, {weights:<7}: same status and iterations on "
                  f"{100 * same:.3f} %; max |dx| {np.nanmax(np.abs(a[:, 1] - b[:, 1])):.1e} px;"
                  f" frames whose NaN pattern differs {nan}; lm.py: {statuses}")


if __name__ == "__main__":
    main()
