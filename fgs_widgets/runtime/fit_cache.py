"""On-disk cache of finished fit chunks (``.npy``), so re-runs and crashes lose nothing.

A chunk's key is the sha256 of its frame bytes (+ errors and initial values)
and the fit settings including the engine version; a file is written under a
temporary name and renamed when complete (`fgs_widgets.atomic.atomic_write`), so
a crash never leaves a half-written entry.  An unreadable entry is ignored (with
a warning) and refit.

Entries are plain ``.npy`` arrays: writing a 50,000-frame chunk takes ~6 ms against
~120 ms as Parquet (`benchmarks/bench_session.py`), and nothing but this class reads them.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..engine.lm import N_OUT

__all__ = ["FitCache"]


class FitCache:
    """A folder of finished chunks keyed by content and settings.

    Parameters
    ----------
    directory : path
        Created if missing.  Entries are ``chunk-<sha256 prefix>.npy``, each the
        chunk's (n, `fgs_widgets.engine.lm.N_OUT`) float64 result rows, columns in
        `fgs_widgets.engine.lm.RAW_COLUMNS` order (see
        `fgs_widgets.engine.gaussian.fit_chunk`), as
        `fgs_widgets.runtime.fit.fit_gaussians` stores and reloads them.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # the cache only saves time: the fit must go on without it
            warnings.warn(f"fit cache {self.directory} cannot be created ({exc}); fitting "
                          "without it (an interrupted fit will start again from the beginning)",
                          stacklevel=3)

    @staticmethod
    def key(frames: np.ndarray, errors: np.ndarray | None, initial: np.ndarray | None,
            settings: dict) -> str:
        """sha256 of the settings (JSON) and each array's dtype, shape and bytes."""
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
        for array in (frames, errors, initial):
            if array is None:
                digest.update(b"-")
                continue
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(memoryview(array).cast("B"))
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / f"chunk-{key[:40]}.npy"

    def load(self, key: str, n_rows: int) -> np.ndarray | None:
        """The stored (n_rows, `N_OUT`) rows, or None if absent or unreadable (warns)."""
        path = self._path(key)
        if not path.exists():
            return None
        try:
            raw = np.load(path, allow_pickle=False)
            if raw.shape != (n_rows, N_OUT) or raw.dtype != np.float64:
                raise ValueError(f"{raw.dtype} {raw.shape}, expected float64 ({n_rows}, {N_OUT})")
            return raw
        except Exception as exc:
            warnings.warn(f"fit cache entry {path} is unreadable ({exc}); fitting it again",
                          stacklevel=3)
            return None

    def store(self, key: str, raw: np.ndarray) -> None:
        """Write the rows under a temporary name, then rename (never half-written).

        A full disk or a read-only folder warns and keeps the fit going: the rows are
        in the result either way, only a later re-run would fit them again.
        """
        try:
            with atomic_write(self._path(key)) as temp:  # unique per process and thread
                np.save(temp, np.ascontiguousarray(raw, dtype=np.float64), allow_pickle=False)
        except OSError as exc:
            warnings.warn(f"fit cache entry {self._path(key).name} not stored in "
                          f"{self.directory} ({exc}); the fit goes on", stacklevel=3)
