"""Where and how the numbers run: ray, threads, the warm-up compile, the fit cache.

`fgs_widgets.engine` computes (arrays in, new objects out); this package runs it:
`fit_gaussians` splits the frames into chunks and fits them in this process or on a
ray cluster (`executor`), keeps finished chunks on disk (`fit_cache`), and `warmup`
compiles the kernels in a background thread before the first fit needs them.  The
runtime imports the engine, never the reverse.  Names are imported lazily so that
importing one piece does not pull in numba or ray.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "fit_gaussians": "fit",
    "ensure_ray": "executor",
    "run_bounded": "executor",
    "use_threads": "executor",
    "FitCache": "fit_cache",
    "start_warmup": "warmup",
    "wait_for_warmup": "warmup",
    "warm_installation": "warmup",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
