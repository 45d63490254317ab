"""Compiled kernels: moments and Levenberg–Marquardt for rotated 2D Gaussians on 8x8 frames.

One numba function fits a whole chunk of frames.  Per frame it runs an LM
loop on the 7 parameters with the analytic Jacobian, accumulating the 7x7
normal matrix in registers (no 64x7 Jacobian is stored) and solving it by
Cholesky.  Every trial step evaluates chi2 *and* the normal equations in one
pass over the pixels, so an accepted step (the usual case from a moments
seed) costs one pass, not two.  Scratch arrays are allocated once per block
of frames: heap allocation per frame or per iteration used to cost as much
as the arithmetic.

Frames are fitted in time order, each starting from the previous frame's solution
(`SEED_RUN`, `SEED_CHI2`): consecutive frames hold the same star a few milli-pixels
away, so most need two LM iterations, the second of them solved without a model pass
(`FINAL_STEP`).  The per-frame code compiles into a few ``nogil`` kernels over a block
of frames (`_fit_block_errors`; without ERR `_fit_block_noise`, `_noise_block`,
`_noise_slope`, `_refit_block`); `fit_chunk` runs the blocks on threads of this
process (the serial executor: one process, every core) or one after the other (ray
workers, one per core).

Without ERR the pixel variance is modelled as ``a + b * star model`` and
estimated from the data (`_noise_sums`, `_noise_slope`): a first LM round with
rough weights, then the variance model from the residuals of the chunk's frames
(``b`` pooled over the chunk, ``a`` per frame), then one re-weighted
Gauss–Newton step per frame and the covariance from those weights
(`_refit_block`).

The quick fit (`moments_chunk`, `_quick_block`) shares `moments` with the fit's seed and can
refine each centroid by a short model fit (`refine_centroid`).

Parameter order everywhere: amplitude, x_mean, y_mean, x_stddev, y_stddev,
theta, offset (`fgs_widgets.engine.psf.PARAMETERS`).  A fit's result row has the
columns `RAW_COLUMNS`, addressed by the `I_*` index constants below.
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numba as nb
import numpy as np

from .kernel_cache import install as _seed_kernel_cache
from .psf import ERR_COLUMNS, PARAMETERS

_seed_kernel_cache()  # compiled kernels of a read-only install: before any @njit

# status codes, and their names (index = code) for the tables' categorical ``status``
CONVERGED, MAX_ITER, FAILED, BAD_INPUT, CANCELLED = 0, 1, 2, 3, 4
STATUS_NAMES = ("converged", "max_iter", "failed", "bad_input", "cancelled")
#: fewer valid pixels than this: the frame is not fitted (7 parameters need slack)
MIN_VALID_PIXELS = 10
#: a step smaller than this (px) in every position and width ends the fit
XTOL = 1e-5
#: frames are fitted in runs of this many, in time order, each frame's fit starting from
#: the previous frame's solution (the first of a run from its moments): consecutive
#: frames 54-65 ms apart hold the same star a few milli-pixels away.  Runs, not thread
#: blocks, decide which frames start from moments, so the results do not depend on the
#: number of threads
SEED_RUN = 256
#: a seeded frame whose chi2 at the previous frame's solution exceeds this many times the
#: previous frame's final chi2 (plus the pixels' number: the chi2 of a perfect fit) starts
#: from its moments instead, after that one model pass: a jump (a tilt event, a 0.1 px
#: move of a bright star is chi2 ~1000), another star, a star that changed its shape, no
#: star; a seeded frame's moments are not computed.  Real-like series
#: (`simulate.real_fgs_series`, jitter 0.015 px): 0.2 % of seeds refused; with 0.05 px
#: jitter 44 %; independent stars (`real_fgs_parameters`): 98 %
SEED_CHI2 = 10.0
#: the next step counts as converged (`XTOL`) only under this much damping: a step shrunk
#: by the damping after rejected trials is small without being at the minimum
CONVERGE_LAMBDA = 0.1
#: a step below this in every position and width (px), after a first accepted one, is
#: the last: taken without a model pass to check it (`_lm`); theta's counts by how far
#: it moves the star's edge, ``|d theta| |x_stddev - y_stddev|``, and must stay below
#: `FINAL_TURN` (rad)
FINAL_STEP = 1e-3
FINAL_TURN = 0.05
#: widths outside this range (px) are rejected as trial steps (8x8 frames)
SIGMA_MIN, SIGMA_MAX = 0.05, 50.0
#: without ERR: frames whose squared residuals depart from the pooled variance model by
#: more than this many standard deviations (a cosmic ray, a second star) are left out of
#: the pooled slope ``b`` (`_noise_slope`).  Clean flight-regime frames: 1e-4 of them
#: (with 10, 1e-3, and b 0.6 % low: squared residuals have a long tail)
NOISE_TRIM_SIGMA = 20.0
#: without ERR: about this many frames of a chunk (every n // SLOPE_FRAMES-th) estimate the
#: pooled slope ``b`` (`_noise_sums`' costly part, ~1.5 us a frame); the others only their
#: own ``a``.  b's statistical error with 8192 frames: 1 % on flight-regime stars, 3 % on
#: faint ones (peak 2e4 DN/s: their pulls ~1 % off per 3 % of b)
SLOPE_FRAMES = 8192
#: without ERR: a re-weighted Gauss–Newton step predicted to lower chi2 by more than this
#: (over ~2 sigma long) is not taken blindly: a full LM round runs instead.  With 1, 10 %
#: of flight-regime frames ran it (the first round's weights are 8x off on the star);
#: with 4, 0.05 %
GN_MAX_DROP = 4.0
#: without ERR: the per-frame variance ``a`` is kept above this fraction of the first
#: round's floor (the corner noise; a frame whose residuals would make it negative)
A_MIN_FRACTION = 0.01

# The columns of a result row (``out`` of the fit kernels), named once.  The kernels write
# them through the index constants (module-level ints: compile-time constants for numba).
# They live here, in the kernels' own file, on purpose: numba's on-disk cache is
# invalidated only when this file changes, so a layout defined in another module could
# leave cached kernels writing the old one.  The fit cache stores rows in this layout:
# changing it means bumping `fgs_widgets.engine.gaussian.ENGINE_VERSION` (the cache key).
# The parameter order is the kernels' own (their code writes amplitude first...), spelled
# out here for the same reason; `psf.PARAMETERS` must agree, checked at import.
_KERNEL_PARAMETERS = ("amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta",
                      "offset")
if PARAMETERS != _KERNEL_PARAMETERS or ERR_COLUMNS != tuple(f"{p}_err" for p in PARAMETERS):
    raise ImportError(f"engine.psf.PARAMETERS {PARAMETERS} no longer match the fit kernels' "
                      f"order {_KERNEL_PARAMETERS}: change lm.py (and ENGINE_VERSION) with it")
#: reduced chi2, LM iterations (without ERR: the first round's and the re-weighted step's,
#: 1, or the fallback LM round's), status code (`STATUS_NAMES`), and
#: a spare column (NaN from the kernels, 0 from `gaussian.fit_chunk`; not in the table)
EXTRA_COLUMNS = ("chi2_red", "n_iter", "status", "spare")
#: every column of a result row, in order
RAW_COLUMNS = (*_KERNEL_PARAMETERS, *(f"{p}_err" for p in _KERNEL_PARAMETERS), *EXTRA_COLUMNS)
#: columns of a result row
N_OUT = len(RAW_COLUMNS)
#: index of the first parameter and of the first uncertainty (parameter i: I_ERR + i)
I_PARAM, I_ERR = RAW_COLUMNS.index("amplitude"), RAW_COLUMNS.index("amplitude_err")
I_CHI2 = RAW_COLUMNS.index("chi2_red")
I_NITER = RAW_COLUMNS.index("n_iter")
I_STATUS = RAW_COLUMNS.index("status")
I_SPARE = RAW_COLUMNS.index("spare")
# Without ERR a row holds the first round's state until `_refit_block` finishes it: the
# parameters in place, status and iterations in theirs, and in the columns of the
# uncertainties, chi2_red and spare the sums of `_noise_sums` and the round's floor
_S_NUM, _S_DEN = I_ERR, I_ERR + 1  # the slope regression (frame intercept profiled out)
_S_T0, _S_T1, _S_T2 = I_ERR + 2, I_ERR + 3, I_ERR + 4  # the intercept's weighted sums
_S_CAA, _S_CAB, _S_CBB = I_ERR + 5, I_ERR + 6, I_CHI2  # Var(_S_NUM): of a², ab, b²
_S_FLOOR = I_SPARE

# fast-math without the no-NaN/no-inf assumptions: the finiteness tests must survive
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Pixel i of a flattened frame is at column i & 7, row i >> 3 (computed, not looked up:
# global arrays would stop numba from caching the parallel kernels).
# background pixels: three per corner (the corner and its two neighbours).  They hold far
# less wing light than the full outer ring (~4.9 px from the centre instead of ~3.5).
_CORNERS = (0, 1, 8, 6, 7, 15, 48, 56, 57, 55, 62, 63)


@nb.njit(cache=True, error_model="numpy", inline="always")
def _sort_small(v, m):
    """Insertion sort of v[:m] in place (m <= 12: cheaper than any general sort)."""
    for i in range(1, m):
        x = v[i]
        j = i
        while j > 0 and v[j - 1] > x:
            v[j] = v[j - 1]
            j -= 1
        v[j] = x


@nb.njit(cache=True, error_model="numpy", inline="always")
def _median_sorted(v, m):
    return v[m // 2] if m % 2 else 0.5 * (v[m // 2 - 1] + v[m // 2])


@nb.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def moments(frame, corner, p, want_noise):
    """Background-subtracted moments of one (8, 8) frame; fills ``p`` (7 parameters).

    NaN pixels are invalid.  Background = median of the valid corner pixels
    (`_CORNERS`).  Pixels below the background are clipped to zero before the
    sums (negative noise in the wings would push the widths outwards).  Widths
    and rotation are the eigen-decomposition of the 2x2 second-moment
    covariance (major axis first, theta in [-pi/2, pi/2)); amplitude = summed
    flux / (2 pi sx sy).

    Returns the background noise variance (1.4826 MAD of the corner pixels,
    squared) when `want_noise`, else 0; -1 when the frame has no valid corner
    or no positive signal (``p`` is then NaN).
    """
    m = 0
    for i in range(12):
        j = _CORNERS[i]
        v = frame[j >> 3, j & 7]
        if v == v:  # not NaN
            corner[m] = v
            m += 1
    if m == 0:
        p[:] = np.nan
        return -1.0
    _sort_small(corner, m)
    bkg = _median_sorted(corner, m)
    noise = 0.0
    if want_noise:
        for i in range(m):
            corner[i] = abs(corner[i] - bkg)
        _sort_small(corner, m)
        noise = (1.4826 * _median_sorted(corner, m)) ** 2
    t = sx = sy = sxx = syy = sxy = 0.0
    for r in range(8):
        y = float(r)
        for c in range(8):
            x = float(c)
            v = frame[r, c] - bkg
            if not v > 0.0:  # also NaN
                v = 0.0
            t += v
            sx += v * x
            sy += v * y
            sxx += v * x * x
            syy += v * y * y
            sxy += v * x * y
    if not t > 0.0:
        p[:] = np.nan
        return -1.0
    mx, my = sx / t, sy / t
    vxx, vyy, vxy = sxx / t - mx * mx, syy / t - my * my, sxy / t - mx * my
    half = 0.5 * (vxx + vyy)
    rad = math.sqrt(max(0.25 * (vxx - vyy) ** 2 + vxy * vxy, 0.0))
    s_major = math.sqrt(max(half + rad, 1e-4))
    s_minor = math.sqrt(max(half - rad, 1e-4))
    theta = 0.5 * math.atan2(2.0 * vxy, vxx - vyy)
    if theta >= 0.5 * math.pi:  # atan2 may return exactly pi
        theta -= math.pi
    p[0] = t / (2.0 * math.pi * s_major * s_minor)
    p[1], p[2] = mx, my
    p[3], p[4] = s_major, s_minor
    p[5] = theta
    p[6] = bkg
    if p.shape[0] >= 9:  # room for the marginal variances (`refine_centroid` uses them)
        p[7], p[8] = vxx, vyy
    return noise


# exp(x) = 2**k exp(r), k = round(x / ln 2), |r| <= ln 2 / 2 (Cody–Waite reduction)
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
#: `vexp`'s smallest argument (2**k stays a normal number): exp(-708) = 3.3e-308 stands
#: for 0 (a star's wing that far out is below any pixel's rounding)
_EXP_MIN = -708.0


@nb.njit(cache=True, error_model="numpy", inline="always")
def vexp(x):
    """exp(x) for x <= 0 in branch-free arithmetic, so that a loop calling it vectorizes
    (libm's exp is a scalar call per pixel): <= 2 ulp for x >= -708, 3.3e-308 below; NaN
    stays NaN.  A degree-13 Taylor polynomial of exp(r), |r| <= ln2 / 2 (truncation
    4e-18 relative), evaluated by Estrin's scheme: 4 multiplications deep instead of
    Horner's 13, which the model pass waits for (16 % faster pass); k by floor and 2**k
    through an int32 (AVX2 converts no vector of doubles to int64), which survives the
    callers' "reassoc" fast-math flag."""
    x = _EXP_MIN if x < _EXP_MIN else x
    kf = math.floor(x * _LOG2E + 0.5)
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    q0 = 1.0 + r
    q1 = 0.5 + r * (1.0 / 6.0)
    q2 = 1.0 / 24.0 + r * (1.0 / 120.0)
    q3 = 1.0 / 720.0 + r * (1.0 / 5040.0)
    q4 = 1.0 / 40320.0 + r * (1.0 / 362880.0)
    q5 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0)
    q6 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0)
    p = ((q0 + r2 * q1) + r4 * (q2 + r2 * q3)) + r8 * ((q4 + r2 * q5) + r4 * q6)
    k = np.int64(np.int32(kf))
    return p * np.int64((k + np.int64(1023)) << np.int64(52)).view(np.float64)


