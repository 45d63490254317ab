"""Write-then-rename: a file or folder takes its final name only once it is complete.

Every writer in the package (caches, exports, saved sessions, the sample, movies)
goes through these two helpers, so a crash, a full disk or an exception mid-write
never leaves a half-written file under a name that readers trust, and an existing
good file survives until its replacement is whole.  Two writers do their own
renaming on purpose: downloads keep a resumable ``.part`` (checked before its
rename), and the telemetry cache's salt is created with a link that never
overwrites.  Files are not fsync'ed: a process crash is covered, a power cut on
some file systems may leave an empty file (caches re-fetch it; a save says it is
corrupt).  This module imports nothing from the rest of the package: every layer
may use it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_directory", "atomic_write", "file_sha256"]


def _temp_name(path: Path) -> Path:
    # unique per process and thread (two writers of one path never share a temp file);
    # the real suffix stays last, for writers that pick the format from it (savefig, np.savez)
    return path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.partial"
                          f"{path.suffix}")


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    Parameters
    ----------
    path : path
        Final name.  Its folder is created if missing.

    Yields
    ------
    Path
        Where to write (same folder and suffix as ``path``).  If the block raises,
        the temporary file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> with atomic_write("out/table.parquet") as temp:   # doctest: +SKIP
    ...     frame.to_parquet(temp)
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(final)
    try:
        yield temp
        if not temp.exists():
            raise FileNotFoundError(f"{final}: the writer produced no file at {temp.name}")
        os.replace(temp, final)  # atomic on one file system: readers see old or new, whole
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; swap it in when the block succeeds.

    An existing folder at ``path`` is moved aside and deleted only after the new one
    is in place, so ``path`` is the old whole folder or the new whole one, except for
    the moment between two renames when it is absent (readers then see no folder,
    never a partial one).  If the block raises, the staging folder is removed; if
    the swap fails, the old folder is put back, or, if even that fails, kept aside
    and named in the error.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial",
                                    dir=final.parent))
    old: Path | None = None
    try:
        yield staging
        moved = False
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old",
                                        dir=final.parent))
            try:
                os.replace(final, old / final.name)
                moved = True
            except FileNotFoundError:  # another writer moved it away meanwhile
                pass
        try:
            os.replace(staging, final)
        except BaseException as exc:
            if moved and not final.exists():  # put the old folder back: never lose it
                try:
                    os.replace(old / final.name, final)
                except OSError:
                    kept, old = old / final.name, None  # never deleted below
                    raise OSError(f"{final} could not be replaced ({exc}) nor restored; the "
                                  f"previous version is kept at {kept}") from exc
            raise
    finally:
        for leftover in (staging, old):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex), read in 4 MiB blocks: how a written file is
    later checked to be the one that was written."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
