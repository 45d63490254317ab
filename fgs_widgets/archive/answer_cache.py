"""A service's answer cached on disk as the bytes it sent, and trusted only once checked.

The engineering DB client (`engdb`) and the Guide Star Catalog client (`catalog`)
cache the same way, through `cached_answer`: a cached answer is parsed and checked
exactly like a fresh one, so a file that is damaged, edited or written by an older
release that no longer passes is dropped and asked again rather than trusted (or
failing every later call); a fresh answer is parsed and checked *before* it is
written, so an unusable one never reaches the disk; and it is written with
`fgs_widgets.atomic.atomic_write`, so a reader never sees half a file.  What the
answer means, which errors say "unusable", and whether a usable answer is final
enough to keep belong to each client.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..atomic import atomic_write

__all__ = ["cached_answer"]

T = TypeVar("T")


def cached_answer(path: str | os.PathLike | None, fetch: Callable[[], bytes],
                  parse: Callable[[bytes], T], *,
                  unusable: tuple[type[Exception], ...],
                  keep: Callable[[T], bool] | None = None) -> T:
    """The parsed answer: from the cache file if it still parses, else fetched and checked.

    Parameters
    ----------
    path : path or None
        The cache file of this request; None asks without any cache (nothing is
        read or written).
    fetch : callable() -> bytes
        Asks the service; returns the raw answer, the bytes to cache.  Its
        errors (service down, HTTP errors) propagate unchanged.
    parse : callable(bytes) -> value
        Decodes, parses and checks an answer, raising one of `unusable` for an
        answer that cannot be used.  The same function reads cached and fresh
        answers, so the cache holds nothing a fresh answer would not pass.
    unusable : tuple of exception types
        What `parse` raises for an unusable answer.  From a cached file, these
        drop the file and the answer is fetched again; from a fresh answer they
        propagate, and nothing is written.
    keep : callable(value) -> bool, optional
        Whether a checked fresh answer is final enough to cache (e.g. not a
        range the archive may still be filling); default: always.

    Returns
    -------
    object
        What `parse` returns.

    Raises
    ------
    Exception
        Whatever `fetch` raises, and `unusable` (or any other error) raised by
        `parse` for a fresh answer; the cache file is then left as it was.
    """
    if path is not None:
        found = _reuse(Path(path), parse, unusable)
        if found is not None:
            return found[0]
    body = fetch()
    value = parse(body)  # raises for an unusable answer, before anything is written
    if path is not None and (keep is None or keep(value)):
        with atomic_write(path) as temp:
            temp.write_bytes(body)
    return value


def _reuse(path: Path, parse: Callable[[bytes], T],
           unusable: tuple[type[Exception], ...]) -> tuple[T] | None:
    """``(value,)`` from the cache file, or None when there is none usable (a bad one dropped).

    The value comes wrapped so that a parse result that is itself None still
    counts as found.
    """
    try:
        body = path.read_bytes()
    except OSError:  # absent or unreadable: ask the service
        return None
    try:
        return (parse(body),)
    except unusable:
        # returned inside the except block, but nothing is raised from here: whatever the
        # fetch raises next carries no chained cache error.  If the file cannot be removed,
        # the fresh answer's atomic rename replaces it.
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return None
