"""Experimental batched-SIMD layout of the fit kernel: frames across vector lanes.

A prototype for ``benchmarks/bench_kernel.py``, not used by the package.  It fits
the same model as the fit kernels before issue 27 (``benchmarks/lm_baseline.py``:
rotated 2D Gaussian plus offset on an 8x8 frame) with the same weights (1/ERR², or
the two Poisson-like rounds), the same seed (`lm.moments`, every frame from its own
moments), damping schedule (lambda 1e-3, x10 on a rejected or
impossible step, up to 14 tries, /10 down to 1e-9 on an accepted one) and
stopping rule (`lm.XTOL`, ``tol``, ``max_iter``), and writes the same result rows
(`lm.RAW_COLUMNS`).  Only the hot loop is different:

* `lm._normal` runs over the 64 pixels of one frame (LLVM vectorizes it across
  pixels: 35 reductions, and 64 scalar calls to libm's exp);
* here one pass evaluates chi2 and the 35 normal-equation sums for `LANES` frames
  at once, with the pixel loop outermost and the frame (lane) index innermost, so
  that LLVM vectorizes across frames: no reductions, and the exponential is a
  branch-free polynomial (`vexp`, <= 1 ulp in the range the model needs) that
  vectorizes too.

Each lane is one frame's LM state machine (the control flow of `lm._lm` and
`lm._weighted_lm` unrolled into phases); per pass every busy lane needs exactly
one model evaluation — its starting point or its next trial step — and the
scalar per-lane work between passes (damping, 7x7 Cholesky, solve, accept or
reject) reuses lm.py's own functions.  A lane whose frame is finished is
refilled at once with the next frame of the block, so the lanes stay busy
whatever the frames' iteration counts; idle lanes (at the end of a block)
evaluate a harmless dummy frame of zero weight.

The per-lane arrays are flat with rows of the compile-time constant `LANES`
(row r of an array is ``[r * LANES, (r + 1) * LANES)``): the rows of one array
then lie at constant distances, so LLVM's alias analysis needs one runtime check
per array, not one per row.  The lane loop's trip count is a run-time value so
that LLVM vectorizes it rather than unrolling it (numba leaves the SLP
vectorizer off).  Each step of the lane loop takes `UNROLL` pixels of a row:
their terms are summed before the 36 read-modify-writes of the sums, and their
independent dependency chains (the polynomial exp is 13 FMAs deep) overlap.
Measured on this machine (2-core EPYC, AVX2): the pass costs ~0.3 µs per frame
with 4 pixels per step against ~0.6 µs with 1, and 16 lanes run twice as fast as
8 (LLVM's vector body takes 4 doubles x its interleave factor lanes at a time).

Not supported (not needed for the comparison): ``initial`` parameters.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from fgs_widgets.engine import lm

#: frames in flight per block: a multiple of the 4 doubles of an AVX2 vector, and at least
#: 16 (see the module docstring)
LANES = 16
#: fast-math flags of the pass: lm.py's without "reassoc".  Across lanes nothing needs
#: reassociating (each sum is one lane's, in pixel order), and `vexp`'s range reduction
#: must not be re-associated away.
PASS_FLAGS = {"nsz", "arcp", "contract", "afn"}

# exp(x) = 2**k * exp(r), k = round(x / ln 2), |r| <= ln2 / 2 (Cody–Waite reduction)
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SHIFT = 6755399441055744.0  # 1.5 * 2**52: x + SHIFT rounds x to an integer in the low bits
_SHIFT_BITS = 0x4338000000000000  # the bits of _SHIFT
#: the smallest argument kept (2**k stays a normal number): exp(-708) = 3.3e-308 stands
#: for 0 (the star's wing that far out is below any pixel's rounding)
_EXP_MIN = -708.0

# per-lane rows of the derived model constants (`_prepare`) and of the sums (the pass)
_Q_AMP, _Q_X0, _Q_Y0, _Q_OFF, _Q_A, _Q_B, _Q_C = 0, 1, 2, 3, 4, 5, 6
_Q_A3, _Q_B3, _Q_C3, _Q_A4, _Q_B4, _Q_C4, _Q_A5, _Q_B5, _Q_C5 = 7, 8, 9, 10, 11, 12, 13, 14, 15
N_Q = 16
#: 28 sums of the symmetric 7x7 matrix (row-major upper triangle), 7 of the gradient, chi2
N_ACC = 36
_ACC_R, _ACC_CHI2 = 28, 35

# lane phases
IDLE, INIT, TRIAL = 0, 1, 2


@nb.njit(fastmath=PASS_FLAGS, inline="always")
def vexp(x):
    """exp(x) for x <= 0 without a library call (vectorizes): <= 1 ulp for x >= -708,
    3.3e-308 below; NaN stays NaN.  Degree-13 Taylor polynomial of exp(r), |r| <= ln2/2
    (truncation 4e-18 relative)."""
    x = _EXP_MIN if x < _EXP_MIN else x
    t = x * _LOG2E + _SHIFT
    kf = t - _SHIFT
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = np.float64(t).view(np.int64) - np.int64(_SHIFT_BITS)
    return p * np.int64((k + np.int64(1023)) << np.int64(52)).view(np.float64)


@nb.njit(fastmath=PASS_FLAGS, inline="always")
def libm_exp(x):
    """libm's exp (what lm.py calls): the scalar call LLVM cannot vectorize."""
    return math.exp(x)


