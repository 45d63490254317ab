"""Numbers only: the per-chunk fit, quick fits, periodograms, binning, events.

Nothing here imports ipywidgets, reads files, starts threads or ray, or imports
`fgs_widgets.runtime` (which runs these numbers: the fit driver `fit_gaussians`, ray,
the warm-up, the fit cache); every function takes numpy arrays or DataFrames and
returns new objects.  Names are imported lazily so that importing one piece does not
pull in numba or astropy.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "PARAMETERS": "psf",
    "gaussian2d": "psf",
    "fit_chunk": "gaussian",
    "quick_fit": "quickfit",
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
