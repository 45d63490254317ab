"""Numbers only: fits, quick fits, the ray executor, periodograms, binning, events.

Nothing here imports ipywidgets or reads files; every function takes numpy
arrays or DataFrames and returns new objects.  Names are imported lazily so
that importing one piece does not pull in numba, ray or astropy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PARAMETERS": "psf",
    "gaussian2d": "psf",
    "fit_gaussians": "gaussian",
    "quick_fit": "quickfit",
    "ensure_ray": "executor",
    "periodograms": "periodogram",
    "bin_series": "binning",
    "decimate_for_display": "binning",
    "detect_jumps": "events",
    "detect_outliers": "events",
    "local_events": "events",
    "hga_moves": "events",
    "optimize_photometry": "photometry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fgs_widgets.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return __all__
