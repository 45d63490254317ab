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

    A second call with the same arguments downloads nothing (files already
    complete in the cache are kept).

    Parameters
    ----------
    program : int or str
        Program id, e.g. ``1534``.
    observation, visit, guider, calib_level
        Filters, as in `find_products`.
    cache_dir : path, optional
        Download cache (default ``conf.cache_dir``).
    token : str or Token, optional
        MAST token for proprietary data (else ``MAST_API_TOKEN`` / astroquery's keyring);
        used for this call only.
    progress : callable(bytes_done, bytes_total, files_done, files_total), optional
    cancel : threading.Event, optional
        Stops the download between blocks (see `download`).

    Returns
    -------
    GuideStarData

    Raises
    ------
    MastUnreachable, AuthenticationError, NoFineGuideData
        From the query.
    PartialDownload, DownloadCancelled
        From the download; both carry ``paths`` of the complete files, which
        ``read_fine_guide(error.paths)`` reads.
    """
    # looked up once (the keyring is asked at most once); rebound so no frame keeps the string
    secret = token = resolve_token(token)
    products = find_products(program, observation=observation, visit=visit,
                             calib_level=calib_level, guider=guider, token=secret)
    result = download(products, cache_dir, token=secret, progress=progress, cancel=cancel)
    return read_fine_guide(result.paths)
