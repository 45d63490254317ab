"""Program id to stitched data: query, download, read."""

from __future__ import annotations

import os
import threading

from ..data import GuideStarData
from .downloads import Progress, download
from .mast import find_products
from .reader import read_fine_guide
from .tokens import Token, resolve_token

__all__ = ["open_program"]


def open_program(program: int | str, *, observation: int | str | None = None,
                 visit: int | str | None = None, guider: int | str | None = None,
                 calib_level: int = 2, cache_dir: str | os.PathLike | None = None,
                 token: str | Token | None = None, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> GuideStarData:
    """Query MAST, download what is missing into the cache, read and stitch.

    A second call with the same arguments downloads nothing.  See
    `find_products`, `download` and `read_fine_guide` for the parameters and
    errors.
    """
    secret = resolve_token(token)
    products = find_products(program, observation=observation, visit=visit,
                             calib_level=calib_level, guider=guider, token=secret)
    result = download(products, cache_dir, token=secret, progress=progress, cancel=cancel)
    return read_fine_guide(result.paths)