@nb.njit(fastmath=lm.FASTMATH)
def _prepare(par, q, nl):
    """The exponent's coefficients and their derivatives (as in `lm._normal`) of each lane's
    parameters ``par`` (7 rows of `LANES`) into ``q`` (`N_Q` rows)."""
    for lane in range(nl):
        sx, sy, th = par[3 * LANES + lane], par[4 * LANES + lane], par[5 * LANES + lane]
        ct, st = math.cos(th), math.sin(th)
        s2t, c2t = 2.0 * st * ct, ct * ct - st * st
        ix2, iy2 = 1.0 / (sx * sx), 1.0 / (sy * sy)
        ix3, iy3 = ix2 / sx, iy2 / sy
        a5 = 0.5 * s2t * (iy2 - ix2)
        q[_Q_AMP * LANES + lane] = par[lane]
        q[_Q_X0 * LANES + lane] = par[LANES + lane]
        q[_Q_Y0 * LANES + lane] = par[2 * LANES + lane]
        q[_Q_OFF * LANES + lane] = par[6 * LANES + lane]
        q[_Q_A * LANES + lane] = 0.5 * (ct * ct * ix2 + st * st * iy2)
        # the cross terms' coefficients are stored doubled (2 b): exact in binary
        q[_Q_B * LANES + lane] = 0.5 * s2t * (ix2 - iy2)
        q[_Q_C * LANES + lane] = 0.5 * (st * st * ix2 + ct * ct * iy2)
        q[_Q_A3 * LANES + lane] = -ct * ct * ix3
        q[_Q_B3 * LANES + lane] = -s2t * ix3
        q[_Q_C3 * LANES + lane] = -st * st * ix3
        q[_Q_A4 * LANES + lane] = -st * st * iy3
        q[_Q_B4 * LANES + lane] = s2t * iy3
        q[_Q_C4 * LANES + lane] = -ct * ct * iy3
        q[_Q_A5 * LANES + lane] = a5
        q[_Q_B5 * LANES + lane] = c2t * (ix2 - iy2)
        q[_Q_C5 * LANES + lane] = -a5


