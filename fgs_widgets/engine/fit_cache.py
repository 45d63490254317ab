"""On-disk cache of finished fit chunks (Parquet), so re-runs and crashes lose nothing.

A chunk's key is the sha256 of its frame bytes (+ errors and initial values)
and the fit settings including the engine version; a file is written under a
temporary name and renamed when complete, so a crash never leaves a
half-written entry.  An unreadable entry is ignored (with a warning) and refit.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["FitCache"]


class FitCache:
    """A folder of finished chunks keyed by content and settings.

    Parameters
    ----------
    directory : path
        Created if missing.  Entries are ``chunk-<sha256 prefix>.parquet``
        with the chunk's (n, 18) result rows (see
        `fgs_widgets.engine.gaussian.fit_chunk`).
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

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
        return self.directory / f"chunk-{key[:40]}.parquet"

    def load(self, key: str, n_rows: int) -> np.ndarray | None:
        """The stored (n_rows, 18) rows, or None if absent or unreadable (warns)."""
        path = self._path(key)
        if not path.exists():
            return None
        try:
            table = pq.read_table(path)
            raw = np.column_stack([table.column(i).to_numpy() for i in range(table.num_columns)])
            if raw.shape != (n_rows, 18):
                raise ValueError(f"shape {raw.shape}, expected ({n_rows}, 18)")
            return raw.astype(np.float64)
        except Exception as exc:
            warnings.warn(f"fit cache entry {path} is unreadable ({exc}); fitting it again",
                          stacklevel=3)
            return None

    def store(self, key: str, raw: np.ndarray) -> None:
        """Write the rows under a temporary name, then rename (never half-written)."""
        path = self._path(key)
        # unique per process and thread: two fits of the same data never share a temp file
        temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
        table = pa.table({f"c{i}": raw[:, i] for i in range(raw.shape[1])})
        try:
            pq.write_table(table, temp)
            os.replace(temp, path)  # atomic: readers see the old entry or the whole new one
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