@nb.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _normal(f, w, p, jtj, jtr):
    """Weighted normal matrix JᵀWJ and gradient JᵀWr at ``p`` in one pass; returns chi2.

    Length: one numba kernel, the fit's inner loop; its 35 sums (the symmetric 7x7
    matrix and the gradient) are scalars so that they stay in registers, and written
    out one by one.  Split, they would go through memory.
    """
    amp, x0, y0, sx, sy, off = p[0], p[1], p[2], p[3], p[4], p[6]
    ct, st = math.cos(p[5]), math.sin(p[5])
    s2t, c2t = 2.0 * st * ct, ct * ct - st * st
    ix2, iy2 = 1.0 / (sx * sx), 1.0 / (sy * sy)
    a = 0.5 * (ct * ct * ix2 + st * st * iy2)
    b = 0.25 * s2t * (ix2 - iy2)
    c = 0.5 * (st * st * ix2 + ct * ct * iy2)
    ix3, iy3 = ix2 / sx, iy2 / sy
    # derivatives of the exponent's a, b, c with respect to sx, sy, theta
    a3, b3, c3 = -ct * ct * ix3, -0.5 * s2t * ix3, -st * st * ix3
    a4, b4, c4 = -st * st * iy3, 0.5 * s2t * iy3, -ct * ct * iy3
    a5 = 0.5 * s2t * (iy2 - ix2)
    b5 = 0.5 * c2t * (ix2 - iy2)
    c5 = -a5
    # 28 accumulators of the symmetric 7x7 matrix + 7 of the gradient: kept in registers
    h00 = h01 = h02 = h03 = h04 = h05 = h06 = 0.0
    h11 = h12 = h13 = h14 = h15 = h16 = 0.0
    h22 = h23 = h24 = h25 = h26 = 0.0
    h33 = h34 = h35 = h36 = 0.0
    h44 = h45 = h46 = 0.0
    h55 = h56 = h66 = 0.0
    r0 = r1 = r2 = r3 = r4 = r5 = r6 = 0.0
    chi2 = 0.0
    for i in range(64):
        wi = w[i]
        dx = float(i & 7) - x0
        dy = float(i >> 3) - y0
        dx2, dxy, dy2 = dx * dx, dx * dy, dy * dy
        e = vexp(-(a * dx2 + 2.0 * b * dxy + c * dy2))
        ae = amp * e
        res = f[i] - ae - off
        wr = wi * res
        chi2 += wr * res
        g0 = e
        g1 = 2.0 * ae * (a * dx + b * dy)
        g2 = 2.0 * ae * (b * dx + c * dy)
        g3 = -ae * (a3 * dx2 + 2.0 * b3 * dxy + c3 * dy2)
        g4 = -ae * (a4 * dx2 + 2.0 * b4 * dxy + c4 * dy2)
        g5 = -ae * (a5 * dx2 + 2.0 * b5 * dxy + c5 * dy2)
        w0, w1, w2, w3, w4, w5 = wi * g0, wi * g1, wi * g2, wi * g3, wi * g4, wi * g5
        h00 += w0 * g0
        h01 += w0 * g1
        h02 += w0 * g2
        h03 += w0 * g3
        h04 += w0 * g4
        h05 += w0 * g5
        h06 += w0
        h11 += w1 * g1
        h12 += w1 * g2
        h13 += w1 * g3
        h14 += w1 * g4
        h15 += w1 * g5
        h16 += w1
        h22 += w2 * g2
        h23 += w2 * g3
        h24 += w2 * g4
        h25 += w2 * g5
        h26 += w2
        h33 += w3 * g3
        h34 += w3 * g4
        h35 += w3 * g5
        h36 += w3
        h44 += w4 * g4
        h45 += w4 * g5
        h46 += w4
        h55 += w5 * g5
        h56 += w5
        h66 += wi
        r0 += w0 * res
        r1 += w1 * res
        r2 += w2 * res
        r3 += w3 * res
        r4 += w4 * res
        r5 += w5 * res
        r6 += wr
    jtj[0, 0], jtj[0, 1], jtj[0, 2], jtj[0, 3] = h00, h01, h02, h03
    jtj[0, 4], jtj[0, 5], jtj[0, 6] = h04, h05, h06
    jtj[1, 1], jtj[1, 2], jtj[1, 3], jtj[1, 4], jtj[1, 5], jtj[1, 6] = h11, h12, h13, h14, h15, h16
    jtj[2, 2], jtj[2, 3], jtj[2, 4], jtj[2, 5], jtj[2, 6] = h22, h23, h24, h25, h26
    jtj[3, 3], jtj[3, 4], jtj[3, 5], jtj[3, 6] = h33, h34, h35, h36
    jtj[4, 4], jtj[4, 5], jtj[4, 6] = h44, h45, h46
    jtj[5, 5], jtj[5, 6], jtj[6, 6] = h55, h56, h66
    for i in range(7):
        for j in range(i):
            jtj[i, j] = jtj[j, i]
    jtr[0], jtr[1], jtr[2], jtr[3], jtr[4], jtr[5], jtr[6] = r0, r1, r2, r3, r4, r5, r6
    return chi2


