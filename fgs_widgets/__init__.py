"""fgs_widgets: explore JWST Fine Guidance Sensor guide-star data in Jupyter.

``import fgs_widgets as spelunker`` gives the reference tool's quickstart API
(`load`, with `download`, `gauss2d_fit`, ...); `Session` and `App` are the
interactive side; `fgs_widgets.archive` and `fgs_widgets.engine` hold the
readers and the numbers, `fgs_widgets.runtime` runs them (ray, threads, the warm-up,
the fit cache).  Imports are lazy so the package loads fast.

Imported in a Jupyter kernel, it also puts its failures in words under the failing cell,
where Voila, which hides tracebacks, still shows them (`fgs_widgets.notebook_errors`).
"""

from __future__ import annotations

from . import notebook_errors as _notebook_errors
from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "load": "fgs_widgets.spelunker",
    "Session": "fgs_widgets.model",
    "App": "fgs_widgets.widgets.app",
    "GuideStarData": "fgs_widgets.data",
    "Quality": "fgs_widgets.data",
    "read_fine_guide": "fgs_widgets.archive.reader",
    "sample_program": "fgs_widgets.archive.sample",
    "open_program": "fgs_widgets.archive.program",
    "fit_gaussians": "fgs_widgets.runtime.fit",
    "quick_fit": "fgs_widgets.engine.quickfit",
}
_SUBMODULES = {"archive", "engine", "runtime", "widgets", "spelunker", "model", "data", "cli",
               "survey"}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, frozenset(_SUBMODULES))
_notebook_errors.install()
