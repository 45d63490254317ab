"""Cramér–Rao bound of the Gaussian-fit parameters for given true frames and noise."""

from __future__ import annotations

import numpy as np

from .psf import gaussian2d, pixel_grid

__all__ = ["cramer_rao_bound", "gaussian2d_jacobian", "poisson_read_variance"]


def gaussian2d_jacobian(params: np.ndarray) -> np.ndarray:
    """Analytic derivatives of `gaussian2d` on the 8x8 grid.

    Parameters
    ----------
    params : array_like, shape (N, 7) or (7,)

    Returns
    -------
    ndarray, shape (N, 64, 7)
        d model[pixel] / d parameter, pixels in row-major order.
    """
    p = np.atleast_2d(np.asarray(params, dtype=np.float64))
    amp, x0, y0, sx, sy, th = (p[:, i, None] for i in range(6))
    x, y = (g.ravel()[None] for g in pixel_grid())
    ct, st = np.cos(th), np.sin(th)
    s2t, c2t = 2 * st * ct, ct**2 - st**2
    ix2, iy2 = 1 / sx**2, 1 / sy**2
    a = 0.5 * (ct**2 * ix2 + st**2 * iy2)
    b = 0.25 * s2t * (ix2 - iy2)
    c = 0.5 * (st**2 * ix2 + ct**2 * iy2)
    dx, dy = x - x0, y - y0
    e = np.exp(-(a * dx**2 + 2 * b * dx * dy + c * dy**2))
    ae = amp * e

    def d_exponent(da, db, dc):
        return -ae * (da * dx**2 + 2 * db * dx * dy + dc * dy**2)

    jac = np.empty((len(p), 64, 7))
    jac[..., 0] = e
    jac[..., 1] = 2 * ae * (a * dx + b * dy)
    jac[..., 2] = 2 * ae * (b * dx + c * dy)
    jac[..., 3] = d_exponent(-ct**2 / sx**3, -0.5 * s2t / sx**3, -st**2 / sx**3)
    jac[..., 4] = d_exponent(-st**2 / sy**3, 0.5 * s2t / sy**3, -ct**2 / sy**3)
    jac[..., 5] = d_exponent(0.5 * s2t * (iy2 - ix2), 0.5 * c2t * (ix2 - iy2),
                             0.5 * s2t * (ix2 - iy2))
    jac[..., 6] = 1.0
    return jac


def poisson_read_variance(params: np.ndarray, read_noise: float,
                          exposure: float = 1.0) -> np.ndarray:
    """Per-pixel variance of `fgs_widgets.engine.simulate.simulate_frames`' noise model.

    ``(max(model * exposure, 0) + read_noise²) / exposure²`` in the frames'
    units; shape (N, 8, 8).
    """
    model = gaussian2d(np.atleast_2d(params)) * exposure
    return (np.clip(model, 0, None) + read_noise**2) / exposure**2


def cramer_rao_bound(params: np.ndarray, variance: np.ndarray | None = None, *,
                     read_noise: float | None = None, exposure: float = 1.0) -> np.ndarray:
    """Smallest achievable 1-sigma error of each parameter for unbiased estimators.

    Parameters
    ----------
    params : ndarray, shape (N, 7) or (7,)
        True parameters.
    variance : ndarray, shape (N, 8, 8), optional
        True per-pixel noise variance.  Default: Poisson photon noise plus
        `read_noise` (`poisson_read_variance`).
    read_noise, exposure : float
        For the default variance (read noise in e-, frame time).

    Returns
    -------
    ndarray, shape (N, 7)
        sqrt(diag(F⁻¹)) with F = Jᵀ diag(1/variance) J and the analytic
        Jacobian J.  This is the exact Fisher information for Gaussian pixel
        noise of that variance, and for Poisson + read noise the standard
        approximation: it neglects the information in the variance's own
        dependence on the parameters and the non-Gaussian shape of the
        Poisson law, both relative O(1 / counts per pixel) — negligible for
        guide stars (10^3–10^5 e- at the peak).  Parameters the data do not
        constrain (theta of a round PSF) get inf.
    """
    params = np.atleast_2d(np.asarray(params, dtype=np.float64))
    n = len(params)
    if variance is None:
        if read_noise is None:
            raise ValueError("give the pixel variance, or read_noise for Poisson + read noise")
        variance = poisson_read_variance(params, read_noise, exposure)
    variance = np.asarray(variance, dtype=np.float64)
    if variance.size != n * 64:
        raise ValueError(f"variance must have shape ({n}, 8, 8) to match params, "
                         f"got {variance.shape}")
    jac = gaussian2d_jacobian(params)
    weights = 1.0 / variance.reshape(n, 64)
    fisher = np.einsum("npi,np,npj->nij", jac, weights, jac)
    # a parameter with no information (theta of a round PSF) has an infinite bound; the
    # others are bounded with it held fixed (as the fit reports them)
    diag = np.diagonal(fisher, axis1=1, axis2=2)
    blind = diag <= 1e-12 * diag.max(axis=1, keepdims=True)
    eye = np.eye(7, dtype=bool)
    fisher = np.where(blind[:, :, None] | blind[:, None, :], eye, fisher)
    bound = np.sqrt(np.diagonal(np.linalg.inv(fisher), axis1=1, axis2=2))
    return np.where(blind, np.inf, bound)
