"""Everything that touches files and services: FITS reading and stitching, the
bundled sample program, MAST query/download, Guide Star Catalog, engineering DB.

Names are imported lazily so that ``import fgs_widgets.archive`` stays cheap
(astroquery is slow to import) and each submodule can be used on its own.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fgs_widgets.archive' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return __all__