def _make_pass(exp, unroll):
    """The batched pass with the exponential `exp` (`vexp`, `lm.vexp`: Estrin's scheme,
    or `libm_exp`), `unroll` (1, 2, 4 or 8) pixels of a row per lane and step: their terms are added
    before they go to memory, and their independent chains overlap."""

    @nb.njit(fastmath=PASS_FLAGS, inline="always")
    def pixel(px, py, fi, wi, amp, x0, y0, off, a, b, c, a3, b3, c3, a4, b4, c4, a5, b5,
              c5):
        """One pixel's 36 terms (`N_ACC` order) of one lane: `lm._normal`'s arithmetic."""
        dx = px - x0
        dy = py - y0
        dx2, dxy, dy2 = dx * dx, dx * dy, dy * dy
        e = exp(-(a * dx2 + b * dxy + c * dy2))  # b is 2 b
        ae = amp * e
        res = fi - ae - off
        wr = wi * res
        ae2 = 2.0 * ae
        g0 = e
        g1 = ae2 * (a * dx + 0.5 * b * dy)
        g2 = ae2 * (0.5 * b * dx + c * dy)
        g3 = -ae * (a3 * dx2 + b3 * dxy + c3 * dy2)
        g4 = -ae * (a4 * dx2 + b4 * dxy + c4 * dy2)
        g5 = -ae * (a5 * dx2 + b5 * dxy + c5 * dy2)
        w0, w1, w2, w3, w4, w5 = wi * g0, wi * g1, wi * g2, wi * g3, wi * g4, wi * g5
        return (w0 * g0, w0 * g1, w0 * g2, w0 * g3, w0 * g4, w0 * g5, w0,
                w1 * g1, w1 * g2, w1 * g3, w1 * g4, w1 * g5, w1,
                w2 * g2, w2 * g3, w2 * g4, w2 * g5, w2,
                w3 * g3, w3 * g4, w3 * g5, w3,
                w4 * g4, w4 * g5, w4,
                w5 * g5, w5, wi,
                w0 * res, w1 * res, w2 * res, w3 * res, w4 * res, w5 * res, wr, wr * res)

    # The lane loop's body is generated: `unroll` calls of `pixel` and 36 sums of their
    # terms with constant tuple indices.  A loop over a tuple's items (``for k in
    # range(N_ACC): acc[k * LANES + lane] += t[k]``) does not vectorize: 4.2 µs per
    # frame-pass instead of 0.6.  (Generated code cannot go into numba's disk cache.)
    names = "tuvzabcd"[:unroll]
    coefficients = ", ".join(f"q{r}" for r in range(N_Q))
    calls = "\n".join(
        f"                {n} = pixel(px + {j}.0, py, fv[o + {j * LANES} + lane], "
        f"wv[o + {j * LANES} + lane], {coefficients})" for j, n in enumerate(names))
    sums = "\n".join(
        f"                acc[{k * LANES} + lane] += " + " + ".join(f"{n}[{k}]" for n in names)
        for k in range(N_ACC))
    source = f"""
def batched_pass(fv, wv, q, acc, nl):
    for j in range(N_ACC * LANES):
        acc[j] = 0.0
    for i in range(0, 64, {unroll}):
        px = float(i & 7)
        py = float(i >> 3)
        o = i * LANES
        for lane in range(nl):
            {coefficients} = ({", ".join(f"q[{r * LANES} + lane]" for r in range(N_Q))})
{calls.replace("                ", "            ")}
{sums.replace("                ", "            ")}
"""
    namespace = {"pixel": pixel, "N_ACC": N_ACC, "LANES": LANES}
    exec(source, namespace)  # generated from the constants above
    batched_pass = nb.njit(fastmath=PASS_FLAGS, error_model="numpy")(namespace["batched_pass"])
    batched_pass.__doc__ = """chi2 and the 35 sums of JᵀWJ, JᵀWr of `nl` lanes in one pass.

    ``fv``, ``wv``: 64 rows (pixels) of `LANES`; ``q``: `_prepare`'s rows; ``acc``:
    `N_ACC` rows, overwritten.  The same arithmetic as `lm._normal`."""
    return batched_pass


EXPS = {"vexp": vexp, "estrin": lm.vexp, "libm": libm_exp}
#: pixels of a row per lane and step in the default kernel (`_make_pass`)
UNROLL = 4
PASSES = {}


def batched_pass(exp: str = "vexp", unroll: int = UNROLL):
    """The compiled pass with exponential `exp` (a key of `EXPS`) and `unroll` in 1, 2, 4, 8
    (built on first use: each variant compiles in seconds)."""
    if (exp, unroll) not in PASSES:
        PASSES[exp, unroll] = _make_pass(EXPS[exp], unroll)
    return PASSES[exp, unroll]


@nb.njit
def _unpack(acc, lane, jtj, jtr):
    """Lane ``lane``'s sums into the full symmetric ``jtj`` (7, 7) and ``jtr`` (7)."""
    m = 0
    for i in range(7):
        for j in range(i, 7):
            v = acc[m * LANES + lane]
            jtj[i, j] = v
            jtj[j, i] = v
            m += 1
    for i in range(7):
        jtr[i] = acc[(_ACC_R + i) * LANES + lane]


