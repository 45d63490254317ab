"""Frozen copy of the fit kernels as they were before issue 27 (``fgs_widgets/engine/lm.py``
at commit 699c804, the quick-fit functions left out): the baseline of
``benchmarks/bench_errors.py`` and of the ERR path's bit-identity test
(``tests/test_fit_errors.py``).  Not used by the package; do not edit.

Without ERR these kernels weight the pixels by 1 / (max(star model, 0) + corner noise
variance), with the star model in the frames' own units, and scale the covariance by
chi2_red: on count-rate frames the weights' shape is wrong and the reported
uncertainties are ~1.8x too small (see `fgs_widgets.engine.lm` for the fix).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from fgs_widgets.engine.psf import ERR_COLUMNS, PARAMETERS

# status codes, and their names (index = code) for the tables' categorical ``status``
CONVERGED, MAX_ITER, FAILED, BAD_INPUT, CANCELLED = 0, 1, 2, 3, 4
STATUS_NAMES = ("converged", "max_iter", "failed", "bad_input", "cancelled")
#: fewer valid pixels than this: the frame is not fitted (7 parameters need slack)
MIN_VALID_PIXELS = 10
#: a step smaller than this (px) in every position and width ends the fit
XTOL = 1e-5
#: widths outside this range (px) are rejected as trial steps (8x8 frames)
SIGMA_MIN, SIGMA_MAX = 0.05, 50.0

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
#: reduced chi2, LM iterations (both weighting rounds), status code (`STATUS_NAMES`), and
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

# fast-math without the no-NaN/no-inf assumptions: the finiteness tests must survive
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Pixel i of a flattened frame is at column i & 7, row i >> 3 (computed, not looked up:
# global arrays would stop numba from caching the parallel kernels).
# background pixels: three per corner (the corner and its two neighbours).  They hold far
# less wing light than the full outer ring (~4.9 px from the centre instead of ~3.5).
_CORNERS = (0, 1, 8, 6, 7, 15, 48, 56, 57, 55, 62, 63)


@nb.njit(cache=True, inline="always")
def _sort_small(v, m):
    """Insertion sort of v[:m] in place (m <= 12: cheaper than any general sort)."""
    for i in range(1, m):
        x = v[i]
        j = i
        while j > 0 and v[j - 1] > x:
            v[j] = v[j - 1]
            j -= 1
        v[j] = x


@nb.njit(cache=True, inline="always")
def _median_sorted(v, m):
    return v[m // 2] if m % 2 else 0.5 * (v[m // 2 - 1] + v[m // 2])


@nb.njit(cache=True, fastmath=FASTMATH)
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


@nb.njit(cache=True, fastmath=FASTMATH)
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
        e = math.exp(-(a * dx2 + 2.0 * b * dxy + c * dy2))
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


@nb.njit(cache=True)
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


@nb.njit(cache=True)
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


@nb.njit(cache=True)
def _variances(jtj, low, damped, unit, col, var):
    """diag((JᵀWJ)⁻¹) into ``var``.

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
    for j in range(7):
        unit[:] = 0.0
        unit[j] = 1.0
        _cho_solve(low, unit, col)
        var[j] = col[j]
    if pinned >= 0:
        var[pinned] = np.inf


@nb.njit(cache=True, fastmath=FASTMATH)
def _poisson_weights(valid, p, floor, w):
    """1 / (max(star model, 0) + floor) on valid pixels: photon noise of the star from the
    model, background (read + sky) noise from the measured floor."""
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
        w[i] = valid[i] / (max(star, 0.0) + floor)


@nb.njit(cache=True)
def _lm(f, w, p, max_iter, tol, s_jtj, s_jtr, t_jtj, t_jtr, damped, low, step, trial):
    """LM from ``p`` (updated in place); on return s_jtj holds JᵀWJ at ``p``.

    Returns (status, iterations, chi2).
    """
    chi2 = _normal(f, w, p, s_jtj, s_jtr)
    if not math.isfinite(chi2):
        return FAILED, 0, chi2
    lam = 1e-3
    status = MAX_ITER
    it = 0
    while it < max_iter:
        it += 1
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
            status = CONVERGED if lam > 1e10 or chi2 == 0.0 else FAILED
            break
        drop = chi2 - new_chi2
        chi2 = new_chi2
        for i in range(7):
            p[i] = trial[i]
            s_jtr[i] = t_jtr[i]
            for j in range(7):
                s_jtj[i, j] = t_jtj[i, j]
        lam = max(lam * 0.1, 1e-9)
        small = True
        for i in range(1, 5):  # positions and widths, in pixels
            if abs(step[i]) > XTOL:
                small = False
        if drop <= tol * chi2 or small:
            status = CONVERGED
            break
    return status, it, chi2


@nb.njit(cache=True)
def _load_frame(frames, errors, use_errors, k, f, w, valid, marked):
    """Frame ``k`` into the flat scratch arrays; returns its number of valid pixels.

    ``f`` the pixels (0 where invalid), ``valid`` 1/0, ``marked`` the (8, 8) frame
    with invalid pixels NaN (for `moments`); with `use_errors`, ``w`` = 1/ERR²
    (0 where invalid).  A pixel is invalid when it, or its error, is non-finite, or
    its error is <= 0.
    """
    frame = frames[k]
    n_valid = 0
    for r in range(8):
        for c in range(8):
            i = 8 * r + c
            v = float(frame[r, c])
            ok = math.isfinite(v)
            if use_errors:
                e = float(errors[k, r, c])
                ok = ok and math.isfinite(e) and e > 0.0
                w[i] = 1.0 / (e * e) if ok else 0.0
            f[i] = v if ok else 0.0
            marked[r, c] = v if ok else np.nan
            valid[i] = 1.0 if ok else 0.0
            n_valid += 1 if ok else 0
    return n_valid