@nb.njit(cache=True, error_model="numpy")
def _cholesky(m, low):
    """Lower Cholesky factor of the 7x7 SPD matrix ``m`` into ``low``; False if not SPD."""
    for i in range(7):
        for j in range(i + 1):
            s = m[i, j]
            for k in range(j):
                s -= low[i, k] * low[j, k]
            if i == j:
                if not s > 0.0:  # also catches NaN
                    return False
                low[i, i] = math.sqrt(s)
            else:
                low[i, j] = s / low[j, j]
    return True


@nb.njit(cache=True, error_model="numpy")
def _cho_solve(low, rhs, out):
    """Solve (low lowᵀ) out = rhs."""
    for i in range(7):
        s = rhs[i]
        for k in range(i):
            s -= low[i, k] * out[k]
        out[i] = s / low[i, i]
    for i in range(6, -1, -1):
        s = out[i]
        for k in range(i + 1, 7):
            s -= low[k, i] * out[k]
        out[i] = s / low[i, i]


@nb.njit(cache=True, error_model="numpy")
def _variances(jtj, low, damped, var):
    """diag((JᵀWJ)⁻¹) into ``var`` (``low``, ``damped``: 7x7 scratch).

    A parameter the data do not constrain (theta of an exactly round PSF:
    its Jacobian column is zero) makes the matrix singular; it then gets an
    infinite variance and the others are computed with it held fixed, instead
    of the whole row turning NaN.
    """
    scale = 0.0
    for i in range(7):
        scale = max(scale, jtj[i, i])
    for i in range(7):
        for j in range(7):
            damped[i, j] = jtj[i, j]
    pinned = -1
    if not _cholesky(damped, low):
        # pin the weakest parameter relative to its own scale (theta for a round PSF)
        weakest = 0.0
        for i in range(7):
            if jtj[i, i] <= 1e-12 * scale and (pinned < 0 or jtj[i, i] < weakest):
                pinned, weakest = i, jtj[i, i]
        if pinned < 0:
            var[:] = np.nan
            return
        for j in range(7):
            damped[pinned, j] = 0.0
            damped[j, pinned] = 0.0
        damped[pinned, pinned] = 1.0
        if not _cholesky(damped, low):
            var[:] = np.nan
            return
    # (L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹: variance j is the squared norm of column j of L⁻¹ (85 FMAs,
    # against 392 for 7 solves with unit vectors)
    for j in range(7):
        d = 1.0 / low[j, j]
        damped[j, j] = d
        v = d * d
        for i in range(j + 1, 7):
            s = 0.0
            for k in range(j, i):
                s -= low[i, k] * damped[k, j]
            s /= low[i, i]
            damped[i, j] = s
            v += s * s
        var[j] = v
    if pinned >= 0:
        var[pinned] = np.inf


@nb.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _noise_weights(valid, p, floor, slope, w):
    """1 / (floor + slope * max(star model, 0)) on valid pixels (0 elsewhere): the inverse
    of the variance model ``a + b * star`` of the fit without ERR."""
    amp, x0, y0, sx, sy = p[0], p[1], p[2], p[3], p[4]
    ct, st = math.cos(p[5]), math.sin(p[5])
    ix2, iy2 = 1.0 / (sx * sx), 1.0 / (sy * sy)
    a = 0.5 * (ct * ct * ix2 + st * st * iy2)
    b = 0.25 * 2.0 * st * ct * (ix2 - iy2)
    c = 0.5 * (st * st * ix2 + ct * ct * iy2)
    for i in range(64):
        dx = float(i & 7) - x0
        dy = float(i >> 3) - y0
        star = amp * math.exp(-(a * dx * dx + 2.0 * b * dx * dy + c * dy * dy))
        w[i] = valid[i] / (floor + slope * max(star, 0.0))


@nb.njit(cache=True, error_model="numpy")
def _poisson_weights(valid, p, floor, w):
    """The first round's weights without ERR: 1 / (floor + max(star model, 0)), the
    star's photon noise as if the frames were counts and the background (read + sky)
    noise from the measured floor.  Right in shape only for data in e-; the rounds after
    it estimate the star's share from the residuals (`_noise_sums`)."""
    _noise_weights(valid, p, floor, 1.0, w)


@nb.njit(cache=True, error_model="numpy", inline="always")
def _step_size(p, step):
    """The step's largest move in pixels (`FINAL_STEP`): positions, widths, and how far
    theta's turn moves the star's edge; infinite for a turn over `FINAL_TURN`, where on
    a nearly round star the quadratic model does not hold (seeded from another star's
    theta, the widths' steps are small on the way)."""
    largest = 0.0
    for i in range(1, 5):
        largest = max(largest, abs(step[i]))
    turn = abs(step[5])
    if turn > FINAL_TURN:
        return np.inf
    return max(largest, turn * abs(p[3] - p[4]))


@nb.njit(cache=True, error_model="numpy")
def _lm(f, w, p, max_iter, tol, s_jtj, s_jtr, t_jtj, t_jtr, damped, low, step, trial,
        chi2_cap):
    """LM from ``p`` (updated in place); on return s_jtj holds JᵀWJ at ``p``.

    Returns (status, iterations, chi2); (`FAILED`, 0, chi2) without a step when chi2
    at ``p`` exceeds ``chi2_cap`` (a seed not worth starting from).  An iteration is
    one step taken.  After the first accepted step the next one is solved from the
    normal equations the last pass left (no model evaluation), and while lightly
    damped (`CONVERGE_LAMBDA`): below `XTOL` (`_step_size`), the fit has converged
    where it is; below `FINAL_STEP`, the step is taken without evaluating the model
    there, chi2 lowered by the quadratic model's prediction, and the fit has
    converged.  That close to the minimum Gauss–Newton converges quadratically: the
    step lands within ~1e-6 px of it (closer than the `XTOL` rule stops), and the pass
    that would only confirm this is saved; from the previous frame's solution
    (`SEED_RUN`) a frame then needs 2 passes.  The fit has also converged when an
    accepted step lowered chi2 by less than ``tol`` of it.  The normal matrix left in
    s_jtj, for the covariance, is the last pass's: a `FINAL_STEP` away at most.
    """
    chi2 = _normal(f, w, p, s_jtj, s_jtr)
    if not math.isfinite(chi2) or chi2 > chi2_cap:
        return FAILED, 0, chi2
    lam = 1e-3
    it = 0
    while True:
        accepted = False
        new_chi2 = chi2
        for _ in range(14):  # raise the damping until a step lowers chi2
            for i in range(7):
                for j in range(7):
                    damped[i, j] = s_jtj[i, j]
                # Marquardt scaling; the tiny absolute term keeps a zero column (theta of
                # a round PSF) from making the damped matrix singular
                damped[i, i] = s_jtj[i, i] * (1.0 + lam) + 1e-300
            if not _cholesky(damped, low):
                lam *= 10.0
                continue
            _cho_solve(low, s_jtr, step)
            if it > 0 and lam <= CONVERGE_LAMBDA:
                largest = _step_size(p, step)
                if largest <= XTOL:
                    return CONVERGED, it, chi2
                if (largest <= FINAL_STEP and it < max_iter
                        and SIGMA_MIN < abs(p[3] + step[3]) < SIGMA_MAX
                        and SIGMA_MIN < abs(p[4] + step[4]) < SIGMA_MAX):
                    drop = 0.0  # the quadratic model's: chi2 - sᵀJᵀWr
                    for i in range(7):
                        p[i] += step[i]
                        drop += step[i] * s_jtr[i]
                    p[3], p[4] = abs(p[3]), abs(p[4])
                    return CONVERGED, it + 1, chi2 - max(drop, 0.0)
            if it >= max_iter:
                return MAX_ITER, it, chi2
            for i in range(7):
                trial[i] = p[i] + step[i]
            trial[3] = abs(trial[3])
            trial[4] = abs(trial[4])
            if not (SIGMA_MIN < trial[3] < SIGMA_MAX and SIGMA_MIN < trial[4] < SIGMA_MAX):
                lam *= 10.0
                continue
            new_chi2 = _normal(f, w, trial, t_jtj, t_jtr)
            if new_chi2 <= chi2:
                accepted = True
                break
            lam *= 10.0
        if not accepted:
            # no downhill step at any damping: at the minimum (to rounding) or stuck
            return (CONVERGED if lam > 1e10 or chi2 == 0.0 else FAILED), it, chi2
        it += 1
        drop = chi2 - new_chi2
        chi2 = new_chi2
        for i in range(7):
            p[i] = trial[i]
            s_jtr[i] = t_jtr[i]
            for j in range(7):
                s_jtj[i, j] = t_jtj[i, j]
        lam = max(lam * 0.1, 1e-9)
        if drop <= tol * chi2:
            return CONVERGED, it, chi2


