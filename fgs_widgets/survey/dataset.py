"""The survey's output: one Parquet dataset, a partition per program and observation.

Layout under the survey's root folder::

    program=1534/observation=2/part-0.parquet     the statistics (one row per visit)
    program=1534/observation=2/_partition.json    what makes the partition complete
    _survey/program=1534.json                     the program's state: done or failed

``pandas.read_parquet(root)`` (pyarrow, hive partitioning) reads the whole dataset and
skips everything starting with ``_``.  A partition is *complete and verified* when its
``_partition.json`` exists, names the same inputs (file names and sizes) and settings as
the task asks for, and the Parquet file beside it has the recorded size, SHA-256 and
row count.  Both files are written under a temporary name and renamed when complete,
the manifest last, so a worker killed mid-write leaves no partition that looks done.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..atomic import atomic_directory, atomic_write, file_sha256

if TYPE_CHECKING:
    from astropy.table import QTable

__all__ = [
    "MANIFEST",
    "PARTITION_FILE",
    "partition_dir",
    "read_status",
    "read_survey",
    "survey_qtable",
    "survey_status",
    "verified_partitions",
    "verify_partition",
    "write_partition",
    "write_status",
]

PARTITION_FILE = "part-0.parquet"
MANIFEST = "_partition.json"
STATUS_DIR = "_survey"


def partition_dir(root: str | os.PathLike, program: int, observation: int) -> Path:
    """``root/program=<p>/observation=<o>`` (hive partitioning, plain integers)."""
    return Path(root) / f"program={int(program)}" / f"observation={int(observation)}"



def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # unreadable: treated as absent, so the work is done again


def _write_json(path: Path, record: dict) -> None:
    with atomic_write(path) as temp:
        temp.write_text(json.dumps(record, indent=1, default=str))


def write_partition(root: str | os.PathLike, program: int, observation: int,
                    table: pd.DataFrame, manifest: dict) -> Path:
    """Write one partition: the table (without its partition columns), then its manifest.

    Parameters
    ----------
    root : path
    program, observation : int
    table : DataFrame
        ``program`` and ``observation`` columns, if any, are dropped: the folder names
        carry them (a file holding them too would clash when the dataset is read).
    manifest : dict
        What the task records (``inputs``, ``settings`` keys and anything else);
        ``rows``, ``bytes``, ``sha256``, ``host``, ``pid`` and ``written`` are added.

    Returns
    -------
    Path
        The partition's folder.
    """
    folder = partition_dir(root, program, observation)
    body = table.drop(columns=[c for c in ("program", "observation") if c in table])
    body = body.reset_index(drop=True)
    body.attrs = {}
    # both files in one staging folder swapped in whole: a manifest never describes
    # another writer's table, and a reader sees the old partition or the new one
    with atomic_directory(folder) as staging:
        target = staging / PARTITION_FILE
        body.to_parquet(target, index=False)
        record = {**manifest, "program": int(program), "observation": int(observation),
                  "rows": len(body), "bytes": target.stat().st_size,
                  "sha256": file_sha256(target), "host": socket.gethostname(), "pid": os.getpid(),
                  "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (staging / MANIFEST).write_text(json.dumps(record, indent=1, default=str))
    return folder


def verify_partition(root: str | os.PathLike, program: int, observation: int, *,
                     inputs: str, settings: str) -> dict | None:
    """The partition's manifest if it is complete, verified and made from these inputs and
    settings; else None (absent, half-written, altered, or made from other inputs)."""
    folder = partition_dir(root, program, observation)
    manifest = _read_json(folder / MANIFEST)
    if manifest is None or manifest.get("inputs") != inputs or \
            manifest.get("settings") != settings:
        return None
    target = folder / PARTITION_FILE
    try:
        if target.stat().st_size != manifest.get("bytes"):
            return None
        if file_sha256(target) != manifest.get("sha256"):
            return None
        import pyarrow.parquet as pq

        if pq.ParquetFile(target).metadata.num_rows != manifest.get("rows"):
            return None
    except (OSError, ValueError):
        return None
    return manifest


def status_path(root: str | os.PathLike, program: int) -> Path:
    return Path(root) / STATUS_DIR / f"program={int(program)}.json"


def write_status(root: str | os.PathLike, program: int, record: dict) -> None:
    """Record a program's state (``done`` or ``failed``, with its error) under ``_survey``."""
    _write_json(status_path(root, program), {"program": int(program), **record})


