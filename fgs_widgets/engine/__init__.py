"""Numbers only: fits, quick fits, the ray executor, periodograms, binning, events.

Nothing here imports ipywidgets or reads files; every function takes numpy
arrays or DataFrames and returns new objects.  Names are imported lazily so
that importing one piece does not pull in numba, ray or astropy.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "PARAMETERS": "psf",
    "gaussian2d": "psf",
    "fit_gaussians": "gaussian",
    "quick_fit": "quickfit",
    "ensure_ray": "executor",
    "periodograms": "periodogram",
    "fold": "periodogram",
    "bin_series": "binning",
    "break_gaps": "binning",
    "decimate_for_display": "binning",
    "detect_jumps": "events",
    "detect_outliers": "events",
    "local_events": "events",
    "hga_moves": "events",
    "optimize_photometry": "photometry",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