@nb.njit(cache=True, error_model="numpy")
def _load_frame(frames, errors, use_errors, k, f, w, valid, marked):
    """Frame ``k`` into the flat scratch arrays; returns its number of valid pixels.

    ``f`` the pixels (0 where invalid), ``valid`` 1/0, ``marked`` the (8, 8) frame
    with invalid pixels NaN (for `moments`); with `use_errors`, ``w`` = 1/ERR²
    (0 where invalid).  A pixel is invalid when it, or its error, is non-finite, or
    its error is <= 0.
    """
    npx = f.shape[0]  # 64, at run time: a loop LLVM vectorizes (see `_REFINE_FLAGS`)
    frame = frames[k].reshape(npx)
    flat = marked.reshape(npx)
    n_valid = 0
    if use_errors:
        err = errors[k].reshape(npx)
        for i in range(npx):
            v, e = float(frame[i]), float(err[i])
            ok = (v - v == 0.0) & (e - e == 0.0) & (e > 0.0)  # finite: x - x is not NaN
            w[i] = 1.0 / (e * e) if ok else 0.0
            f[i] = v if ok else 0.0
            flat[i] = v if ok else np.nan
            valid[i] = 1.0 if ok else 0.0
            n_valid += 1 if ok else 0
    else:
        for i in range(npx):
            v = float(frame[i])
            ok = v - v == 0.0
            f[i] = v if ok else 0.0
            flat[i] = v if ok else np.nan
            valid[i] = 1.0 if ok else 0.0
            n_valid += 1 if ok else 0
    return n_valid


@nb.njit(cache=True, error_model="numpy", inline="always")
def _weighted_lm(f, w, valid, p, noise, use_errors, max_iter, tol, s_jtj, s_jtr, t_jtj,
                 t_jtr, damped, low, step, trial, chi2_cap):
    """`_lm` from the seed ``p`` with the ERR weights in ``w``, or Poisson-like ones.

    Without `use_errors` the weights come from the seed (`_poisson_weights`, floor
    from the corner noise variance `noise`, returned): the first round only, which
    `_refit_block` completes.  Returns (status, iterations, chi2, floor).
    """
    floor = 1.0
    if not use_errors:
        floor = max(noise, 1e-6 * abs(p[0]), 1e-30)
        _poisson_weights(valid, p, floor, w)
    status, it, chi2 = _lm(f, w, p, max_iter, tol, s_jtj, s_jtr, t_jtj, t_jtr, damped, low,
                           step, trial, chi2_cap)
    return status, it, chi2, floor


@nb.njit(cache=True, error_model="numpy")
def _store_fit(row, p, var, red, absolute):
    """Parameters and uncertainties (from the variances ``var``) into a result row.

    With `absolute` (ERR: the weights are inverse variances) the variances are used as
    they are; otherwise they are scaled by the reduced chi2 `red` (without ERR: see
    `_refit_block`).  Canonical form: x_stddev is the major axis, theta in
    [-pi/2, pi/2).  ``p`` and ``var`` are changed in place.
    """
    if not absolute:
        # the weights' absolute scale is unknown: calibrate it by the scatter seen
        for i in range(7):
            var[i] *= red
    if p[3] < p[4]:
        p[3], p[4] = p[4], p[3]
        var[3], var[4] = var[4], var[3]
        p[5] += 0.5 * math.pi
    p[5] = (p[5] + 0.5 * math.pi) % math.pi - 0.5 * math.pi
    for i in range(7):
        row[I_PARAM + i] = p[i]
        row[I_ERR + i] = math.sqrt(var[i]) if var[i] >= 0.0 else np.nan


@nb.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _lower_inverse(m, low, inv):
    """Inverse of the lower Cholesky factor of the 7x7 matrix ``m`` into ``inv``; False
    if ``m`` is not positive definite.  The tiny diagonal term is `_lm`'s: a zero column
    (theta of a round PSF) gets a huge inverse that only ever multiplies zeros."""
    for i in range(7):
        for j in range(7):
            inv[i, j] = m[i, j]
        inv[i, i] = m[i, i] * (1.0 + 1e-12) + 1e-300
    if not _cholesky(inv, low):
        return False
    for j in range(7):
        for i in range(7):
            inv[i, j] = 0.0
        inv[j, j] = 1.0 / low[j, j]
        for i in range(j + 1, 7):
            s = 0.0
            for k in range(j, i):
                s -= low[i, k] * inv[k, j]
            inv[i, j] = s / low[i, i]
    return True


