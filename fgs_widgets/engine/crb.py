"""Cramér–Rao bound of the Gaussian-fit parameters for given true frames and noise."""

from __future__ import annotations

import numpy as np

from .psf import gaussian2d

__all__ = ["cramer_rao_bound"]


def cramer_rao_bound(params: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """Smallest achievable 1-sigma error of each parameter of unbiased estimators.

    Parameters
    ----------
    params : ndarray, shape (N, 7)
        True parameters.
    variance : ndarray, shape (N, 8, 8)
        True per-pixel noise variance (e.g. model counts + read noise²).

    Returns
    -------
    ndarray, shape (N, 7)
        sqrt(diag(F⁻¹)) with the Fisher matrix F = Jᵀ diag(1/variance) J for
        Gaussian pixel noise of the given variance (the variance's own
        dependence on the parameters is neglected, standard for
        photon-rich frames).  The Jacobian is taken by central differences.
    """
    params = np.atleast_2d(np.asarray(params, dtype=np.float64))
    n = len(params)
    jac = np.empty((n, 64, 7))
    for i in range(7):
        step = np.maximum(np.abs(params[:, i]) * 1e-6, 1e-7)
        up, down = params.copy(), params.copy()
        up[:, i] += step
        down[:, i] -= step
        jac[:, :, i] = ((gaussian2d(up) - gaussian2d(down)).reshape(n, 64)
                        / (2 * step[:, None]))
    weights = 1.0 / np.asarray(variance, dtype=np.float64).reshape(n, 64)
    fisher = np.einsum("npi,np,npj->nij", jac, weights, jac)
    return np.sqrt(np.diagonal(np.linalg.inv(fisher), axis1=1, axis2=2))