@nb.njit
def _propose(lane, lam, s_jtj, s_jtr, p, step, trial, damped, low, attempt, cnt):
    """The next trial step of a lane (the inner loop of `lm._lm` up to its model
    evaluation).  Returns (True, lam, attempt) with ``trial[lane]`` to evaluate, or
    (False, lam, 14) when all 14 tries are used up (no downhill step).  Counts the
    Cholesky factorizations and solves in ``cnt[1]``, ``cnt[2]``."""
    jtj = s_jtj[lane]
    while attempt < 14:
        cnt[1] += 1
        for i in range(7):
            for j in range(7):
                damped[i, j] = jtj[i, j]
            damped[i, i] = jtj[i, i] * (1.0 + lam) + 1e-300
        if not lm._cholesky(damped, low):
            lam *= 10.0
            attempt += 1
            continue
        lm._cho_solve(low, s_jtr[lane], step[lane])
        cnt[2] += 1
        for i in range(7):
            trial[lane, i] = p[lane, i] + step[lane, i]
        trial[lane, 3] = abs(trial[lane, 3])
        trial[lane, 4] = abs(trial[lane, 4])
        if not (lm.SIGMA_MIN < trial[lane, 3] < lm.SIGMA_MAX
                and lm.SIGMA_MIN < trial[lane, 4] < lm.SIGMA_MAX):
            lam *= 10.0
            attempt += 1
            continue
        return True, lam, attempt
    return False, lam, attempt