@nb.njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _noise_sums(f, valid, w, p, jtj, low, inv, pa, pb, soa, sums, model, slope_frame):
    """Sums of the regression of the squared residuals on the variance model, for one frame.

    Length: one pass over the pixels and two over the 64 stored projections; the
    derivation, which the code follows line by line, is the docstring.

    Without ERR a pixel's variance is ``a + b m`` (``m`` the star model without its
    offset): ``a`` the background's (read noise, sky), ``b m`` the star's photon noise,
    with ``b`` = 1 / (gain x frame time) in count rates, 1 / gain in DN, 1 in e-:
    unknown for a user's array, and the same for every frame of it.  After a fit with
    weights ``w`` (any: the first round's), to first order the residuals are
    r = (I - H) e with H = J C Jᵀ W, C = (JᵀWJ)⁻¹, so

        E[r_i²] = sum_j (I - H)_ij² V_j = a z_i + b x_i,
        z_i = 1 - 2 h_i + v_iᵀ P_a v_i,     x_i = m_i (1 - 2 h_i) + v_iᵀ P_b v_i,

    with v_i = L⁻¹ J_iᵀ (L the Cholesky factor of JᵀWJ = ``jtj``), the leverage
    h_i = w_i |v_i|², P_a = sum_j w_j² v_j v_jᵀ and P_b = sum_j w_j² m_j v_j v_jᵀ.  This
    holds whatever the weights; the textbook E[r_i²] = (1 - h_i) V_i needs W ∝ V⁻¹,
    which the first round's weights are not.  Measured on count-rate frames of the
    flight regime (b = 8): the textbook form gives b = 7.4, no leverage correction
    2.0, this one 7.9.

    ``sums`` gets, for `_noise_slope` and `_refit_block` (y = r²):

    0, 1. on a `slope_frame` only (else 0), the slope's regression with this frame's
       intercept profiled out: ``num = sum u x y - c sum u z y``, ``den = sum u x² -
       c sum u z x`` (c = sum u z x / sum u z²), weighted by u = (A / (A + m))², A the
       amplitude: a shape, not a noise level.  Weights built from the frame's noise
       (w², its corner floor) correlate with its residuals and bias the pooled b (by -14
       to +22 % as measured, depending on the first round's weights); these do not, and
       down-weight the star's peak where r² scatters most (b's spread over 2000-frame
       subsets of flight-regime frames: 0.157 against 0.196 unweighted; faint: equal);
    2, 3, 4. the intercept's sums weighted by w² (the star's pixels down-weighted),
       with the textbook z_i = 1 - h_i, x_i = m_i z_i (right enough where w² looks, off
       the star: flight-regime pulls 1.005 against 1.000 with the exact form, 0.92
       without any leverage correction, at a fraction of the cost): ``sum w² z²``,
       ``sum w² z x``, ``sum w² z y``, whence a = (t2 - b t1) / t0 (20 % spread against
       the truth, where the corner pixels' 1.4826 MAD has 65 %);
    5, 6, 7. on a `slope_frame`, Var(num) = 2 (a² s5 + a b s6 + b² s7) (Var(r²) =
       2 E[r²]², x̃ = x - c z: s5 = sum u² x̃² z², s6 = 2 sum u² x̃² z x,
       s7 = sum u² x̃² x²), for the outlier test.

    ``model`` (64) gets the star model m (for `_refit_block`'s weights, whatever the
    result).  ``inv``, ``pa``, ``pb`` (7, 7) and ``soa`` (21, 64) are scratch; ``low``
    gets the factor.  False (no sums) when JᵀWJ is not positive definite or no pixel
    counts.  The pixel loops after the first run over rows of ``soa`` (one quantity for
    every pixel) with a trip count known only at run time, so that LLVM vectorizes them
    (see `_REFINE_FLAGS`): 1.75x faster than one loop over the pixels doing everything.
    Cost: ~1 model pass, ~2 on a `slope_frame`.
    """
    npx = f.shape[0]  # 64, at run time
    amp, x0, y0, sx, sy, off = p[0], p[1], p[2], p[3], p[4], p[6]
    ct, st = math.cos(p[5]), math.sin(p[5])
    s2t, c2t = 2.0 * st * ct, ct * ct - st * st
    ix2, iy2 = 1.0 / (sx * sx), 1.0 / (sy * sy)
    a = 0.5 * (ct * ct * ix2 + st * st * iy2)
    b = 0.25 * s2t * (ix2 - iy2)
    c = 0.5 * (st * st * ix2 + ct * ct * iy2)
    ix3, iy3 = ix2 / sx, iy2 / sy
    a3, b3, c3 = -ct * ct * ix3, -0.5 * s2t * ix3, -st * st * ix3
    a4, b4, c4 = -st * st * iy3, 0.5 * s2t * iy3, -ct * ct * iy3
    a5 = 0.5 * s2t * (iy2 - ix2)
    b5 = 0.5 * c2t * (ix2 - iy2)
    c5 = -a5
    jac, v = soa[0:6], soa[6:13]  # Jacobian (its offset column is 1), v_i = L⁻¹ J_iᵀ
    m, y, wa, wb, h, qa, qb, z = (soa[13], soa[14], soa[15], soa[16], soa[17], soa[18],
                                  soa[19], soa[20])
    for i in range(npx):  # the model, its Jacobian and the squared residuals
        dx = float(i & 7) - x0
        dy = float(i >> 3) - y0
        dx2, dxy, dy2 = dx * dx, dx * dy, dy * dy
        e = math.exp(-(a * dx2 + 2.0 * b * dxy + c * dy2))
        ae = amp * e
        res = f[i] - ae - off
        jac[0, i] = e
        jac[1, i] = 2.0 * ae * (a * dx + b * dy)
        jac[2, i] = 2.0 * ae * (b * dx + c * dy)
        jac[3, i] = -ae * (a3 * dx2 + 2.0 * b3 * dxy + c3 * dy2)
        jac[4, i] = -ae * (a4 * dx2 + 2.0 * b4 * dxy + c4 * dy2)
        jac[5, i] = -ae * (a5 * dx2 + 2.0 * b5 * dxy + c5 * dy2)
        m[i] = max(ae, 0.0)
        y[i] = valid[i] * res * res
        wa[i] = w[i] * w[i]  # 0 on invalid pixels
        wb[i] = wa[i] * m[i]
    for i in range(npx):
        model[i] = m[i]
    if not _lower_inverse(jtj, low, inv):
        return False
    for j in range(7):
        vj = v[j]
        for i in range(npx):
            vj[i] = inv[j, 6]
        for k in range(min(j + 1, 6)):
            cjk = inv[j, k]
            jk = jac[k]
            for i in range(npx):
                vj[i] += cjk * jk[i]
    for i in range(npx):
        h[i] = 0.0
    for j in range(7):
        vj = v[j]
        for i in range(npx):
            h[i] += vj[i] * vj[i]
    t0 = t1 = t2 = 0.0
    for i in range(npx):  # the intercept's sums, with the textbook leverage (see above)
        zi = valid[i] * (1.0 - w[i] * h[i])
        t0 += wa[i] * zi * zi
        t1 += wa[i] * zi * zi * m[i]
        t2 += wa[i] * zi * y[i]
    if not t0 > 0.0:
        return False
    sums[:] = 0.0
    sums[2], sums[3], sums[4] = t0, t1, t2
    if not slope_frame:
        return True
    for j in range(7):  # P_a, P_b
        vj = v[j]
        for k in range(j + 1):
            vk = v[k]
            sa = sb = 0.0
            for i in range(npx):
                t = vj[i] * vk[i]
                sa += wa[i] * t
                sb += wb[i] * t
            pa[j, k], pb[j, k] = sa, sb
    for i in range(npx):
        qa[i] = qb[i] = 0.0
    for j in range(7):  # v_iᵀ P_a v_i, v_iᵀ P_b v_i
        vj = v[j]
        for k in range(j + 1):
            vk = v[k]
            ca = pa[j, k] if k == j else 2.0 * pa[j, k]
            cb = pb[j, k] if k == j else 2.0 * pb[j, k]
            for i in range(npx):
                t = vj[i] * vk[i]
                qa[i] += ca * t
                qb[i] += cb * t
    s0 = s1 = s2 = s3 = s4 = 0.0
    x = jac[0]  # reused: the Jacobian is no longer needed
    u = jac[1]
    for i in range(npx):  # the regressors z_i, x_i and the slope's sums
        hi = w[i] * h[i]
        zi = valid[i] * (1.0 - 2.0 * hi + qa[i])
        xi = valid[i] * (m[i] * (1.0 - 2.0 * hi) + qb[i])
        z[i], x[i] = zi, xi
        ui = (amp / (amp + m[i])) ** 2  # see the docstring
        u[i] = ui
        s0 += ui * zi * zi
        s1 += ui * zi * xi
        s2 += ui * zi * y[i]
        s3 += ui * xi * xi
        s4 += ui * xi * y[i]
    if not s0 > 0.0:
        return True
    proj = s1 / s0
    c5 = c6 = c7 = 0.0
    for i in range(npx):
        xt2 = u[i] * u[i] * (x[i] - proj * z[i]) ** 2
        c5 += xt2 * z[i] * z[i]
        c6 += xt2 * z[i] * x[i]
        c7 += xt2 * x[i] * x[i]
    sums[0], sums[1] = s4 - proj * s2, s3 - proj * s1
    sums[5], sums[6], sums[7] = c5, 2.0 * c6, c7
    return True


@nb.njit(cache=True, error_model="numpy", inline="always")
def _plausible(p, chi2):
    """A fit's result can be kept: finite chi2, positive amplitude, centre near the frame."""
    return (math.isfinite(chi2) and p[0] > 0.0 and -2.0 < p[1] < 9.0
            and -2.0 < p[2] < 9.0)


@nb.njit(cache=True, error_model="numpy", inline="always")
def _fit_frame(frames, errors, use_errors, initial, use_initial, max_iter, tol, k, seeding,
               f, w, valid, marked, corner, p, mats, vecs):
    """Fit frame ``k`` (without ERR: the first round) into ``p``, from the previous
    frame's solution where it can (`SEED_RUN`, `SEED_CHI2`), else from its moments (or
    ``initial``).

    Returns (status, iterations, chi2, n_valid, floor): status `BAD_INPUT` when the frame
    is not fitted, `FAILED` when its fit is not kept; floor as `_weighted_lm`'s.
    ``seeding`` (3) carries from frame to frame whether the previous frame may seed this
    one, its chi2, and the background noise of the last frame whose moments were taken
    (without ERR, a seeded frame's weights' floor: its moments are not computed);
    ``mats`` (4, 7, 7) holds JᵀWJ at ``p``, the trial's, and the damped matrix and its
    factor; ``vecs`` (6, 7): JᵀWr, the trial's, the step, the trial, the previous frame's
    solution, and the start of the LM round that gave ``p``.
    """
    s_jtj, t_jtj, damped, low = mats[0], mats[1], mats[2], mats[3]
    s_jtr, t_jtr, step, trial, seed, begin = (vecs[0], vecs[1], vecs[2], vecs[3], vecs[4],
                                              vecs[5])
    neighbour = seeding[0] > 0.0 and k % SEED_RUN != 0 and not use_initial
    seeding[0] = 0.0
    n_valid = _load_frame(frames, errors, use_errors, k, f, w, valid, marked)
    if n_valid < MIN_VALID_PIXELS:
        return BAD_INPUT, 0, np.nan, n_valid, 1.0
    noise = seeding[2]
    for _ in range(2):  # one call site of the LM round: it compiles once, inlined
        if neighbour:
            # a jump, a new star or a frame without one shows in the chi2 at the seed:
            # the round stops there (`SEED_CHI2`) and the frame starts from its moments
            cap = SEED_CHI2 * (seeding[1] + n_valid)
            for i in range(7):
                p[i] = seed[i]
        else:
            cap = np.inf
            noise = moments(marked, corner, p, not use_errors)  # with ERR: no noise
            if use_initial:
                finite = True
                for i in range(7):
                    p[i] = initial[k, i]
                    finite = finite and math.isfinite(p[i])
                if not (finite and p[3] > 0.0 and p[4] > 0.0):
                    return BAD_INPUT, 0, np.nan, n_valid, 1.0
            elif noise < 0.0:  # no positive signal above the background
                return BAD_INPUT, 0, np.nan, n_valid, 1.0
        for i in range(7):
            begin[i] = p[i]
        status, it, chi2, floor = _weighted_lm(f, w, valid, p, noise, use_errors, max_iter,
                                               tol, s_jtj, s_jtr, t_jtj, t_jtr, damped, low,
                                               step, trial, cap)
        if not neighbour or (status == CONVERGED and _plausible(p, chi2)):
            break
        neighbour = False
    if status == FAILED or not _plausible(p, chi2):
        return FAILED, it, chi2, n_valid, floor
    if status == CONVERGED and not use_initial:
        seeding[0], seeding[1], seeding[2] = 1.0, chi2, noise
        for i in range(7):
            seed[i] = p[i]
    return status, it, chi2, n_valid, floor


