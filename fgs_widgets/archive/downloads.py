"""Download fine-guide files into a MAST-style cache, safely and resumably.

Files land in ``<cache>/mastDownload/JWST/<folder>/<file>`` (the layout
astroquery's ``Observations.download_products`` uses).  Each is streamed to
``<file>.part`` in the same folder and renamed only when complete, of the
announced size and a FITS file (signature ``SIMPLE  =  T``, whole 2880-byte
records); a later call resumes a ``.part`` with an HTTP Range request (or
restarts if the server ignores it, or if the ``.part`` is not the start of a
FITS file).  A file already present is checked the same way: a good one is
not downloaded again, a bad one is discarded and fetched again.

Every download ends: cancel is seen within `_POLL` seconds whatever the
server does (the request and the body are each run in a helper thread), a
transfer slower than ``conf.min_download_rate`` over ``conf.rate_window``
seconds, or one still running at ``conf.download_deadline``, stops with
`DownloadStalled`.  The deadline counts from the start of the call, so it
covers connecting and the answer's status line and headers too: a server that
drips its headers a byte at a time never trips the per-read socket timeout.
What was received is kept as ``.part`` for resuming; each message says whether
there is one or the next call starts over.

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
import queue
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import requests
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .config import conf
from .errors import (
    ArchiveError,
    AuthenticationError,
    DownloadCancelled,
    DownloadStalled,
    MastUnreachable,
    NotFitsFile,
    PartialDownload,
    UnsafeFileName,
)
from .http import check_response, send, session
from .names import parse_file_name
from .tokens import Token, resolve_token

__all__ = ["DownloadResult", "Progress", "download", "fits_problem", "safe_name"]

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # fullmatch: "$" would let a newline end it
_BLOCK = 1 << 16
_POLL = 0.2  # s between checks of cancel, deadline and rate, whatever the server does
_RECORD = 2880  # FITS files are whole 2880-byte records
_CARD = 80
#: answers that are never the FITS file: error pages and service messages
_ERROR_TYPES = ("text/html", "application/json", "application/xhtml+xml")
#: progress(bytes_done, bytes_total, files_done, files_total)
Progress = Callable[[int, int, int, int], None]


def safe_name(name: object, what: str = "file name") -> str:
    """``name`` if it is a plain file/folder name, else `UnsafeFileName`.

    Only letters, digits, ``.``, ``_`` and ``-`` are accepted, no ``..``, no
    leading dot: no path separator (either kind), drive, absolute path or
    hidden file can come through.
    """
    text = str(name)
    if not _SAFE.fullmatch(text) or ".." in text or len(text) > 255:
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


def fits_problem(head: bytes, size: int | None = None) -> str | None:
    """Why these bytes cannot be the start (and `size` the length) of a FITS file, or None.

    Parameters
    ----------
    head : bytes
        The first bytes of the file (at least the first 80-byte card).
    size : int, optional
        The file's length: a FITS file is a whole number of 2880-byte records.
    """
    card = head[:_CARD]
    if len(card) < 30 or not card.startswith(b"SIMPLE  =") or card[10:30].strip() != b"T":
        return "it does not start with the FITS signature (SIMPLE = T)"
    if size is not None and size % _RECORD:
        return f"{size:,} bytes is not a whole number of 2880-byte FITS records"
    return None


def _file_problem(path: Path, expected: int | None) -> str | None:
    """Why the file at `path` is not a complete copy of the product, or None."""
    size = path.stat().st_size
    if expected is not None and size != expected:
        return f"{size:,} bytes on disk, the archive lists {expected:,}"
    with open(path, "rb") as handle:
        return fits_problem(handle.read(_CARD), size)


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
    replaced : dict
        name -> why the copy already in the cache was discarded and fetched again
        (wrong size, not a FITS file).
    failed : dict
        Always empty on return (failures raise `PartialDownload`); kept for symmetry.
    """

    paths: list[Path] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    replaced: dict[str, str] = field(default_factory=dict)
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