def _make_block(batched_pass):
    """The block driver (`lm._fit_block` with lanes) around `batched_pass`."""

    @nb.njit(error_model="numpy")
    def fit_block(frames, errors, use_errors, max_iter, tol, start, stop, out, work):
        """Fit frames[start:stop] into out[start:stop], `LANES` frames at a time.

        ``work`` (n, 4) gets each frame's model passes, Cholesky factorizations,
        solves (the LM loop's) and Poisson-weight passes: the flop accounting.
        """
        fv = np.zeros(64 * LANES)
        # the lane count as a run-time value: a literal would make the pass's lane loop
        # a constant-trip loop, which LLVM unrolls instead of looping over vectors
        nl = fv.shape[0] // 64
        wv = np.zeros(64 * LANES)
        q = np.zeros(N_Q * LANES)
        acc = np.zeros(N_ACC * LANES)
        par = np.zeros(7 * LANES)
        # per-lane scalar state (rows: lanes)
        f1 = np.empty(64)
        w1 = np.empty(64)
        valid = np.empty((LANES, 64))
        marked = np.empty((8, 8))
        corner = np.empty(12)
        p = np.empty((LANES, 7))
        trial = np.empty((LANES, 7))
        step = np.empty((LANES, 7))
        s_jtj = np.empty((LANES, 7, 7))
        s_jtr = np.empty((LANES, 7))
        damped = np.empty((7, 7))
        low = np.zeros((7, 7))
        var = np.empty(7)
        frame = np.full(LANES, -1)
        phase = np.zeros(LANES, np.int64)
        n_valid = np.zeros(LANES, np.int64)
        lam = np.zeros(LANES)
        chi2 = np.zeros(LANES)
        floor = np.ones(LANES)
        it = np.zeros(LANES, np.int64)
        it_max = np.zeros(LANES, np.int64)  # this round's iteration limit
        attempt = np.zeros(LANES, np.int64)
        rnd = np.zeros(LANES, np.int64)
        total_it = np.zeros(LANES, np.int64)
        counts = np.zeros((LANES, 4), np.int64)
        rounds = 1 if use_errors else 2
        dummy = (1.0, 3.5, 3.5, 1.0, 1.0, 0.0, 0.0)  # idle lanes: zero weight
        nxt = start
        busy = 0
        # lane events are handled in this loop; `action` says what the lane needs next:
        # 0 nothing (pass pending), 1 refill, 2 propose, 3 end of round
        action = np.zeros(LANES, np.int64)
        status = np.zeros(LANES, np.int64)
        for lane in range(LANES):
            action[lane] = 1
        while True:
            for lane in range(LANES):
                while action[lane] != 0:
                    act = action[lane]
                    action[lane] = 0
                    if act == 1:  # refill: the next frame that can be fitted
                        if frame[lane] >= 0:
                            busy -= 1
                        frame[lane] = -1
                        phase[lane] = IDLE
                        while nxt < stop:
                            k = nxt
                            nxt += 1
                            row = out[k]
                            nv = lm._load_frame(frames, errors, use_errors, k, f1, w1,
                                                valid[lane], marked)
                            row[:] = np.nan
                            row[lm.I_NITER] = 0.0
                            row[lm.I_STATUS] = lm.BAD_INPUT
                            for c in range(4):
                                work[k, c] = 0.0
                            if nv < lm.MIN_VALID_PIXELS:
                                continue
                            noise = lm.moments(marked, corner, p[lane], True)
                            if noise < 0.0:
                                continue
                            if not use_errors:
                                floor[lane] = max(noise, 1e-6 * abs(p[lane, 0]), 1e-30)
                                lm._poisson_weights(valid[lane], p[lane], floor[lane], w1)
                            for i in range(64):
                                fv[i * LANES + lane] = f1[i]
                                wv[i * LANES + lane] = w1[i]
                            frame[lane] = k
                            n_valid[lane] = nv
                            phase[lane] = INIT
                            rnd[lane] = 0
                            total_it[lane] = 0
                            it_max[lane] = max_iter
                            for c in range(4):
                                counts[lane, c] = 0
                            counts[lane, 3] = 0 if use_errors else 1
                            busy += 1
                            break
                        if frame[lane] < 0:
                            for i in range(64):
                                wv[i * LANES + lane] = 0.0
                                fv[i * LANES + lane] = 0.0
                            for i in range(7):
                                p[lane, i] = dummy[i]
                    elif act == 2:  # propose the next trial step
                        ok, lam[lane], attempt[lane] = _propose(
                            lane, lam[lane], s_jtj, s_jtr, p, step, trial, damped, low,
                            attempt[lane], counts[lane])
                        if ok:
                            phase[lane] = TRIAL
                        else:
                            # no downhill step at any damping: at the minimum or stuck
                            status[lane] = (lm.CONVERGED if lam[lane] > 1e10
                                            or chi2[lane] == 0.0 else lm.FAILED)
                            action[lane] = 3
                    else:  # end of an LM round
                        total_it[lane] += it[lane]
                        if (status[lane] == lm.FAILED or total_it[lane] >= max_iter
                                or rnd[lane] == rounds - 1):
                            _finish(out[frame[lane]], lane, status[lane], total_it[lane],
                                    chi2[lane], n_valid[lane], p, s_jtj, use_errors, damped,
                                    low, var)
                            for c in range(4):
                                work[frame[lane], c] = counts[lane, c]
                            action[lane] = 1
                        else:
                            rnd[lane] += 1
                            it_max[lane] = max_iter - total_it[lane]
                            lm._poisson_weights(valid[lane], p[lane], floor[lane], w1)
                            counts[lane, 3] += 1
                            for i in range(64):
                                wv[i * LANES + lane] = w1[i]
                            phase[lane] = INIT
            if busy == 0:
                break
            # one model evaluation per lane: its start (INIT) or its trial step (TRIAL)
            for lane in range(LANES):
                src = trial if phase[lane] == TRIAL else p
                for i in range(7):
                    par[i * LANES + lane] = src[lane, i]
            _prepare(par, q, nl)
            batched_pass(fv, wv, q, acc, nl)
            for lane in range(LANES):
                if phase[lane] == IDLE:
                    continue
                counts[lane, 0] += 1
                new_chi2 = acc[_ACC_CHI2 * LANES + lane]
                if phase[lane] == INIT:
                    _unpack(acc, lane, s_jtj[lane], s_jtr[lane])
                    chi2[lane] = new_chi2
                    it[lane] = 0
                    if not math.isfinite(new_chi2):
                        status[lane] = lm.FAILED
                        action[lane] = 3
                        continue
                    lam[lane] = 1e-3
                    status[lane] = lm.MAX_ITER
                    if it_max[lane] > 0:
                        it[lane] = 1
                        attempt[lane] = 0
                        action[lane] = 2
                    else:
                        action[lane] = 3
                    continue
                # TRIAL
                if new_chi2 <= chi2[lane]:
                    drop = chi2[lane] - new_chi2
                    chi2[lane] = new_chi2
                    for i in range(7):
                        p[lane, i] = trial[lane, i]
                    _unpack(acc, lane, s_jtj[lane], s_jtr[lane])
                    lam[lane] = max(lam[lane] * 0.1, 1e-9)
                    small = True
                    for i in range(1, 5):
                        if abs(step[lane, i]) > lm.XTOL:
                            small = False
                    if drop <= tol * chi2[lane] or small:
                        status[lane] = lm.CONVERGED
                        action[lane] = 3
                    elif it[lane] >= it_max[lane]:
                        status[lane] = lm.MAX_ITER
                        action[lane] = 3
                    else:
                        it[lane] += 1
                        attempt[lane] = 0
                        action[lane] = 2
                else:
                    lam[lane] *= 10.0
                    attempt[lane] += 1
                    action[lane] = 2
        return 0

    return fit_block