@nb.njit(cache=True, error_model="numpy")
def _start_row(row, status, it, chi2, n_valid):
    """A row's status, iterations and reduced chi2, NaN elsewhere; the reduced chi2."""
    row[:] = np.nan
    row[I_NITER] = it
    row[I_STATUS] = status
    dof = n_valid - 7
    red = chi2 / dof if dof > 0 else np.nan
    if status != BAD_INPUT:
        row[I_CHI2] = red
    return red


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _fit_block_errors(frames, errors, initial, use_initial, max_iter, tol, start, stop, out):
    """Fit frames[start:stop] weighted by their ERR into out[start:stop] (`RAW_COLUMNS`).

    Rows of frames not fitted keep NaN parameters and errors with their status
    (`BAD_INPUT`, `FAILED`).  One set of scratch arrays for the block.
    """
    f, w, valid = np.empty(64), np.empty(64), np.empty(64)
    marked = np.empty((8, 8))  # the frame with invalid pixels NaN, for `moments`
    corner, p, var = np.empty(12), np.empty(7), np.empty(7)
    mats, vecs, seeding = np.zeros((4, 7, 7)), np.empty((6, 7)), np.zeros(3)
    for k in range(start, stop):
        status, it, chi2, n_valid, _ = _fit_frame(frames, errors, True, initial, use_initial,
                                                  max_iter, tol, k, seeding, f, w, valid,
                                                  marked, corner, p, mats, vecs)
        red = _start_row(out[k], status, it, chi2, n_valid)
        if status == CONVERGED or status == MAX_ITER:
            _variances(mats[0], mats[3], mats[2], var)
            _store_fit(out[k], p, var, red, True)


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _fit_block_noise(frames, initial, use_initial, max_iter, tol, start, stop, out):
    """The first round of the fit without ERR of frames[start:stop] (see `_refit_block`).

    A fitted row keeps its parameters, status and iterations, and for `_noise_block`
    the start of its LM round (in the columns of the uncertainties: the round's
    weights, `_poisson_weights`, are a function of it) and the weights' floor
    (``_S_FLOOR``).  Rows of frames not fitted: as `_fit_block_errors`'.
    """
    f, w, valid = np.empty(64), np.empty(64), np.empty(64)
    marked = np.empty((8, 8))
    corner, p = np.empty(12), np.empty(7)
    mats, vecs, seeding = np.zeros((4, 7, 7)), np.empty((6, 7)), np.zeros(3)
    for k in range(start, stop):
        status, it, chi2, n_valid, floor = _fit_frame(frames, frames, False, initial,
                                                      use_initial, max_iter, tol, k, seeding,
                                                      f, w, valid, marked, corner, p, mats,
                                                      vecs)
        row = out[k]
        _start_row(row, status, it, chi2, n_valid)
        if not (status == CONVERGED or status == MAX_ITER):
            continue
        for i in range(7):
            row[I_PARAM + i] = p[i]
            row[I_ERR + i] = vecs[5, i]
        row[_S_FLOOR] = floor


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _noise_block(frames, start, stop, out, models, stride):
    """The sums of `_noise_sums` of the first-round rows of out[start:stop] (columns
    ``_S_*``), and each frame's star model in ``models[k]`` (n, 64), for
    `_noise_slope` and `_refit_block`.

    The round's weights are recomputed from where it began, and JᵀWJ at its result by
    one model pass: a kernel apart from the round's (`_fit_block_noise`) so that the
    two compile apart (see the drivers' comment).
    """
    f, w, valid = np.empty(64), np.empty(64), np.empty(64)
    marked = np.empty((8, 8))
    p, begin, jtr = np.empty(7), np.empty(7), np.empty(7)
    jtj, low = np.empty((7, 7)), np.zeros((7, 7))
    inv, pa, pb = np.empty((7, 7)), np.empty((7, 7)), np.empty((7, 7))  # `_noise_sums`'
    soa, sums = np.empty((21, 64)), np.empty(8)
    for k in range(start, stop):
        row = out[k]
        if not _pending(row):
            continue
        _load_frame(frames, frames, False, k, f, w, valid, marked)
        for i in range(7):
            p[i] = row[I_PARAM + i]
            begin[i] = row[I_ERR + i]
        floor = row[_S_FLOOR]
        _poisson_weights(valid, begin, floor, w)
        _normal(f, w, p, jtj, jtr)
        if _noise_sums(f, valid, w, p, jtj, low, inv, pa, pb, soa, sums, models[k],
                       k % stride == 0):
            row[_S_NUM], row[_S_DEN] = sums[0], sums[1]
            row[_S_T0], row[_S_T1], row[_S_T2] = sums[2], sums[3], sums[4]
            row[_S_CAA], row[_S_CAB], row[_S_CBB] = sums[5], sums[6], sums[7]
        else:  # no share in the slope; the intercept falls back to the floor
            row[_S_NUM] = row[_S_DEN] = row[_S_CAA] = row[_S_CAB] = row[_S_CBB] = 0.0
            row[_S_T0], row[_S_T1], row[_S_T2] = 1.0, 0.0, floor


@nb.njit(cache=True, error_model="numpy", inline="always")
def _pending(row):
    """The row holds a first round's state (no ERR): `_refit_block` has yet to finish it."""
    return row[I_STATUS] == CONVERGED or row[I_STATUS] == MAX_ITER


@nb.njit(cache=True, error_model="numpy", inline="always")
def _intercept(row, slope):
    """The frame's background variance ``a`` given the pooled slope (see `_noise_sums`)."""
    a = (row[_S_T2] - slope * row[_S_T1]) / row[_S_T0]
    low = A_MIN_FRACTION * row[_S_FLOOR]
    return a if a > low else low  # also NaN


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _noise_slope(out):
    """The pooled slope ``b`` of the variance model ``a + b m`` over every first-round row.

    b = sum num / sum den over the frames (`_noise_sums`): the least-squares slope of
    all squared residuals on their expected values, each frame with its own ``a``;
    non-negative.  Then, until it no longer changes (at most 10 times), recomputed
    without the frames whose ``num - b den`` exceeds `NOISE_TRIM_SIGMA` of its standard
    deviation under the model: a cosmic ray on a star's pixel otherwise weighs like
    thousands of frames.  Measured on 50,000 flight-regime frames (b = 8) with cosmic
    rays of 1e3-1e5 DN/s on random pixels: 300 of them (100x JWST's rate) make the plain
    slope 11.0, the trimmed one 7.96; 3000, 28.7 and 7.7.  Summed in frame order, so the
    threads do not change it.
    """
    num = den = 0.0
    for k in range(out.shape[0]):
        row = out[k]
        if _pending(row) and row[_S_DEN] > 0.0:
            num += row[_S_NUM]
            den += row[_S_DEN]
    if not den > 0.0:
        return 0.0
    slope = max(num / den, 0.0)
    for _ in range(10):
        num = den = 0.0
        for k in range(out.shape[0]):
            row = out[k]
            if not (_pending(row) and row[_S_DEN] > 0.0):
                continue
            # the frame's own ``a`` would hide an outlier off the star (it raises ``a``):
            # capped by the first round's floor, the corners' MAD (robust to one pixel)
            a = min(max((row[_S_T2] - slope * row[_S_T1]) / row[_S_T0], 0.0), row[_S_FLOOR])
            var = 2.0 * (a * a * row[_S_CAA] + a * slope * row[_S_CAB]
                         + slope * slope * row[_S_CBB])
            d = row[_S_NUM] - slope * row[_S_DEN]
            if d * d <= NOISE_TRIM_SIGMA * NOISE_TRIM_SIGMA * var:
                num += row[_S_NUM]
                den += row[_S_DEN]
        if not den > 0.0:
            break
        new = max(num / den, 0.0)
        if new == slope:
            break
        slope = new
    return slope


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _refit_block(frames, models, max_iter, tol, slope, start, stop, out):
    """Finish the first-round rows of out[start:stop] (no ERR) with the fitted noise model.

    Length: the per-frame flow (reload, weights, step or LM round, checks, result)
    reads best in one piece; the scratch arrays take 15 lines.

    Weights 1 / (a + `slope` m) at the first round's parameters (``a`` by
    `_intercept`, m as `_noise_sums` stored it in ``models``), then one Gauss–Newton
    step: the minimum of the new weights is a fraction of a sigma from the first
    round's, and one step lands on it (centroids within 0.03 sigma of a full LM
    round's; the widths of nearly round stars, whose theta is free, within 0.6 sigma;
    the same RMS against the truth on flight-regime and faint frames), so one pass of
    the model replaces the 3-4 of a second LM round.  A step predicted to lower chi2 by
    more than `GN_MAX_DROP`, or leaving the width range, runs the LM round instead.

    Uncertainties: sqrt(diag((JᵀWJ)⁻¹)) of these weights times chi2_red.  ``a`` and
    ``b`` are fitted to the residuals, so chi2_red is ~1 on average; frame by frame it
    replaces the level of ``a`` (20 % noise) by the scatter of all the frame's pixels
    (pulls on pure Gaussian noise, b = 0: 1.02 scaled, 1.04 unscaled; 1.00 either way
    on flight-regime stars, where the star's photon noise dominates).
    """
    f = np.empty(64)
    valid = np.empty(64)
    w = np.empty(64)
    marked = np.empty((8, 8))
    p = np.empty(7)
    s_jtj = np.empty((7, 7))
    t_jtj = np.empty((7, 7))
    damped = np.empty((7, 7))
    low = np.zeros((7, 7))
    s_jtr = np.empty(7)
    t_jtr = np.empty(7)
    step = np.empty(7)
    trial = np.empty(7)
    var = np.empty(7)
    for k in range(start, stop):
        row = out[k]
        if not _pending(row):
            continue
        n_valid = _load_frame(frames, frames, False, k, f, w, valid, marked)
        for i in range(7):
            p[i] = row[I_PARAM + i]
        status, it1 = int(row[I_STATUS]), int(row[I_NITER])
        a, model = _intercept(row, slope), models[k]
        for i in range(64):  # 1 / (a + b m), m as `_noise_sums` left it: no exp
            w[i] = valid[i] / (a + slope * model[i])
        chi2 = _normal(f, w, p, s_jtj, s_jtr)
        it = 0
        if it1 < max_iter and math.isfinite(chi2):
            for i in range(7):
                for j in range(7):
                    damped[i, j] = s_jtj[i, j]
                damped[i, i] = s_jtj[i, i] + 1e-300
            drop = np.inf
            if _cholesky(damped, low):
                _cho_solve(low, s_jtr, step)
                drop = 0.0
                for i in range(7):
                    trial[i] = p[i] + step[i]
                    drop += step[i] * s_jtr[i]
            if (0.0 <= drop <= GN_MAX_DROP and SIGMA_MIN < abs(trial[3]) < SIGMA_MAX
                    and SIGMA_MIN < abs(trial[4]) < SIGMA_MAX):
                for i in range(7):
                    p[i] = trial[i]
                p[3], p[4] = abs(p[3]), abs(p[4])
                chi2 -= drop
                it = 1
            else:
                status, it, chi2 = _lm(f, w, p, max_iter - it1, tol, s_jtj, s_jtr, t_jtj,
                                       t_jtr, damped, low, step, trial, np.inf)
        row[:] = np.nan  # the state columns too
        row[I_NITER] = it1 + it
        dof = n_valid - 7
        red = chi2 / dof if dof > 0 else np.nan
        row[I_CHI2] = red
        if status == FAILED or not _plausible(p, chi2):
            row[I_STATUS] = FAILED
            continue
        _variances(s_jtj, low, damped, var)
        _store_fit(row, p, var, red, False)
        row[I_STATUS] = status


