"""What a survey does, as small descriptions: one `ProgramTask` per program.

A task names a program's fine-guide files (MAST URIs or local paths, with the sizes
the archive lists), never their bytes: the node that runs it downloads or reads them
itself.  Tasks come from a list of program ids, a file of them, a MAST query over a
date range, or files already on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from ..archive.names import parse_file_name

__all__ = ["FileRef", "ProgramTask", "programs_from_file", "tasks_for_programs",
           "tasks_from_paths", "tasks_from_products", "tasks_observed_between"]


@dataclass(frozen=True)
class FileRef:
    """One fine-guide file of a task.

    Attributes
    ----------
    file_name : str
    uri : str
        ``mast:JWST/product/<name>`` (downloaded where the task runs) or a local path.
    size : int or None
        Bytes, as the archive lists them (None: unknown).
    observation, visit : int
    folder : str or None
        MAST folder name (the download cache keeps MAST's layout).
    """

    file_name: str
    uri: str
    size: int | None
    observation: int
    visit: int
    folder: str | None = None

    @property
    def local(self) -> bool:
        """Whether `uri` is a path on the node, not an archive URI."""
        return not self.uri.startswith("mast:")


@dataclass(frozen=True)
class ProgramTask:
    """A program and its files: all a worker needs (a few hundred bytes per file)."""

    program: int
    files: tuple[FileRef, ...]

    def observations(self) -> dict[int, tuple[FileRef, ...]]:
        """The files of each observation, in the task's order."""
        out: dict[int, list[FileRef]] = {}
        for ref in self.files:
            out.setdefault(ref.observation, []).append(ref)
        return {k: tuple(v) for k, v in sorted(out.items())}

    def inputs_key(self, observation: int | None = None) -> str:
        """A digest of the file names and sizes (of one observation, or all).

        A finished partition records it; a re-run whose inputs differ (a file
        reprocessed with a new size, a segment added) does the work again.
        """
        refs = self.files if observation is None else self.observations()[observation]
        text = json.dumps(sorted((r.file_name, r.size) for r in refs))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"program": self.program, "files": [asdict(f) for f in self.files]}

    @classmethod
    def from_dict(cls, record: dict) -> ProgramTask:
        return cls(int(record["program"]), tuple(FileRef(**f) for f in record["files"]))

    def __len__(self) -> int:
        return len(self.files)


def _int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def tasks_from_products(products: pd.DataFrame) -> list[ProgramTask]:
    """One task per program of a `find_products`-style table (file_name, uri, size, ...).

    Files whose program, observation or visit cannot be told (neither columns nor a
    fine-guide file name) raise `ValueError` naming them: a survey drops nothing silently.
    """
    unknown = [name for name, prog, obs, vis in zip(
        products["file_name"], products["program"], products["observation"],
        products["visit"], strict=True) if pd.isna(prog) or pd.isna(obs) or pd.isna(vis)]
    if unknown:
        raise ValueError(f"cannot tell the program, observation and visit of {unknown[:3]}"
                         f"{' and more' if len(unknown) > 3 else ''}: fine-guide files are "
                         "named jw<program><obs><visit>_gs-fg_<stamp>_cal.fits")
    tasks = []
    for program, rows in products.groupby("program", sort=True):
        rows = rows.sort_values(["observation", "visit", "file_name"])
        refs = tuple(
            FileRef(str(r.file_name), str(r.uri), _int(r.size), int(r.observation),
                    int(r.visit), r.folder if isinstance(getattr(r, "folder", None), str)
                    else None)
            for r in rows.itertuples())
        tasks.append(ProgramTask(int(program), refs))
    return tasks


def tasks_for_programs(programs: Iterable[int | str], *, calib_level: int = 2,
                       guider: int | None = None, token=None
                       ) -> tuple[list[ProgramTask], dict[int, str]]:
    """Query MAST for each program's files.

    Returns
    -------
    tasks : list of ProgramTask
    missing : dict
        program -> why it has no task (no fine-guide files, no rights, MAST down):
        the caller records these as failed programs instead of losing them.
    """
    from ..archive.errors import ArchiveError
    from ..archive.mast import find_products
    from ..archive.tokens import resolve_token

    # rebound: no frame keeps the plain string (tracebacks printed with locals show frames)
    token = resolve_token(token)
    tasks, missing = [], {}
    for program in dict.fromkeys(int(str(p).strip()) for p in programs):
        try:
            products = find_products(program, calib_level=calib_level, guider=guider,
                                     token=token)
        except ArchiveError as exc:
            missing[program] = f"{type(exc).__name__}: {exc}"
            continue
        tasks += tasks_from_products(products)
    return tasks, missing


def tasks_observed_between(start, end, *, calib_level: int = 2, guider: int | None = None,
                           token=None) -> list[ProgramTask]:
    """Every program with fine-guide data that began between `start` and `end` (UTC).

    One MAST query (`fgs_widgets.archive.mast.find_products_between`); each program's
    task holds the files of the range only.
    """
    from ..archive.mast import find_products_between
    from ..archive.tokens import resolve_token

    token = resolve_token(token)  # rebound, as in tasks_for_programs
    return tasks_from_products(find_products_between(start, end, calib_level=calib_level,
                                                     guider=guider, token=token))


def programs_from_file(path: str | os.PathLike) -> list[int]:
    """Program ids from a text file (one per line or separated by commas/spaces; ``#``
    comments) or a CSV/ECSV/Parquet table with a ``program`` column."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such programs file")
    if path.suffix.lower() in (".parquet", ".csv", ".ecsv"):
        if path.suffix.lower() == ".parquet":
            table = pd.read_parquet(path)
        elif path.suffix.lower() == ".ecsv":
            from astropy.table import Table

            table = Table.read(path, format="ascii.ecsv").to_pandas()
        else:
            table = pd.read_csv(path)
        columns = {c.lower(): c for c in table.columns}
        if "program" not in columns:
            raise ValueError(f"{path}: no 'program' column (has {list(table.columns)})")
        values = table[columns["program"]].dropna().tolist()
    else:
        values = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for word in line.split("#", 1)[0].replace(",", " ").split():
                if not word.isdigit():
                    raise ValueError(f"{path}, line {number}: {word!r} is not a program id "
                                     "(expected numbers such as 1534 or 01534)")
                values.append(word)
    programs = list(dict.fromkeys(int(v) for v in values))
    if not programs:
        raise ValueError(f"{path}: no program ids in it")
    return programs


def tasks_from_paths(paths: Iterable[str | os.PathLike]) -> list[ProgramTask]:
    """Tasks for fine-guide files already on disk (folders are searched for ``*_gs-fg_*``).

    The paths must be readable where the tasks run: the same machine, or a shared
    file system at the same path.
    """
    files: list[Path] = []
    for entry in paths:
        entry = Path(entry)
        if entry.is_dir():
            files += sorted(entry.rglob("*_gs-fg_*.fits"))
        elif entry.exists():
            files.append(entry)
        else:
            raise FileNotFoundError(f"{entry}: no such file or folder")
    rows = []
    for path in files:
        parsed = parse_file_name(path.name)
        rows.append({"file_name": path.name, "uri": str(path.resolve()),
                     "size": path.stat().st_size,
                     "program": parsed.program if parsed else None,
                     "observation": parsed.observation if parsed else None,
                     "visit": parsed.visit if parsed else None, "folder": path.parent.name})
    if not rows:
        raise ValueError("no fine-guide (*_gs-fg_*.fits) files in the paths given")
    return tasks_from_products(pd.DataFrame(rows))