@nb.njit(cache=True)
def _weighted_lm(f, w, valid, p, noise, use_errors, max_iter, tol, s_jtj, s_jtr, t_jtj,
                 t_jtr, damped, low, step, trial):
    """`_lm` from the seed ``p`` with the ERR weights in ``w``, or Poisson-like ones.

    Without `use_errors` the weights come from the seed (`_poisson_weights`, floor
    from the corner noise variance `noise`), then once more from the fitted model:
    a second LM round with the iterations left.  Returns (status, iterations of
    both rounds, chi2).
    """
    rounds = 1
    floor = 1.0
    if not use_errors:
        floor = max(noise, 1e-6 * abs(p[0]), 1e-30)
        _poisson_weights(valid, p, floor, w)
        rounds = 2
    total_it = 0
    status = FAILED
    chi2 = np.nan
    for rnd in range(rounds):
        if rnd > 0:
            _poisson_weights(valid, p, floor, w)
        status, it, chi2 = _lm(f, w, p, max_iter - total_it if rnd else max_iter, tol,
                               s_jtj, s_jtr, t_jtj, t_jtr, damped, low, step, trial)
        total_it += it
        if status == FAILED or total_it >= max_iter:
            break
    return status, total_it, chi2


@nb.njit(cache=True)
def _store_fit(row, p, var, red, use_errors):
    """Parameters and uncertainties (from the variances ``var``) into a result row.

    Without `use_errors` the variances are scaled by the reduced chi2 `red` (the
    weights' absolute scale is unknown).  Canonical form: x_stddev is the major
    axis, theta in [-pi/2, pi/2).  ``p`` and ``var`` are changed in place.
    """
    if not use_errors:
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


@nb.njit(cache=True)
def _fit_block(frames, errors, use_errors, initial, use_initial, max_iter, tol, start, stop,
               out):
    """Fit frames[start:stop] into out[start:stop] with one set of scratch arrays.

    Each row of ``out`` gets the `RAW_COLUMNS`; rows of frames not fitted keep NaN
    parameters and errors with their status (`BAD_INPUT`, `FAILED`).
    """
    f = np.empty(64)
    valid = np.empty(64)
    w = np.empty(64)
    marked = np.empty((8, 8))  # the frame with invalid pixels NaN, for `moments`
    corner = np.empty(12)
    p = np.empty(7)
    s_jtj = np.empty((7, 7))
    t_jtj = np.empty((7, 7))
    damped = np.empty((7, 7))
    low = np.zeros((7, 7))
    s_jtr = np.empty(7)
    t_jtr = np.empty(7)
    step = np.empty(7)
    trial = np.empty(7)
    unit = np.empty(7)
    col = np.empty(7)
    var = np.empty(7)
    for k in range(start, stop):
        row = out[k]
        n_valid = _load_frame(frames, errors, use_errors, k, f, w, valid, marked)
        row[:] = np.nan
        row[I_NITER] = 0.0
        row[I_STATUS] = BAD_INPUT
        if n_valid < MIN_VALID_PIXELS:
            continue
        noise = moments(marked, corner, p, True)
        if use_initial:
            for i in range(7):
                p[i] = initial[k, i]
            if not (np.isfinite(p).all() and p[3] > 0.0 and p[4] > 0.0):
                continue
        elif noise < 0.0:
            continue  # no positive signal above the background
        status, total_it, chi2 = _weighted_lm(f, w, valid, p, noise, use_errors, max_iter, tol,
                                              s_jtj, s_jtr, t_jtj, t_jtr, damped, low, step,
                                              trial)
        row[I_NITER] = total_it
        dof = n_valid - 7
        red = chi2 / dof if dof > 0 else np.nan
        row[I_CHI2] = red
        if (status == FAILED or not math.isfinite(chi2) or not p[0] > 0.0
                or not -2.0 < p[1] < 9.0 or not -2.0 < p[2] < 9.0):
            row[I_STATUS] = FAILED
            continue
        _variances(s_jtj, low, damped, unit, col, var)
        _store_fit(row, p, var, red, use_errors)
        row[I_STATUS] = status


@nb.njit(cache=True, parallel=True)
def fit_chunk_parallel(frames, errors, use_errors, initial, use_initial, max_iter, tol, out,
                       n_blocks):
    """Fit every frame of a chunk with numba threads over `n_blocks` blocks of frames.

    ``frames`` (n, 8, 8) float32/float64; ``errors`` the same shape when
    `use_errors` (else any (0, 8, 8) array); ``initial`` (n, 7) when
    `use_initial`; ``out`` (n, `N_OUT`) float64, filled row by row (columns
    `RAW_COLUMNS`).
    `n_blocks` comes from the caller: ``numba.get_num_threads()`` inside the
    kernel would make it uncacheable.
    """
    n = frames.shape[0]
    n_blocks = max(min(n, n_blocks), 1)
    for blk in nb.prange(n_blocks):
        _fit_block(frames, errors, use_errors, initial, use_initial, max_iter, tol,
                   blk * n // n_blocks, (blk + 1) * n // n_blocks, out)


@nb.njit(cache=True)
def fit_chunk_serial(frames, errors, use_errors, initial, use_initial, max_iter, tol, out,
                     n_blocks=1):
    """`fit_chunk_parallel` on one thread (ray workers: one process per core already)."""
    _fit_block(frames, errors, use_errors, initial, use_initial, max_iter, tol, 0,
               frames.shape[0], out)