@nb.njit
def _finish(row, lane, status, total_it, chi2, n_valid, p, s_jtj, use_errors, damped, low,
            var):
    """A finished frame's result row, as `lm._fit_block` writes it."""
    row[lm.I_NITER] = total_it
    dof = n_valid - 7
    red = chi2 / dof if dof > 0 else np.nan
    row[lm.I_CHI2] = red
    q = p[lane]
    if (status == lm.FAILED or not math.isfinite(chi2) or not q[0] > 0.0
            or not -2.0 < q[1] < 9.0 or not -2.0 < q[2] < 9.0):
        row[lm.I_STATUS] = lm.FAILED
        return
    lm._variances(s_jtj[lane], low, damped, var)
    lm._store_fit(row, q, var, red, use_errors)
    row[lm.I_STATUS] = status


def _make_chunk(fit_block):
    """Serial and parallel chunk drivers around a block driver (as lm.py's)."""

    @nb.njit(parallel=True)
    def chunk_parallel(frames, errors, use_errors, max_iter, tol, out, work, n_blocks):
        n = frames.shape[0]
        n_blocks = max(min(n, n_blocks), 1)
        for blk in nb.prange(n_blocks):
            fit_block(frames, errors, use_errors, max_iter, tol, blk * n // n_blocks,
                      (blk + 1) * n // n_blocks, out, work)

    @nb.njit
    def chunk_serial(frames, errors, use_errors, max_iter, tol, out, work, n_blocks):
        fit_block(frames, errors, use_errors, max_iter, tol, 0, frames.shape[0], out, work)

    return chunk_serial, chunk_parallel


KERNELS = {}


def kernels(exp: str = "vexp", unroll: int = UNROLL):
    """(serial, parallel) chunk kernels with `batched_pass` (exp, unroll), built on first use."""
    if (exp, unroll) not in KERNELS:
        KERNELS[exp, unroll] = _make_chunk(_make_block(batched_pass(exp, unroll)))
    return KERNELS[exp, unroll]


def fit_chunk(frames, errors=None, max_iter: int = 50, tol: float = 1e-8,
              parallel: bool = True, exp: str = "vexp", unroll: int = UNROLL):
    """`fgs_widgets.engine.gaussian.fit_chunk` with the batched-SIMD kernel.

    Returns (out, work): the (n, `lm.N_OUT`) result rows (the spare column 0, as
    there) and per frame the (n, 4) counts of model passes, Cholesky
    factorizations, solves and Poisson-weight passes.  ``exp``: "vexp" (the
    vectorizing polynomial), "estrin" (lm.py's: the same polynomial by Estrin's
    scheme) or "libm" (the former kernels' exp, a scalar call per lane); ``unroll``:
    pixels per lane and step (`_make_pass`).
    """
    frames = np.asarray(frames)
    if frames.dtype not in (np.float32, np.float64):
        frames = frames.astype(np.float64)
    frames = np.ascontiguousarray(frames)
    n = len(frames)
    errs = (np.empty((0, 8, 8), frames.dtype) if errors is None
            else np.ascontiguousarray(errors, dtype=frames.dtype))
    out = np.empty((n, lm.N_OUT))
    work = np.zeros((n, 4))
    if n:
        serial, par = kernels(exp, unroll)
        kernel = par if parallel else serial
        kernel(frames, errs, errors is not None, int(max_iter), float(tol), out, work,
               16 * nb.get_num_threads())
    out[:, lm.I_SPARE] = 0.0
    return out, work