# The drivers.  A chunk's blocks run on threads of this process, each block one call of
# a compiled kernel that releases the GIL (``nogil``), or one after the other (ray
# workers, one process per core already).  No numba-parallel (``prange``) kernel: it
# would be one more copy of the whole fit to compile, and a second one for the serial
# calls, where numba re-optimizes a kernel's whole call tree at every level above it
# (`benchmarks/bench_compile_parts.py`).  With and without ERR the kernels differ, so a
# cal file's fit (always with ERR) compiles without the noise model's code.


def _blocks(n: int, n_blocks: int) -> list:
    """(start, stop) of up to `n_blocks` blocks of whole `SEED_RUN` runs: the runs, not
    the blocks, decide which frames start from their moments, so the results do not
    depend on the number of blocks."""
    n_runs = -(-n // SEED_RUN)
    n_blocks = max(min(n_runs, n_blocks), 1)
    bounds = [min(b * n_runs // n_blocks * SEED_RUN, n) for b in range(n_blocks + 1)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def fit_signatures(frames: np.ndarray, errors: np.ndarray | None) -> list:
    """The kernels a chunk's fit of these inputs calls, each with arguments of the types
    `fit_chunk` gives it: [(dispatcher, arguments)], to compile ahead of a fit
    (`fgs_widgets.runtime.warmup`)."""
    n, init, out = len(frames), np.empty((0, 7)), np.empty((len(frames), N_OUT))
    if errors is not None:
        return [(_fit_block_errors, (frames, errors, init, False, 50, 1e-8, 0, n, out))]
    models = np.empty((n, 64), np.float32)
    return [(_fit_block_noise, (frames, init, False, 50, 1e-8, 0, n, out)),
            (_noise_block, (frames, 0, n, out, models, 1)),
            (_noise_slope, (out,)),
            (_refit_block, (frames, models, 50, 1e-8, 0.0, 0, n, out))]


def fit_chunk(frames: np.ndarray, errors: np.ndarray | None, initial: np.ndarray | None,
              max_iter: int, tol: float, out: np.ndarray, threads: int = 1) -> None:
    """Fit every frame of a chunk into ``out`` (n, `N_OUT`) float64, row by row
    (columns `RAW_COLUMNS`), on `threads` threads.

    ``frames`` (n, 8, 8) float32/float64 and C-contiguous; ``errors`` the same (the
    pixels weighted by 1/ERR²) or None (the noise model fitted to the chunk: the first
    round of every frame, `_noise_slope`, then `_refit_block`); ``initial`` (n, 7)
    float64 starting parameters, or None.  The results do not depend on `threads`.
    Blocks are a few per thread, to even out frames that need more iterations.  A
    block is never interrupted: on an exception (KeyboardInterrupt too) the blocks not
    yet started are dropped and the call returns once the running ones end.
    """
    n = len(frames)
    blocks = _blocks(n, 16 * threads if threads > 1 else 1)
    init = np.empty((0, 7)) if initial is None else initial
    use_initial, max_iter, tol = initial is not None, int(max_iter), float(tol)
    with ThreadPoolExecutor(threads) if threads > 1 else nullcontext() as pool:
        if errors is not None:
            _run(pool, blocks, lambda a, b: _fit_block_errors(
                frames, errors, init, use_initial, max_iter, tol, a, b, out))
            return
        models = np.empty((n, 64), np.float32)  # 4 bytes per pixel: as float32 frames
        stride = max(n // SLOPE_FRAMES, 1)
        _run(pool, blocks, lambda a, b: (
            _fit_block_noise(frames, init, use_initial, max_iter, tol, a, b, out),
            _noise_block(frames, a, b, out, models, stride)))
        slope = _noise_slope(out)
        _run(pool, blocks, lambda a, b: _refit_block(
            frames, models, max_iter, tol, slope, a, b, out))


def _run(pool, blocks: list, call) -> None:
    """``call(start, stop)`` for every block, on the pool's threads or here."""
    if pool is None:
        for a, b in blocks:
            call(a, b)
        return
    futures = [pool.submit(call, a, b) for a, b in blocks]
    try:
        for future in futures:
            future.result()
    except BaseException:
        # blocks not yet started never start; running ones end (they write ``out``)
        for future in futures:
            future.cancel()
        raise


#: Gauss–Newton steps of each 1D profile fit in `refine_centroid`.  From the moments, one
#: leaves a centroid bias of 7e-5 px on real-regime stars, two 1e-5 px; a third moves the
#: centroids by 1e-6 px RMS
REFINE_STEPS = 2
#: profile widths (px) outside this range end the refinement (the frame keeps its moments):
#: the fit has run away, and the window recurrence would under- or overflow
REFINE_SIGMA_MIN, REFINE_SIGMA_MAX = 0.3, 3.0

# The refinement's pixel loops run over ``range(frame.shape[1])``, not ``range(8)``: a trip
# count known at compile time gets a loop fully unrolled, and numba leaves LLVM's SLP
# vectorizer off, so the unrolled code stays scalar; a loop is vectorized (with
# error_model="numpy": Python's zero-division check would branch in every division).
# Measured on the 2D step's loop alone: 2.3x faster.
_REFINE_FLAGS = {"cache": True, "inline": "always", "fastmath": FASTMATH, "error_model": "numpy"}


@nb.njit(**_REFINE_FLAGS)
def _gaussian_window(w, centre, var):
    """exp(-(c - centre)² / (2 var)) for c = 0..7 by recurrence (3 exps instead of 8)."""
    g = math.exp(-0.5 * centre * centre / var)
    ratio = math.exp((2.0 * centre - 1.0) / (2.0 * var))
    step = math.exp(-1.0 / var)
    for c in range(8):
        w[c] = g
        g *= ratio
        ratio *= step


@nb.njit(**_REFINE_FLAGS)
def _fit_profile(prof, n, base, vfloor, q, e):
    """Gauss–Newton fit of ``q[0] exp(-(c - q[1])² / (2 q[2]²)) + base`` to ``prof[:n]``.

    ``n`` is 8, given at run time (see `_REFINE_FLAGS`).  ``q`` (amplitude,
    centre, width) is the start and, on success, the result.
    Weights 1 / (model + `vfloor`), as the full fit's Poisson-like ones.  The
    Jacobian's columns are the model times 1/A, dx/s² and dx²/s³, so the
    normal equations need only 8 weighted power sums of dx per step (not 9
    products of Jacobian columns), solved by cofactors.  Returns False,
    leaving ``q`` as it was, when the normal matrix is singular or a step
    leaves the frame, a positive amplitude or the width range.
    """
    amp, mu, s = q[0], q[1], q[2]
    for _ in range(REFINE_STEPS):
        _gaussian_window(e, mu, s * s)
        a0 = a1 = a2 = a3 = a4 = b0 = b1 = b2 = 0.0
        for c in range(n):
            m = amp * e[c]
            wm = m / (m + vfloor)
            a = wm * m
            b = wm * (prof[c] - base - m)
            dx = float(c) - mu
            dx2 = dx * dx
            a0 += a
            a1 += a * dx
            a2 += a * dx2
            a3 += a * dx2 * dx
            a4 += a * dx2 * dx2
            b0 += b
            b1 += b * dx
            b2 += b * dx2
        k1 = 1.0 / (s * s)
        k2 = k1 / s
        ia = 1.0 / amp
        h00, h01, h02 = a0 * ia * ia, a1 * ia * k1, a2 * ia * k2
        h11, h12, h22 = a2 * k1 * k1, a3 * k1 * k2, a4 * k2 * k2
        g0, g1, g2 = b0 * ia, b1 * k1, b2 * k2
        c00 = h11 * h22 - h12 * h12
        c01 = h02 * h12 - h01 * h22
        c02 = h01 * h12 - h02 * h11
        det = h00 * c00 + h01 * c01 + h02 * c02
        if not det > 0.0:  # also NaN
            return False
        c11 = h00 * h22 - h02 * h02
        c12 = h01 * h02 - h00 * h12
        c22 = h00 * h11 - h01 * h01
        inv = 1.0 / det
        amp += (c00 * g0 + c01 * g1 + c02 * g2) * inv
        mu += (c01 * g0 + c11 * g1 + c12 * g2) * inv
        s += (c02 * g0 + c12 * g1 + c22 * g2) * inv
        if not (amp > 0.0 and -1.0 < mu < 8.0 and REFINE_SIGMA_MIN < s < REFINE_SIGMA_MAX):
            return False
    q[0], q[1], q[2] = amp, mu, s
    return True


@nb.njit(**_REFINE_FLAGS)
def _marginals(frame, nr, nc, col, row):
    """Column sums of ``frame`` into ``col[:nc]``, row sums into ``row[:nr]``; returns the
    total (NaN if a pixel is NaN).  ``nr``, ``nc`` at run time: see `_REFINE_FLAGS`."""
    for c in range(nc):
        col[c] = 0.0
    total = 0.0
    for r in range(nr):
        s_row = 0.0
        for c in range(nc):
            v = frame[r, c]
            col[c] += v
            s_row += v
        row[r] = s_row
        total += s_row
    return total


@nb.njit(**_REFINE_FLAGS)
def _centre_step(frame, nr, nc, bkg, floor, ax, mx, sx, my, sy, col, ex, ey):
    """One 2D Gauss–Newton step on the centre of the axis-aligned template; the new centre.

    The template: widths ``sx``, ``sy`` and centre (``mx``, ``my``) of the profile fits,
    amplitude from the column profile's ``ax``, background ``bkg``; weights
    1 / (model + `floor`).  Returns (NaN, NaN) when the step's curvature is not
    positive.  ``col``, ``ex``, ``ey`` (8) are scratch.
    """
    _gaussian_window(ex, mx, sx * sx)
    _gaussian_window(ey, my, sy * sy)
    norm = 0.0
    for r in range(nr):
        norm += ey[r]
    amp = ax / norm  # the column profile's amplitude is the star's times sum(ey)
    ix2, iy2 = 1.0 / (sx * sx), 1.0 / (sy * sy)
    for c in range(nc):
        col[c] = (float(c) - mx) * ix2  # d model / d x0, over the model
    hx = gx = hy = gy = 0.0
    for r in range(nr):
        ar = amp * ey[r]
        h_row = g_row = 0.0
        for c in range(nc):
            m = ar * ex[c]
            wm = m / (m + floor)
            res = frame[r, c] - bkg - m
            u = col[c]
            hx += wm * m * u * u
            gx += wm * res * u
            h_row += wm * m
            g_row += wm * res
        uy = (float(r) - my) * iy2
        hy += h_row * uy * uy
        gy += g_row * uy
    if not (hx > 0.0 and hy > 0.0):
        return np.nan, np.nan
    return mx + gx / hx, my + gy / hy


@nb.njit(**_REFINE_FLAGS)
def refine_centroid(frame, p, corner, col, row, ex, ey, q):
    """Move the centroid in ``p`` (9 values from `moments`) to a model-fit centroid.

    Moments are biased in two ways that no window removes.  Clipping the
    background-subtracted pixels at zero leaves a positive floor of noise
    over the whole frame, which pulls the centroid towards the frame centre
    and inflates the widths (on real FGS stars — sigma 0.64–0.73 px, ~190 e-
    of background per pixel —: 7.7e-3 px, and 2.8x the Cramér–Rao bound).
    And any weighting of the pixels by a window aliases, on an undersampled
    star, into a centroid bias (3.6e-3 px with the former 3x window).  A
    least-squares fit of the point-sampled Gaussian the full fit uses has
    neither: at the true centre its gradient vanishes whatever the sampling,
    so what bias remains is second order (widths that do not match, noise).

    So: (1) the column and row sums (the marginal profiles: exactly sampled
    Gaussians for an axis-aligned star) are fitted by 1D Gauss–Newton
    (`_fit_profile`: amplitude, centre, width; background fixed at the
    corners' median) from the moments.  That fixes the widths, on which the
    centroid of an undersampled star depends (the moments' would leave
    8e-4 px of bias).  (2) One 2D Gauss–Newton step on the centre only
    (`_centre_step`), with the fitted widths and amplitude and the full fit's
    Poisson-like weights
    1 / (model + corner noise variance): a profile mixes the background noise
    of 8 pixels into each sum, which costs ~6 % of precision that the 2D step
    recovers.  Near the minimum the centre's normal equations decouple from
    amplitude and widths (odd against even functions about the centre), so
    the step is two divisions.

    Rotation is not modelled: the template is axis-aligned with the star's
    marginal widths, exact for round stars and, for elongated undersampled
    ones, a bias far below the noise (noiseless, real regime: 1.1e-4 px at
    most).  Frames with a NaN pixel, and fits that run away (`_fit_profile`;
    a final step over 1 px), keep their moments.  ``corner`` holds the
    corner pixels as `moments` left them (sorted); ``col``, ``row``, ``ex``,
    ``ey`` (8) and ``q`` (3) are scratch.
    """
    x, y = p[1], p[2]
    if not (x == x):
        return
    nr, nc = frame.shape[0], frame.shape[1]  # (8, 8), at run time: see _REFINE_FLAGS
    total = _marginals(frame, nr, nc, col, row)
    if not (total == total):  # a NaN pixel (FASTMATH keeps NaNs)
        return
    bkg = p[6]
    # background noise variance from the corners' interquartile range: `moments` left them
    # sorted (all 12 valid: no NaN pixel), so this costs no second sort as a MAD would
    iqr = 0.25 * (3.0 * corner[8] + corner[9] - corner[2] - 3.0 * corner[3])
    floor = max((iqr / 1.349) ** 2, 1e-6 * p[0], 1e-30)
    flux = p[0] * 2.0 * math.pi * p[3] * p[4]
    root2pi = math.sqrt(2.0 * math.pi)
    sx0 = math.sqrt(min(max(p[7], 0.16), 4.0))
    sy0 = math.sqrt(min(max(p[8], 0.16), 4.0))
    q[0], q[1], q[2] = flux / (root2pi * sx0), x, sx0
    if not _fit_profile(col, nc, nr * bkg, nr * floor, q, ex):
        return
    ax, mx, sx = q[0], q[1], q[2]
    q[0], q[1], q[2] = flux / (root2pi * sy0), y, sy0
    if not _fit_profile(row, nr, nc * bkg, nc * floor, q, ey):
        return
    my, sy = q[1], q[2]
    nx, ny = _centre_step(frame, nr, nc, bkg, floor, ax, mx, sx, my, sy, col, ex, ey)
    # NaN (no step) fails every comparison
    if -1.0 < nx < 8.0 and -1.0 < ny < 8.0 and abs(nx - x) < 1.0 and abs(ny - y) < 1.0:
        p[1], p[2] = nx, ny


@nb.njit(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)
def _quick_block(frames, out, start, stop, refine):
    """`moments` (and `refine_centroid`) of frames[start:stop] with one set of scratch arrays."""
    corner = np.empty(12)
    p = np.empty(9)  # 7 parameters, then the marginal variances
    col = np.empty(8)
    row = np.empty(8)
    ex = np.empty(8)
    ey = np.empty(8)
    q = np.empty(3)
    for k in range(start, stop):
        moments(frames[k], corner, p, False)
        if refine:
            refine_centroid(frames[k], p, corner, col, row, ex, ey, q)
        for i in range(7):
            out[i, k] = p[i]


def moments_chunk(frames: np.ndarray, out: np.ndarray, threads: int, refine: bool) -> None:
    """`moments` of every frame into the columns of out (7, n) float64 (the quick fit).

    With `refine` the centroids are refined by `refine_centroid` (the other parameters
    stay the moments').  Blocks of frames on `threads` threads, as `fit_chunk`'s: a
    ``nogil`` kernel, not a numba-parallel one (half the cold compile).
    """
    blocks = _blocks(len(frames), 16 * threads if threads > 1 else 1)
    with ThreadPoolExecutor(threads) if threads > 1 else nullcontext() as pool:
        _run(pool, blocks, lambda a, b: _quick_block(frames, out, a, b, refine))
