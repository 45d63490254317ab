"""The rotated 2D Gaussian used by every fit, simulation and overlay.

Conventions (the seed's): ``x`` is the column index, ``y`` the row index,
pixel centres at 0..7, ``theta`` in radians, counter-clockwise from +x::

    a = cos²θ/(2σx²) + sin²θ/(2σy²)
    b = sin2θ/(4σx²) − sin2θ/(4σy²)
    c = sin²θ/(2σx²) + cos²θ/(2σy²)
    f(x, y) = A·exp(−(a(x−x0)² + 2b(x−x0)(y−y0) + c(y−y0)²)) + offset

(This is astropy's ``Gaussian2D``; the quickstart's printed ``b`` has a sign
typo, the code it documents uses the form above.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["ERR_COLUMNS", "PARAMETERS", "gaussian2d", "pixel_grid"]

#: the fitted parameters, in the order used by every array of parameters
PARAMETERS = ("amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset")
#: the fit table's 1-sigma uncertainty of each parameter, in `PARAMETERS` order
ERR_COLUMNS = tuple(f"{p}_err" for p in PARAMETERS)


def pixel_grid(shape: tuple[int, int] = (8, 8)) -> tuple[np.ndarray, np.ndarray]:
    """Column (x) and row (y) coordinates of every pixel centre, each of `shape`."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    return x.astype(np.float64), y.astype(np.float64)


def gaussian2d(params: np.ndarray, shape: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Evaluate rotated Gaussians on the pixel grid.

    Parameters
    ----------
    params : array_like, shape (..., 7)
        Parameters in `PARAMETERS` order.
    shape : tuple of int
        Frame shape (rows, columns).

    Returns
    -------
    ndarray, shape (..., rows, columns)
    """
    p = np.asarray(params, dtype=np.float64)
    amp, x0, y0, sx, sy, theta, offset = (p[..., i, None, None] for i in range(7))
    x, y = pixel_grid(shape)
    cos2, sin2, sin2t = np.cos(theta) ** 2, np.sin(theta) ** 2, np.sin(2 * theta)
    a = cos2 / (2 * sx**2) + sin2 / (2 * sy**2)
    b = sin2t / (4 * sx**2) - sin2t / (4 * sy**2)
    c = sin2 / (2 * sx**2) + cos2 / (2 * sy**2)
    dx, dy = x - x0, y - y0
    return amp * np.exp(-(a * dx**2 + 2 * b * dx * dy + c * dy**2)) + offset