def read_status(root: str | os.PathLike, program: int) -> dict | None:
    return _read_json(status_path(root, program))


def survey_status(root: str | os.PathLike) -> pd.DataFrame:
    """Every program's recorded state: one row per program (state, error, attempts, ...)."""
    folder = Path(root) / STATUS_DIR
    records = [r for p in sorted(folder.glob("program=*.json"))
               if (r := _read_json(p)) is not None] if folder.is_dir() else []
    columns = ["program", "state", "error", "runs", "observations", "n_frames",
               "seconds", "host"]
    table = pd.DataFrame(records)
    for column in columns:
        if column not in table:
            table[column] = pd.Series(dtype=object)
    return table[columns + [c for c in table.columns if c not in columns]]


def verified_partitions(root: str | os.PathLike) -> list[Path]:
    """The Parquet files of the survey's finished work: of each program recorded done, the
    observations its status lists, whose partitions verify for the status's settings.

    Left out: partitions of failed or unfinished programs, of observations no longer in
    a program's task, made with other settings, or damaged since.
    """
    folder = Path(root) / STATUS_DIR
    files = []
    for path in sorted(folder.glob("program=*.json")) if folder.is_dir() else []:
        status = _read_json(path)
        if not status or status.get("state") != "done":
            continue
        for entry in status.get("observations") or []:
            obs = entry.get("observation")
            manifest = _read_json(partition_dir(root, status["program"], obs) / MANIFEST)
            if manifest is None or verify_partition(
                    root, status["program"], obs, inputs=manifest.get("inputs"),
                    settings=status.get("settings")) is None:
                continue
            files.append(partition_dir(root, status["program"], obs) / PARTITION_FILE)
    return files


def read_survey(root: str | os.PathLike) -> pd.DataFrame:
    """The survey's statistics as one DataFrame, ``program`` and ``observation`` as integers.

    Only `verified_partitions` are read: programs recorded done, their current
    observations, partitions that verify.  (``pandas.read_parquet(root)`` reads every
    partition on disk, also those of failed programs.)
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no survey dataset here (run `fgs-widgets survey`)")
    import pyarrow.dataset as ds

    files = verified_partitions(root)
    if not files:
        return pd.DataFrame(columns=["program", "observation"])
    dataset = ds.dataset([str(f) for f in files], format="parquet",
                         partitioning=ds.partitioning(flavor="hive"),
                         partition_base_dir=str(root))
    table = dataset.to_table().to_pandas()
    for column in ("program", "observation"):
        if column in table:
            table[column] = table[column].astype("int64")
    if {"program", "observation"} <= set(table.columns):
        sort = ["program", "observation"] + (["visit"] if "visit" in table else [])
        table = table.sort_values(sort).reset_index(drop=True)
        first = ["program", "observation"]
        table = table[first + [c for c in table.columns if c not in first]]
    return table


def survey_qtable(table: pd.DataFrame) -> QTable:
    """A survey's statistics (`read_survey`) as an astropy `~astropy.table.QTable`.

    Each statistic carries the unit and description `fgs_widgets.engine.stability.STATISTICS`
    gives it (``start_mjd``/``end_mjd`` become `~astropy.time.Time` in UTC); write it with
    ``table.write("survey.fits")`` or `fgs_widgets.astropy_tables.write_table`.
    """
    from ..astropy_tables import to_qtable
    from ..engine.stability import STATISTICS

    spelled = {"px": "pix", "px/h": "pix/h"}  # astropy's spelling of the pixel
    times = [name for name, (unit, _) in STATISTICS.items() if unit.startswith("MJD")]
    units = {name: spelled.get(unit, unit) for name, (unit, _) in STATISTICS.items()
             if name not in times}
    out = to_qtable(table, units=units, time_columns=times,
                    meta={"TELESCOP": "JWST", "INSTRUME": "FGS", "EXTNAME": "SURVEY"})
    for name in out.colnames:
        if name in STATISTICS:
            out[name].info.description = STATISTICS[name][1]
    return out

