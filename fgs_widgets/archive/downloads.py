"""Download fine-guide files into a MAST-style cache, safely and resumably.

Files land in ``<cache>/mastDownload/JWST/<folder>/<file>``.  Each is streamed
to ``<file>.part`` in the same folder and renamed only when complete and of
the announced size; a later call resumes a ``.part`` with an HTTP Range
request (or restarts if the server ignores it).  A file already present with
the right size is not downloaded again.

astroquery's ``Observations.download_file`` is not used here: it offers no
per-chunk progress callback, no cancellation and no resume of an interrupted
file, which the widgets and large programs need.  The request is the same
MAST Download API it uses (``<server>/api/v0.1/Download/file?uri=...``).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import requests

from .config import conf
from .errors import ArchiveError, DownloadCancelled, PartialDownload, UnsafeFileName
from .http import check_response, session, unreachable
from .names import parse_file_name
from .tokens import Token, resolve_token

__all__ = ["DownloadResult", "download", "safe_name"]

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_BLOCK = 1 << 16  # a dropped connection loses at most one partly read block
Progress = Callable[[int, int, int, int], None]


def safe_name(name: str, what: str = "file name") -> str:
    """``name`` if it is a plain file/folder name; else UnsafeFileName (never a path)."""
    text = str(name)
    if not _SAFE.match(text) or ".." in text or len(text) > 255:
        raise UnsafeFileName(f"refusing server-supplied {what} {text!r}: it is not a plain name "
                             "(path separators, '..' or odd characters could write outside "
                             "the cache folder)")
    return text


def _folder_for(row: pd.Series) -> str:
    folder = row.get("folder")
    if isinstance(folder, str) and folder and folder != "None":
        return safe_name(folder, "folder name")
    parsed = parse_file_name(row["file_name"])  # no folder from the service: group by visit
    return f"jw{parsed.program:05d}{parsed.observation:03d}{parsed.visit:03d}" if parsed \
        else "other"


@dataclass
class DownloadResult:
    """Paths of the downloaded (or already present) files, in the order asked."""

    paths: list[Path] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


def download(products: pd.DataFrame, cache_dir: str | os.PathLike | None = None, *,
             token: str | Token | None = None, progress: Progress | None = None,
             cancel: threading.Event | None = None) -> DownloadResult:
    """Download the files of a `find_products` table.

    Parameters
    ----------
    products : DataFrame
        Needs ``file_name`` and ``uri``; ``size`` and ``folder`` are used when present.
    cache_dir : path, optional
        Default ``conf.cache_dir``.
    token : str, optional
        For proprietary files (else ``MAST_API_TOKEN``/keyring).
    progress : callable(bytes_done, bytes_total, files_done, files_total), optional
    cancel : threading.Event, optional
        Checked between blocks: the current ``.part`` is kept for resuming.

    Returns
    -------
    DownloadResult

    Raises
    ------
    UnsafeFileName
        Before anything is written, if any name could escape the cache folder.
    PartialDownload
        If some files failed: carries the good ``paths`` and the ``failed`` reasons.
    DownloadCancelled, MastUnreachable, AuthenticationError
    """
    root = Path(cache_dir) if cache_dir is not None else conf.cache_dir
    base = (root / "mastDownload" / "JWST").resolve()
    plan = []
    for _, row in products.iterrows():  # check every name before writing anything
        name = safe_name(row["file_name"])
        target = (base / _folder_for(row) / name).resolve()
        if base not in target.parents:
            raise UnsafeFileName(f"refusing {name!r}: it resolves outside {base}")
        plan.append((row, target))
    secret = resolve_token(token)
    http = session()
    total_bytes = int(sum(r.get("size", 0) or 0 for r, _ in plan if pd.notna(r.get("size"))))
    done_bytes = 0
    result = DownloadResult()
    failed: dict[str, str] = {}
    for index, (row, target) in enumerate(plan):
        expected = row.get("size")
        expected = int(expected) if expected is not None and pd.notna(expected) else None
        if target.exists() and (expected is None or target.stat().st_size == expected):
            result.paths.append(target)
            result.skipped.append(target.name)
            done_bytes += target.stat().st_size
            if progress:
                progress(done_bytes, total_bytes, index + 1, len(plan))
            continue
        try:
            def moved(n: int, index=index) -> None:
                nonlocal done_bytes
                done_bytes += n
                if progress:
                    progress(done_bytes, total_bytes, index, len(plan))

            _fetch(http, row["uri"], target, expected, secret, moved, cancel)
        except (DownloadCancelled, UnsafeFileName):
            raise
        except ArchiveError as exc:
            if "unreachable" in str(exc) and not result.paths:
                raise
            failed[target.name] = str(exc)
            continue
        result.paths.append(target)
        result.downloaded.append(target.name)
        if progress:
            progress(done_bytes, total_bytes, index + 1, len(plan))
    if failed:
        raise PartialDownload(result.paths, failed)
    return result


def _fetch(http: requests.Session, uri: str, target: Path, expected: int | None, secret: Token,
           moved: Callable[[int], None], cancel: threading.Event | None) -> None:
    url = f"{conf.mast_server}/api/v0.1/Download/file"
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    headers = dict(secret.header())
    if have:
        headers["Range"] = f"bytes={have}-"
    what = f"download of {target.name}"
    try:
        response = http.get(url, params={"uri": uri}, headers=headers, stream=True,
                            timeout=conf.timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise unreachable(f"MAST ({conf.mast_server}) for {what}", exc) from exc
    with response:
        if response.status_code == 416 and expected is not None and have == expected:
            pass  # the .part is already complete
        else:
            check_response(response, what)
            resumed = response.status_code == 206
            if not resumed:
                have = 0  # server sent the whole file: start over
            announced = _total_size(response, have)
            if expected is None:
                expected = announced
            elif announced is not None and announced != expected:
                raise ArchiveError(f"{what}: server announces {announced:,} bytes but the query "
                                   f"listed {expected:,}; not kept")
            mode = "ab" if resumed else "wb"
            try:
                with open(part, mode) as handle:
                    for block in response.iter_content(_BLOCK):
                        if cancel is not None and cancel.is_set():
                            raise DownloadCancelled(
                                f"{what} cancelled; {part.name} is kept and will resume")
                        handle.write(block)
                        moved(len(block))
            except requests.RequestException as exc:  # dropped connection, short read
                raise ArchiveError(f"{what} interrupted ({type(exc).__name__}); run again to "
                                   "resume") from exc
    size = part.stat().st_size
    if expected is not None and size != expected:
        if size > expected:
            part.unlink()
        raise ArchiveError(f"{what}: got {size:,} bytes, expected {expected:,}; "
                           + ("run again to resume" if size < expected else "discarded"))
    os.replace(part, target)


def _total_size(response: requests.Response, have: int) -> int | None:
    if response.status_code == 206:
        content_range = response.headers.get("Content-Range", "")
        if "/" in content_range and not content_range.endswith("*"):
            return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return None if length is None else int(length) + (have if response.status_code == 206 else 0)
