"""Download fine-guide files into a MAST-style cache, safely and resumably.

Files land in ``<cache>/mastDownload/JWST/<folder>/<file>`` (the layout
astroquery's ``Observations.download_products`` uses).  Each is streamed to
``<file>.part`` in the same folder and renamed only when complete and of the
announced size; a later call resumes a ``.part`` with an HTTP Range request
(or restarts if the server ignores it).  A file already present with the
listed size is not downloaded again.

astroquery's ``Observations.download_file`` is not used here: it offers no
per-chunk progress callback, no cancellation, writes straight to the final
name, and cannot resume an interrupted file -- all of which the widgets and
multi-GB programs need.  The request is the same MAST Download API it uses
(``<server>/api/v0.1/Download/file?uri=<dataURI>``) on the configured server.

(The module is ``downloads`` rather than ``download`` so that the function
``fgs_widgets.archive.download`` is not shadowed by a submodule of that name.)
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import requests

from .config import conf
from .errors import (
    ArchiveError,
    AuthenticationError,
    DownloadCancelled,
    MastUnreachable,
    PartialDownload,
    UnsafeFileName,
)
from .http import check_response, session, unreachable
from .names import parse_file_name
from .tokens import Token, resolve_token

__all__ = ["DownloadResult", "Progress", "download", "safe_name"]

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_BLOCK = 1 << 16  # a cancel or dropped connection loses at most one partly read block
#: progress(bytes_done, bytes_total, files_done, files_total)
Progress = Callable[[int, int, int, int], None]


def safe_name(name: object, what: str = "file name") -> str:
    """``name`` if it is a plain file/folder name, else `UnsafeFileName`.

    Only letters, digits, ``.``, ``_`` and ``-`` are accepted, no ``..``, no
    leading dot: no path separator (either kind), drive, absolute path or
    hidden file can come through.
    """
    text = str(name)
    if not _SAFE.match(text) or ".." in text or len(text) > 255:
        raise UnsafeFileName(f"refusing server-supplied {what} {text!r}: it is not a plain name "
                             "(path separators, '..' or odd characters could write outside "
                             "the cache folder); nothing was written — report it to the archive")
    return text


def _folder_for(row: pd.Series) -> str:
    folder = row.get("folder")
    if isinstance(folder, str) and folder and folder != "None":
        return safe_name(folder, "folder name")
    # no folder from the service: group by visit, which keeps names unique per program
    parsed = parse_file_name(str(row["file_name"]))
    if parsed is None:
        return "other"
    return f"jw{parsed.program:05d}{parsed.observation:03d}{parsed.visit:03d}"


def _size(value: object) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(value)


@dataclass
class DownloadResult:
    """Files of a `download` call, in the order asked.

    Attributes
    ----------
    paths : list of Path
        Every file now complete in the cache (downloaded or already there).
    downloaded, skipped : list of str
        Names fetched in this call / found complete and not fetched.
    failed : dict
        Always empty on return (failures raise `PartialDownload`); kept for symmetry.
    """

    paths: list[Path] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Path]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


class _Counter:
    """Bytes and files done, reported through the user's progress callback."""

    def __init__(self, progress: Progress | None, total: int, files: int):
        self.progress, self.total, self.files = progress, total, files
        self.done = self.files_done = 0

    def add(self, n: int) -> None:
        self.done += n
        self.report()

    def grow(self, n: int) -> None:  # a file whose size the query did not give
        self.total += n

    def file_done(self) -> None:
        self.files_done += 1
        self.report()

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done), self.files_done, self.files)


