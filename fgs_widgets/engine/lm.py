"""Compiled kernels: moments seed and Levenberg–Marquardt for rotated 2D Gaussians.

One numba function fits a whole chunk of frames (``prange`` over frames, so a
chunk uses every core the process has); per frame it runs an LM loop on the
7 parameters with the analytic Jacobian, accumulating the 7x7 normal matrix
directly (no 64x7 Jacobian is stored) and solving it by Cholesky.

Parameter order everywhere: amplitude, x_mean, y_mean, x_stddev, y_stddev,
theta, offset (`fgs_widgets.engine.psf.PARAMETERS`).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

# status codes (names in fgs_widgets.engine.gaussian.STATUS)
CONVERGED, MAX_ITER, FAILED, BAD_INPUT = 0, 1, 2, 3
MIN_VALID_PIXELS = 10
XTOL = 1e-5  # px: a step this small in every position and width ends the fit
_NPAR = 7


@nb.njit(cache=True, inline="always")
def _quadratic_form(sx, sy, th):
    """a, b, c of the exponent and the trigonometric terms their derivatives need."""
    ct, st = math.cos(th), math.sin(th)
    s2t = 2.0 * st * ct
    ix2, iy2 = 1.0 / (sx * sx), 1.0 / (sy * sy)
    a = 0.5 * (ct * ct * ix2 + st * st * iy2)
    b = 0.25 * s2t * (ix2 - iy2)
    c = 0.5 * (st * st * ix2 + ct * ct * iy2)
    return a, b, c, ct, st, s2t, ix2, iy2


@nb.njit(cache=True, fastmath=False)
def _chi2(frame, weight, p):
    amp, x0, y0, off = p[0], p[1], p[2], p[6]
    a, b, c = _quadratic_form(p[3], p[4], p[5])[:3]
    total = 0.0
    for r in range(8):
        dy = r - y0
        for col in range(8):
            w = weight[r, col]
            if w == 0.0:
                continue
            dx = col - x0
            e = math.exp(-(a * dx * dx + 2.0 * b * dx * dy + c * dy * dy))
            res = frame[r, col] - (amp * e + off)
            total += w * res * res
    return total


@nb.njit(cache=True, fastmath=False)
def _normal_equations(frame, weight, p, jtj, jtr):
    """Fill the weighted normal matrix J^T W J and J^T W r; return chi2."""
    amp, x0, y0, sx, sy, off = p[0], p[1], p[2], p[3], p[4], p[6]
    a, b, c, ct, st, s2t, ix2, iy2 = _quadratic_form(sx, sy, p[5])
    c2t = ct * ct - st * st
    ix3, iy3 = ix2 / sx, iy2 / sy
    # derivatives of a, b, c with respect to sx, sy, theta
    da_sx, db_sx, dc_sx = -ct * ct * ix3, -0.5 * s2t * ix3, -st * st * ix3
    da_sy, db_sy, dc_sy = -st * st * iy3, 0.5 * s2t * iy3, -ct * ct * iy3
    da_th = 0.5 * s2t * (iy2 - ix2)
    db_th = 0.5 * c2t * (ix2 - iy2)
    dc_th = 0.5 * s2t * (ix2 - iy2)
    jtj[:, :] = 0.0
    jtr[:] = 0.0
    g = np.empty(_NPAR)
    chi2 = 0.0
    for r in range(8):
        dy = r - y0
        for col in range(8):
            w = weight[r, col]
            if w == 0.0:
                continue
            dx = col - x0
            dx2, dxy, dy2 = dx * dx, dx * dy, dy * dy
            e = math.exp(-(a * dx2 + 2.0 * b * dxy + c * dy2))
            res = frame[r, col] - (amp * e + off)
            chi2 += w * res * res
            ae = amp * e
            g[0] = e
            g[1] = ae * (2.0 * a * dx + 2.0 * b * dy)
            g[2] = ae * (2.0 * b * dx + 2.0 * c * dy)
            g[3] = -ae * (da_sx * dx2 + 2.0 * db_sx * dxy + dc_sx * dy2)
            g[4] = -ae * (da_sy * dx2 + 2.0 * db_sy * dxy + dc_sy * dy2)
            g[5] = -ae * (da_th * dx2 + 2.0 * db_th * dxy + dc_th * dy2)
            g[6] = 1.0
            for i in range(_NPAR):
                wg = w * g[i]
                jtr[i] += wg * res
                for j in range(i + 1):
                    jtj[i, j] += wg * g[j]
    for i in range(_NPAR):
        for j in range(i):
            jtj[j, i] = jtj[i, j]
    return chi2


@nb.njit(cache=True)
def _cholesky_solve(m, rhs, out):
    """Solve m x = rhs for symmetric positive-definite m (7x7); False if not SPD."""
    n = m.shape[0]
    low = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1):
            s = m[i, j]
            for k in range(j):
                s -= low[i, k] * low[j, k]
            if i == j:
                if s <= 0.0 or not np.isfinite(s):
                    return False
                low[i, i] = math.sqrt(s)
            else:
                low[i, j] = s / low[j, j]
    y = np.empty(n)
    for i in range(n):
        s = rhs[i]
        for k in range(i):
            s -= low[i, k] * y[k]
        y[i] = s / low[i, i]
    for i in range(n - 1, -1, -1):
        s = y[i]
        for k in range(i + 1, n):
            s -= low[k, i] * out[k]
        out[i] = s / low[i, i]
    return True


@nb.njit(cache=True)
def _invert_spd(m, inv):
    """Inverse of a 7x7 SPD matrix column by column; False if singular."""
    n = m.shape[0]
    unit = np.zeros(n)
    col = np.empty(n)
    for j in range(n):
        unit[:] = 0.0
        unit[j] = 1.0
        if not _cholesky_solve(m, unit, col):
            return False
        inv[:, j] = col
    return True


@nb.njit(cache=True)
def moments_seed(frame, weight, out):
    """Initial guess from background-subtracted moments (no fitting)."""
    # background: median of the outer ring of valid pixels
    ring = np.empty(28)
    n_ring = 0
    for r in range(8):
        for col in range(8):
            if (r == 0 or r == 7 or col == 0 or col == 7) and weight[r, col] > 0.0:
                ring[n_ring] = frame[r, col]
                n_ring += 1
    bkg = np.median(ring[:n_ring]) if n_ring > 0 else 0.0
    total = sx_ = sy_ = 0.0
    peak = -np.inf
    for r in range(8):
        for col in range(8):
            if weight[r, col] > 0.0:
                v = frame[r, col] - bkg
                if v > peak:
                    peak = v
                if v > 0.0:
                    total += v
                    sx_ += v * col
                    sy_ += v * r
    if total <= 0.0:
        return False
    x0, y0 = sx_ / total, sy_ / total
    vxx = vyy = vxy = 0.0
    for r in range(8):
        for col in range(8):
            if weight[r, col] > 0.0:
                v = frame[r, col] - bkg
                if v > 0.0:
                    vxx += v * (col - x0) ** 2
                    vyy += v * (r - y0) ** 2
                    vxy += v * (col - x0) * (r - y0)
    vxx, vyy, vxy = vxx / total, vyy / total, vxy / total
    # eigen-decomposition of the 2x2 covariance gives the rotated widths
    theta = 0.5 * math.atan2(2.0 * vxy, vxx - vyy)
    half = 0.5 * (vxx + vyy)
    rad = math.sqrt(max(0.25 * (vxx - vyy) ** 2 + vxy * vxy, 0.0))
    s_major = math.sqrt(min(max(half + rad, 0.09), 9.0))
    s_minor = math.sqrt(min(max(half - rad, 0.09), 9.0))
    out[0] = max(peak, 1e-12)
    out[1], out[2] = x0, y0
    out[3], out[4] = s_major, s_minor
    out[5] = theta
    out[6] = bkg
    return True


@nb.njit(cache=True)
def _fit_one(frame, weight, p, max_iter, tol, cov):
    """LM on one frame; updates p in place; returns (status, n_iter, chi2)."""
    jtj = np.empty((_NPAR, _NPAR))
    jtr = np.empty(_NPAR)
    damped = np.empty((_NPAR, _NPAR))
    step = np.empty(_NPAR)
    trial = np.empty(_NPAR)
    lam = 1e-3
    chi2 = _normal_equations(frame, weight, p, jtj, jtr)
    status = MAX_ITER
    it = 0
    while it < max_iter:
        it += 1
        accepted = False
        for _ in range(12):  # raise damping until a step lowers chi2
            for i in range(_NPAR):
                for j in range(_NPAR):
                    damped[i, j] = jtj[i, j]
                damped[i, i] = jtj[i, i] * (1.0 + lam) + 1e-30
            if not _cholesky_solve(damped, jtr, step):
                lam *= 10.0
                continue
            for i in range(_NPAR):
                trial[i] = p[i] + step[i]
            trial[3] = abs(trial[3])
            trial[4] = abs(trial[4])
            if trial[3] < 0.05 or trial[4] < 0.05 or trial[3] > 50.0 or trial[4] > 50.0:
                lam *= 10.0
                continue
            new_chi2 = _chi2(frame, weight, trial)
            if new_chi2 <= chi2:
                accepted = True
                break
            lam *= 10.0
        if not accepted:
            # no downhill step left: at a minimum if the gradient is tiny, else stuck
            status = CONVERGED if chi2 == 0.0 or lam > 1e10 else FAILED
            break
        drop = chi2 - new_chi2
        for i in range(_NPAR):
            p[i] = trial[i]
        chi2 = _normal_equations(frame, weight, p, jtj, jtr)
        lam = max(lam * 0.1, 1e-9)
        small_step = True
        for i in range(1, 5):  # positions and widths in pixels
            if abs(step[i]) > XTOL:
                small_step = False
        if drop <= tol * max(chi2, 1e-300) or small_step:
            status = CONVERGED
            break
    if not _invert_spd(jtj, cov):
        cov[:, :] = np.nan
    return status, it, chi2


@nb.njit(cache=True, parallel=True)
def fit_chunk(frames, weights, initial, use_initial, max_iter, tol, params, errors, chi2r,
              n_iter, status):
    """Fit every frame of a chunk (numba threads over frames).

    ``weights`` holds 1/sigma^2 per pixel (0 = ignore the pixel).  Outputs are
    written into the preallocated arrays.
    """
    n = frames.shape[0]
    for k in nb.prange(n):
        frame = frames[k]
        weight = weights[k]
        n_valid = 0
        for r in range(8):
            for col in range(8):
                if weight[r, col] > 0.0 and np.isfinite(frame[r, col]):
                    n_valid += 1
                else:
                    weight[r, col] = 0.0
        p = np.empty(_NPAR)
        cov = np.empty((_NPAR, _NPAR))
        ok = n_valid >= MIN_VALID_PIXELS
        if ok:
            if use_initial:
                for i in range(_NPAR):
                    p[i] = initial[k, i]
                ok = np.isfinite(p).all()
            else:
                ok = moments_seed(frame, weight, p)
        if not ok:
            params[k, :] = np.nan
            errors[k, :] = np.nan
            chi2r[k] = np.nan
            n_iter[k] = 0
            status[k] = BAD_INPUT
            continue
        st, it, chi2 = _fit_one(frame, weight, p, max_iter, tol, cov)
        n_iter[k] = it
        dof = n_valid - _NPAR
        red = chi2 / dof if dof > 0 else np.nan
        bad = (st == FAILED or not np.isfinite(chi2) or p[1] < -2.0 or p[1] > 9.0
               or p[2] < -2.0 or p[2] > 9.0 or p[0] <= 0.0)
        if bad:
            params[k, :] = np.nan
            errors[k, :] = np.nan
            chi2r[k] = red
            status[k] = FAILED
            continue
        # canonical form: x_stddev is the major axis, theta in [-pi/2, pi/2)
        if p[3] < p[4]:
            tmp = p[3]
            p[3] = p[4]
            p[4] = tmp
            p[5] += 0.5 * math.pi
            tmp = cov[3, 3]
            cov[3, 3] = cov[4, 4]
            cov[4, 4] = tmp
        p[5] = (p[5] + 0.5 * math.pi) % math.pi - 0.5 * math.pi
        for i in range(_NPAR):
            params[k, i] = p[i]
            errors[k, i] = math.sqrt(cov[i, i]) if cov[i, i] >= 0.0 else np.nan
        chi2r[k] = red
        status[k] = st
