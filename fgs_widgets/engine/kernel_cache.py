"""Compiled kernels shipped in a read-only install: numba's disk cache, seeded per user.

numba keeps a compiled kernel (``cache=True``) in the first folder it can *write*:
``$NUMBA_CACHE_DIR``, else ``__pycache__`` beside the module, else the user's cache
folder (``~/.cache/numba``).  An image builder runs ``fgs-widgets warmup`` as the owner
of site-packages, so the kernels land in the package's ``__pycache__``; a user of that
image cannot write there, so numba skips that folder, finds nothing in the next one and
compiles every kernel again (10-20 s per kernel, in every user's first session).

`install` adds one step before numba picks its folder, for this package's kernels only:
when the package's ``__pycache__`` is read-only and holds fresh entries (same source,
same numba, same CPU) that the folder numba will use instead (``$NUMBA_CACHE_DIR`` or
the user's) lacks, they are copied there through numba's own index class
(``IndexDataCacheFile``), which re-stamps them for that folder.  Then numba loads them as
if it had compiled them itself; a signature nobody warmed is compiled and saved in the
user's folder as usual.  Anything unexpected (an older numba without these classes, an
unreadable file) leaves numba to do what it does without us: compile.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

__all__ = ["install", "package_cache_folder"]

log = logging.getLogger(__name__)
_PACKAGE = Path(__file__).resolve().parent.parent  # fgs_widgets/
_installed = False


def package_cache_folder(py_file: str | os.PathLike) -> Path:
    """The ``__pycache__`` folder beside ``py_file`` (numba's in-tree cache for it)."""
    return Path(py_file).resolve().parent / "__pycache__"


def _ours(py_file: str) -> bool:
    try:
        return Path(py_file).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False


def _caching():
    from numba.core import caching

    return caching


def _chosen_locator(caching, py_func, py_file: str):
    """The locator numba's own chain (after ours) picks for this function, or None."""
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    for cls in impl._locator_classes:
        if cls is SeedFromPackage:
            continue
        locator = cls.from_function(py_func, py_file)
        if locator is not None:
            return locator
    return None


def _filename_base(py_func, py_file: str, locator) -> str:
    """What numba names this function's cache files (``CacheImpl.get_filename_base``)."""
    modname = os.path.splitext(os.path.basename(py_file))[0]
    fullname = f"{modname}.{getattr(py_func, '__qualname__', py_func.__name__)}"
    fullname = fullname.replace("<", "").replace(">", "")
    return (f"{fullname}-{locator.get_disambiguator()}.py{sys.version_info[0]}"
            f"{sys.version_info[1]}{getattr(sys, 'abiflags', '')}")


def seed(py_func, py_file: str) -> int:
    """Copy this function's fresh entries from the package's ``__pycache__`` into the
    folder numba will use for it, where they are missing; the number copied."""
    caching = _caching()
    source = package_cache_folder(py_file)
    if not source.is_dir() or os.access(source, os.W_OK):
        return 0  # numba writes there, or its owner chose another folder: theirs to fill
    locator = _chosen_locator(caching, py_func, py_file)
    if locator is None or Path(locator.get_cache_path()).resolve() == source:
        return 0
    base = _filename_base(py_func, py_file, locator)
    if not (source / f"{base}.nbi").exists():
        return 0
    stamp = locator.get_source_stamp()
    shipped = caching.IndexDataCacheFile(str(source), base, stamp)
    target = caching.IndexDataCacheFile(locator.get_cache_path(), base, stamp)
    have = target._load_index()
    copied = 0
    for key in shipped._load_index().keys() - have.keys():
        data = shipped.load(key)
        if data is not None:
            target.save(key, data)
            copied += 1
    return copied


def _seed_class():
    caching = _caching()
    base = getattr(caching, "_CacheLocator", None) or caching._CacheLocator

    class _Seed(base):
        """A locator that never locates: it seeds the next one's folder, then defers."""

        @classmethod
        def from_function(cls, py_func, py_file):
            if _ours(py_file):
                try:
                    copied = seed(py_func, py_file)
                    if copied:
                        log.debug("seeded %d compiled signature(s) of %s from %s", copied,
                                  py_func.__qualname__, package_cache_folder(py_file))
                except Exception as exc:  # never break an import: numba compiles instead
                    log.debug("no seeding of %s: %r", py_func.__qualname__, exc)
            return None

        def get_cache_path(self):  # pragma: no cover - never instantiated
            raise NotImplementedError

        def get_source_stamp(self):  # pragma: no cover
            raise NotImplementedError

        def get_disambiguator(self):  # pragma: no cover
            raise NotImplementedError

    _Seed.__name__ = _Seed.__qualname__ = "SeedFromPackage"
    return _Seed


SeedFromPackage = None  # the locator class, made by `install` (it subclasses numba's)


def install() -> bool:
    """Put `SeedFromPackage` first in numba's locator chain (once); False if this numba
    has no such chain (the kernels then compile per user, as numba does by itself)."""
    global SeedFromPackage, _installed
    if _installed:
        return True
    try:
        caching = _caching()
        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
        SeedFromPackage = _seed_class()
        impl._locator_classes.insert(0, SeedFromPackage)
    except Exception as exc:  # an unknown numba: no seeding, nothing broken
        log.debug("numba cache seeding unavailable: %r", exc)
        return False
    _installed = True
    return True
