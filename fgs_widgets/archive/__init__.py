"""Everything that touches files and services: FITS reading and stitching, the
bundled sample program, MAST query/download, Guide Star Catalog, engineering DB.

Names are imported lazily so that ``import fgs_widgets.archive`` stays cheap
(astroquery is slow to import) and each submodule can be used on its own.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "read_fine_guide": "reader",
    "ReadError": "reader",
    "sample_program": "sample",
    "write_sample_program": "sample",
    "SampleProgram": "sample",
    "find_products": "mast",
    "download": "downloads",
    "open_program": "program",
    "guide_star_properties": "catalog",
    "get_mnemonic": "engdb",
    "conf": "config",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