#: failures every later file would meet too (same token, same server): those are not tried
_FATAL = (AuthenticationError, MastUnreachable, DownloadStalled)


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
        Seen within 0.2 s, also while the server sends nothing or is still
        sending its headers; what the current file received is kept as ``.part``
        for resuming (the message says whether there is one), nothing incomplete
        ever has the final name.

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
    AuthenticationError, MastUnreachable, DownloadStalled
        When no file could be fetched for that reason (later files are not tried).

    Notes
    -----
    A file gets its final name only when it has the listed (or announced) size
    and starts with the FITS signature in whole 2880-byte records: an HTML error
    page answered with HTTP 200 is never kept. ``conf.min_download_rate``,
    ``conf.rate_window`` and ``conf.download_deadline`` bound the time a slow
    server can take, from the first byte of each request: the deadline covers
    connecting and the answer's headers, and a request whose headers have not
    all arrived after the larger of ``conf.timeout`` and ``conf.rate_window``
    counts as stalled.
    """
    plan = _plan(products, cache_dir)
    # rebound: no frame keeps the plain string (tracebacks printed with locals show frames)
    secret = token = resolve_token(token)
    return _fetch_all(plan, _watchable(session()), secret, progress, cancel)


def _fetch_all(plan: list[tuple[pd.Series, Path]], http: requests.Session, secret: Token,
               progress: Progress | None, cancel: threading.Event | None) -> DownloadResult:
    """`download` once the plan is checked: each file in turn, then the outcome."""
    known = [_size(row.get("size")) for row, _ in plan]
    counter = _Counter(progress, sum(s for s in known if s is not None), len(plan))
    result = DownloadResult()
    failed: dict[str, str] = {}
    errors: dict[str, ArchiveError] = {}
    fatal: ArchiveError | None = None
    stop_at = (time.monotonic() + conf.download_deadline if conf.download_deadline > 0
               else None)
    for (row, target), expected in zip(plan, known, strict=True):
        if cancel is not None and cancel.is_set():
            raise DownloadCancelled(f"download cancelled before {target.name}; "
                                    f"{len(result.paths)} complete file(s) kept", result.paths)
        if _reuse_cached(target, expected, result, counter):
            continue
        if fatal is not None:  # no point asking again: same token, same server
            failed[target.name] = f"not tried ({type(fatal).__name__})"
            continue
        try:
            _fetch(http, str(row["uri"]), target, expected, secret, counter, cancel,
                   result.paths, stop_at)
        except (DownloadCancelled, UnsafeFileName):
            raise
        except ArchiveError as exc:
            errors[target.name] = exc
            failed[target.name] = str(exc)
            if isinstance(exc, _FATAL):
                fatal = exc
            continue
        result.paths.append(target)
        result.downloaded.append(target.name)
        counter.file_done()
    if fatal is not None and not result.paths:
        raise fatal  # nothing worked: the plain reason is the clearest message
    if failed:
        raise PartialDownload(result.paths, failed, errors) from fatal
    return result


def _plan(products: pd.DataFrame,
          cache_dir: str | os.PathLike | None) -> list[tuple[pd.Series, Path]]:
    """Each row with its target path, every name checked before anything is written."""
    for column in ("file_name", "uri"):
        if column not in products.columns:
            raise ValueError(f"products has no {column!r} column; pass a find_products() table")
    root = Path(cache_dir) if cache_dir is not None else conf.cache_dir
    base = (root / "mastDownload" / "JWST").resolve()
    plan: list[tuple[pd.Series, Path]] = []
    for _, row in products.iterrows():
        name = safe_name(row["file_name"])
        target = (base / _folder_for(row) / name).resolve()
        if target.parent.parent != base:  # e.g. a symlinked folder pointing elsewhere
            raise UnsafeFileName(f"refusing {name!r}: it resolves to {target}, outside {base}")
        plan.append((row, target))
    return plan


def _reuse_cached(target: Path, expected: int | None, result: DownloadResult,
                  counter: _Counter) -> bool:
    """Whether ``target`` is already a good download (then counted as skipped).

    A cached file that fails the checks is deleted and noted in ``result.replaced``.
    """
    if not target.is_file():
        return False
    why = _file_problem(target, expected)
    if why is None:  # only a finished, checked download ever gets the final name
        result.paths.append(target)
        result.skipped.append(target.name)
        counter.grow(0 if expected is not None else target.stat().st_size)
        counter.add(target.stat().st_size)
        counter.file_done()
        return True
    target.unlink()  # never trusted again: fetched anew
    result.replaced[target.name] = f"the cached copy was discarded: {why}"
    return False


def _usable_part(part: Path, expected: int | None) -> int:
    """Bytes of ``part`` worth resuming (0 after dropping one that cannot be the file's start)."""
    if not part.exists():
        return 0
    have = part.stat().st_size
    if have == 0 or (expected is not None and have > expected):
        part.unlink()  # longer than the file can be: start over
        return 0
    with open(part, "rb") as handle:
        head = handle.read(_CARD)
    if len(head) == _CARD and fits_problem(head) is None:
        return have
    part.unlink()  # junk (an error page saved by an older version, another file): start over
    return 0


def _fetch(http: requests.Session, uri: str, target: Path, expected: int | None, secret: Token,
           counter: _Counter, cancel: threading.Event | None, done: list[Path],
           stop_at: float | None) -> None:
    """Stream ``uri`` to ``target.part``, then rename it to ``target`` once complete."""
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    what = f"download of {target.name}"
    have = _usable_part(part, expected)
    if have and have == expected:  # the previous run finished the bytes but not the rename
        counter.add(have)
    else:
        for _attempt in range(2):
            response = _answer(http, uri, secret, have, what, part, cancel, done, stop_at)
            with response:
                odd_range = response.status_code == 206 and _range_start(response) != have
                if have and (response.status_code == 416 or odd_range):
                    # our .part does not fit the file on the server (or the server answered
                    # another range): drop it and ask for the whole file once
                    part.unlink(missing_ok=True)
                    have = 0
                    continue
                check_response(response, what)
                if odd_range:
                    raise ArchiveError(f"{what}: the server sent a byte range nobody asked for "
                                       f"({response.headers.get('Content-Range')}); try again "
                                       "later")
                expected = _receive(response, part, have, expected, counter, cancel, done,
                                    stop_at, what)
            break
    size = part.stat().st_size if part.exists() else 0
    if expected is not None and size != expected:
        if size > expected:
            part.unlink()  # longer than the file: no use resuming it
        raise ArchiveError(f"{what}: got {size:,} bytes, expected {expected:,}; {_left(part)}")
    with open(part, "rb") as handle:
        why = fits_problem(handle.read(_CARD), size)
    if why is not None:
        part.unlink()
        raise NotFitsFile(f"{what}: the file received is not a FITS file ({why}); "
                          f"{_left(part)} — try again later, or report it to the archive if "
                          "it persists")
    # not atomic_write: the .part outlives a failed call, so that the next one resumes it
    os.replace(part, target)  # atomic: the final name only ever holds a complete file


def _receive(response: requests.Response, part: Path, have: int, expected: int | None,
             counter: _Counter, cancel: threading.Event | None, done: list[Path],
             stop_at: float | None, what: str) -> int | None:
    """Write the body to ``part`` (appending when resumed); return the file's full size."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type in _ERROR_TYPES:
        raise NotFitsFile(f"{what}: the server answered a {content_type} page instead of the "
                          f"FITS file; it was not written, {_left(part)} — the archive may be "
                          "failing or the file withdrawn: try again later, or query the "
                          "program again")
    resumed = response.status_code == 206
    if not resumed:
        have = 0  # the server ignored the Range header and sends the whole file
    announced = _total_size(response, have)
    if expected is None:
        expected = announced
        counter.grow(announced or 0)
    elif announced is not None and announced != expected:
        # the file changed since the query: a .part from before may be of either version
        part.unlink(missing_ok=True)
        raise ArchiveError(f"{what}: server announces {announced:,} bytes but the query "
                           f"listed {expected:,}; {_left(part)} — the archive may have "
                           "reprocessed it: query again")
    counter.add(have)
    # a fresh file is written only once its first card shows it is FITS, so an error page
    # never replaces a good .part and never reaches the disk
    head: bytes | None = None if resumed else b""
    rate = _Rate(conf.min_download_rate, conf.rate_window)
    reader = _Reader(response)
    handle = None

    try:
        while True:
            now = time.monotonic()
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled(f"{what} cancelled; {_left(part, handle)}", done)
            if stop_at is not None and now > stop_at:
                raise DownloadStalled(
                    f"{what}: conf.download_deadline ({conf.download_deadline:g} s) passed; "
                    f"{_left(part, handle)} — raise conf.download_deadline (env "
                    "FGS_DOWNLOAD_DEADLINE) for a slow link")
            slow = rate.too_slow(now)
            if slow is not None:
                raise DownloadStalled(
                    f"{what}: {slow:,.0f} bytes/s over the last {conf.rate_window:g} s, below "
                    f"conf.min_download_rate ({conf.min_download_rate:g} bytes/s); "
                    f"{_left(part, handle)} — try again later, or lower "
                    "conf.min_download_rate (env FGS_MIN_DOWNLOAD_RATE) on a slow link")
            block = reader.next(_POLL)
            if block is _Reader.WAITING:
                continue
            if isinstance(block, _Failure):
                raise ArchiveError(f"{what} interrupted ({block.kind}); {_left(part, handle)}")
            if block is None:  # end of the body
                break
            rate.add(len(block))
            if head is not None:
                head += block
                if len(head) < _CARD:
                    continue
                why = fits_problem(head)
                if why is not None:
                    raise NotFitsFile(
                        f"{what}: the server sent {content_type or 'content'} that is not a "
                        f"FITS file ({why}); it was not written, {_left(part)} — try again "
                        "later, or report it to the archive if it persists")
                block, head = head, None
            if handle is None:
                handle = open(part, "ab" if resumed else "wb")  # closed in finally
            handle.write(block)
            counter.add(len(block))
    finally:
        reader.close()
        if handle is not None:
            handle.close()
    if head is not None:
        raise NotFitsFile(f"{what}: the server sent {len(head)} bytes, not a FITS file; "
                          f"they were not written, {_left(part)} — try again later")
    return expected


def _left(part: Path, handle=None) -> str:
    """What a stopped or failed file leaves on disk, said as it is.

    Only bytes checked to start a FITS file are ever written to ``part``, so a
    ``.part`` with bytes is what the next call resumes; without one it starts over.
    ``handle``, the file being written, is flushed first: the message counts the
    bytes on disk.
    """
    if handle is not None:
        handle.flush()
    size = part.stat().st_size if part.exists() else 0
    if size:
        return f"{part.name} ({size:,} bytes) is kept and the next download resumes it"
    return "nothing was kept and the next download starts over"


class _Failure:
    """A read error seen by the reader thread: only its kind travels (no frames, no headers)."""

    def __init__(self, exc: BaseException):
        self.kind = type(exc).__name__


class _Reader:
    """Reads a streamed response in a daemon thread so the caller stays in control.

    urllib3 blocks in ``recv`` for up to ``conf.timeout`` on a stalled server, and
    ``read(n)`` waits for all n bytes from one that trickles; the caller polls this
    instead and can stop at once. ``close`` shuts the socket down, which ends a
    blocked read immediately.
    """

    WAITING = object()

    def __init__(self, response: requests.Response):
        self._response = response
        self._queue: queue.Queue = queue.Queue(maxsize=64)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="fgs_widgets-download")
        self._thread.start()

    def _run(self) -> None:
        raw = self._response.raw
        try:
            while not self._stop.is_set():
                block = raw.read1(_BLOCK, decode_content=True)  # one recv: returns early
                self._put(block or None)
                if not block:
                    return
        except Exception as exc:  # any read error: handed over as a kind, raised by the caller
            self._put(_Failure(exc))

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def next(self, timeout: float) -> object:
        """The next block, None at the end, a `_Failure`, or `WAITING` after `timeout` s."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return self.WAITING

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            try:
                self._response.raw.shutdown()  # unblocks a read waiting on the socket
            except Exception:  # already released or closed: nothing to unblock
                pass
        self._response.close()
        self._thread.join(timeout=1.0)


class _Rate:
    """Bytes received over a sliding window, for the minimum-rate rule."""

    def __init__(self, minimum: float, window: float):
        self.minimum, self.window = minimum, window
        self.start = time.monotonic()
        self.total = 0
        self.samples: deque[tuple[float, int]] = deque([(self.start, 0)])

    def add(self, n: int) -> None:
        self.total += n
        self.samples.append((time.monotonic(), self.total))

    def too_slow(self, now: float) -> float | None:
        """The rate (bytes/s) if it is below the minimum over a full window, else None."""
        if self.minimum <= 0 or now - self.start < self.window:
            return None
        while len(self.samples) > 1 and self.samples[1][0] <= now - self.window:
            self.samples.popleft()
        t0, b0 = self.samples[0]
        rate = (self.total - b0) / max(now - t0, 1e-9)
        return rate if rate < self.minimum else None


class _Aborted(Exception):
    """The request was given up (deadline, stall, cancel): no new connection is made for it.

    Not an `OSError`, so that neither urllib3 nor requests takes it for a network
    error to retry or wrap; it ends the request's helper thread.
    """


#: the `_Watch` of the request running in this thread (set by `_answer`'s helper thread)
_CURRENT = threading.local()


class _Watch:
    """The connection one request uses, so that another thread can cut it.

    urllib3's timeouts are per socket operation: a server that sends its status
    line and headers a byte at a time never trips them, and the request blocks
    in ``recv`` until the last header line.  Shutting the socket down ends that
    ``recv`` at once; `aborted` then stops urllib3 from retrying on a new one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn = None
        self.aborted = False
        self.attempt_started = time.monotonic()
        self.response: requests.Response | None = None
        self.error: Exception | None = None

    def deliver(self, response: requests.Response) -> None:
        """Hand over the answer; one that arrives after `abort` is closed, not kept."""
        with self._lock:
            if not self.aborted:
                self.response = response
                return
        response.close()

    def attach(self, conn) -> None:
        """Called by the pool for each attempt (first and retries) with its connection."""
        with self._lock:
            if self.aborted:
                conn.close()
                raise _Aborted
            self._conn = conn
            self.attempt_started = time.monotonic()

    def abort(self) -> None:
        """Refuse further attempts and cut the current connection's socket."""
        with self._lock:
            self.aborted = True
            conn = self._conn
            late, self.response = self.response, None
        if late is not None:  # it arrived just as we gave up
            late.close()
        sock = getattr(conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # a blocked recv returns now
            except OSError:  # already closed: nothing to unblock
                pass


class _WatchedPool(HTTPConnectionPool):
    """A connection pool that hands each connection it gives out to the thread's `_Watch`."""

    def _get_conn(self, timeout: float | None = None):
        conn = super()._get_conn(timeout)
        watch = getattr(_CURRENT, "watch", None)
        if watch is not None:
            watch.attach(conn)
        return conn


class _WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    pass


def _watchable(http: requests.Session) -> requests.Session:
    """Make the session's connections reachable by `_Watch` (direct connections).

    Through a proxy (a separate pool manager) the request is still given up on
    time by `_answer`; only its socket is then left to the socket timeout.
    """
    for adapter in http.adapters.values():
        manager = getattr(adapter, "poolmanager", None)
        if manager is not None:
            manager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}
    return http


def _answer(http: requests.Session, uri: str, secret: Token, have: int, what: str,
            part: Path, cancel: threading.Event | None, done: list[Path],
            stop_at: float | None) -> requests.Response:
    """`_get` (up to the answer's headers) under the deadline, the stall limit and cancel.

    The request runs in a helper thread and this one polls: from the first byte
    of the request, ``conf.download_deadline`` and ``cancel`` are seen within
    `_POLL` s whatever the server does, and an attempt whose headers have not all
    arrived after the larger of ``conf.timeout`` (what a silent server is given
    anyway) and ``conf.rate_window`` counts as stalled when ``conf.min_download_rate``
    is set.  Giving up cuts the connection (`_Watch`).
    """
    watch = _Watch()

    def run() -> None:
        _CURRENT.watch = watch
        try:
            watch.deliver(_get(http, uri, secret, have, what))
        except _Aborted:
            pass
        except Exception as exc:  # send()'s ArchiveError, raised again by the caller
            watch.error = exc
        finally:
            _CURRENT.watch = None

    thread = threading.Thread(target=run, daemon=True, name="fgs_widgets-request")
    thread.start()
    patience = (max(conf.timeout, conf.rate_window) if conf.min_download_rate > 0 else None)
    stop: ArchiveError | None = None
    while thread.is_alive():
        thread.join(_POLL)
        if not thread.is_alive():
            break
        now = time.monotonic()
        if cancel is not None and cancel.is_set():
            stop = DownloadCancelled(f"{what} cancelled while waiting for the server's answer; "
                                     f"{_left(part)}", done)
        elif stop_at is not None and now > stop_at:
            stop = DownloadStalled(
                f"{what}: conf.download_deadline ({conf.download_deadline:g} s) passed before "
                f"the server's answer (status line and headers) had arrived; {_left(part)} — "
                "try again later, or raise conf.download_deadline (env FGS_DOWNLOAD_DEADLINE) "
                "for a slow link")
        elif patience is not None and now - watch.attempt_started > patience:
            stop = DownloadStalled(
                f"{what}: the server's answer (status line and headers) had not all arrived "
                f"after {patience:g} s (the larger of conf.timeout and conf.rate_window); "
                f"{_left(part)} — try again later")
        if stop is not None:
            watch.abort()
            thread.join(2 * _POLL)  # the cut socket ends the request at once
            raise stop
    if watch.error is not None:
        raise watch.error  # built by send() outside its except: chains nothing
    if watch.response is None:
        raise ArchiveError(f"{what}: the request ended without an answer; try again")
    return watch.response


def _get(http: requests.Session, uri: str, secret: Token, have: int,
         what: str) -> requests.Response:
    headers = secret.header()  # masked in repr: this frame may end up in a traceback
    if have:
        headers["Range"] = f"bytes={have}-"
    return send(http, "GET", f"{conf.mast_server}/api/v0.1/Download/file",
                what=f"MAST ({conf.mast_server}) for the {what}", params={"uri": uri},
                headers=headers, stream=True, timeout=conf.timeout)


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