def download(products: pd.DataFrame, cache_dir: str | os.PathLike | None = None, *,
             token: str | Token | None = None, progress: Progress | None = None,
             cancel: threading.Event | None = None) -> DownloadResult:
    """Download the files of a `find_products` table into the cache.

    Parameters
    ----------
    products : DataFrame
        Needs ``file_name`` and ``uri``; ``size`` (bytes) and ``folder`` are used
        when present.
    cache_dir : path, optional
        Default ``conf.cache_dir``; files go to ``mastDownload/JWST/<folder>/``.
    token : str or Token, optional
        For proprietary files (else ``MAST_API_TOKEN`` / astroquery's keyring).
    progress : callable(bytes_done, bytes_total, files_done, files_total), optional
        Called after every block and every file.
    cancel : threading.Event, optional
        Checked between blocks and between files; the current ``.part`` is kept
        for resuming, nothing incomplete ever has the final name.

    Returns
    -------
    DownloadResult

    Raises
    ------
    UnsafeFileName
        Before anything is written, if any name could escape the cache folder.
    PartialDownload
        Some files failed: carries the good ``paths`` and the ``failed`` reasons.
    DownloadCancelled
        ``cancel`` was set; carries the ``paths`` complete so far.
    AuthenticationError, MastUnreachable
        When no file could be fetched for that reason (later files are not tried).
    """
    for column in ("file_name", "uri"):
        if column not in products.columns:
            raise ValueError(f"products has no {column!r} column; pass a find_products() table")
    root = Path(cache_dir) if cache_dir is not None else conf.cache_dir
    base = (root / "mastDownload" / "JWST").resolve()
    plan: list[tuple[pd.Series, Path]] = []
    for _, row in products.iterrows():  # check every name before writing anything
        name = safe_name(row["file_name"])
        target = (base / _folder_for(row) / name).resolve()
        if target.parent.parent != base:  # e.g. a symlinked folder pointing elsewhere
            raise UnsafeFileName(f"refusing {name!r}: it resolves to {target}, outside {base}")
        plan.append((row, target))
    secret = resolve_token(token)
    http = session()
    known = [_size(row.get("size")) for row, _ in plan]
    counter = _Counter(progress, sum(s for s in known if s is not None), len(plan))
    result = DownloadResult()
    failed: dict[str, str] = {}
    fatal: ArchiveError | None = None
    for (row, target), expected in zip(plan, known, strict=True):
        if cancel is not None and cancel.is_set():
            raise DownloadCancelled(f"download cancelled before {target.name}; "
                                    f"{len(result.paths)} complete file(s) kept", result.paths)
        if target.is_file() and (expected is None or target.stat().st_size == expected):
            # complete: only a finished, size-checked download ever gets the final name
            result.paths.append(target)
            result.skipped.append(target.name)
            counter.grow(0 if expected is not None else target.stat().st_size)
            counter.add(target.stat().st_size)
            counter.file_done()
            continue
        if fatal is not None:  # no point asking again: same token, same server
            failed[target.name] = f"not tried ({type(fatal).__name__})"
            continue
        try:
            _fetch(http, str(row["uri"]), target, expected, secret, counter, cancel,
                   result.paths)
        except (AuthenticationError, MastUnreachable) as exc:
            fatal = exc
            failed[target.name] = str(exc)
            continue
        except (DownloadCancelled, UnsafeFileName):
            raise
        except ArchiveError as exc:
            failed[target.name] = str(exc)
            continue
        result.paths.append(target)
        result.downloaded.append(target.name)
        counter.file_done()
    if fatal is not None and not result.paths:
        raise fatal  # nothing worked: the plain reason is the clearest message
    if failed:
        raise PartialDownload(result.paths, failed) from fatal
    return result


def _fetch(http: requests.Session, uri: str, target: Path, expected: int | None, secret: Token,
           counter: _Counter, cancel: threading.Event | None, done: list[Path]) -> None:
    """Stream ``uri`` to ``target.part``, then rename it to ``target`` once complete."""
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if expected is not None and have > expected:
        part.unlink()  # longer than the file can be: start over
        have = 0
    if have and expected is not None and have == expected:
        os.replace(part, target)  # the previous run finished the bytes but not the rename
        counter.add(have)
        return
    what = f"download of {target.name}"
    response = _get(http, uri, secret, have, what)
    with response:
        odd_range = response.status_code == 206 and _range_start(response) != have
        if have and (response.status_code == 416 or odd_range):
            # our .part does not fit the file on the server (or the server answered another
            # range): drop it and ask for the whole file once
            part.unlink(missing_ok=True)
            response.close()
            return _fetch(http, uri, target, expected, secret, counter, cancel, done)
        check_response(response, what)
        if odd_range:
            raise ArchiveError(f"{what}: the server sent a byte range nobody asked for "
                               f"({response.headers.get('Content-Range')}); try again later")
        resumed = response.status_code == 206
        if not resumed:
            have = 0  # the server ignored the Range header and sends the whole file
        announced = _total_size(response, have)
        if expected is None:
            expected = announced
            counter.grow(announced or 0)
        elif announced is not None and announced != expected:
            raise ArchiveError(f"{what}: server announces {announced:,} bytes but the query "
                               f"listed {expected:,}; not kept — the archive may have "
                               "reprocessed it: query again")
        counter.add(have)
        try:
            with open(part, "ab" if resumed else "wb") as handle:
                for block in response.iter_content(_BLOCK):
                    if cancel is not None and cancel.is_set():
                        raise DownloadCancelled(
                            f"{what} cancelled; {part.name} is kept and the next download "
                            "resumes it", done)
                    handle.write(block)
                    counter.add(len(block))
        except requests.RequestException as exc:  # dropped connection, short read, timeout
            raise ArchiveError(f"{what} interrupted ({type(exc).__name__}); run again to "
                               "resume") from exc
    size = part.stat().st_size
    if expected is not None and size != expected:
        if size > expected:
            part.unlink()
        raise ArchiveError(f"{what}: got {size:,} bytes, expected {expected:,}; "
                           + ("run again to resume" if size < expected else "discarded"))
    os.replace(part, target)  # atomic: the final name only ever holds a complete file
    return None


def _get(http: requests.Session, uri: str, secret: Token, have: int,
         what: str) -> requests.Response:
    headers = dict(secret.header())
    if have:
        headers["Range"] = f"bytes={have}-"
    url = f"{conf.mast_server}/api/v0.1/Download/file"
    try:
        return http.get(url, params={"uri": uri}, headers=headers, stream=True,
                        timeout=conf.timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise unreachable(f"MAST ({conf.mast_server}) for the {what}", exc) from exc


def _range_start(response: requests.Response) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _total_size(response: requests.Response, have: int) -> int | None:
    """Full size of the file from Content-Range, or Content-Length (+ bytes already held)."""
    if response.status_code == 206:
        content_range = response.headers.get("Content-Range", "")
        if "/" in content_range and not content_range.endswith("*"):
            return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    if length is None or not length.isdigit():
        return None
    return int(length) + have
