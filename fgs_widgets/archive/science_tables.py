"""Science table formats read into `Columns`: text, ECSV, FITS tables and in-memory tables.

Holds how `fgs_widgets.archive.science.read_science` finds and sniffs a file
(FITS, ECSV, CSV or whitespace text, from its first bytes and suffix), reads
whitespace ``.dat``/``.txt`` tables (header line optional, ``#`` comments, a
commented header), CSV, ECSV and the first FITS table HDU holding the time
and flux columns, and turns astropy Tables and pandas DataFrames into
`Columns`, with the time-system keywords a header carries.  Which column is
the time, flux or error is `science_columns`' business.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from .science_clocks import TIME_KEYWORDS
from .science_columns import FLUX_NAMES, TIME_NAMES, Columns, ColumnSpec, pick
from .science_errors import ScienceReadError

__all__ = ["columns_from_frame", "columns_from_table", "existing_file", "file_kind",
           "fits_table_columns", "read_ecsv", "read_text"]

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
_TEXT_SUFFIXES = {".csv": "csv", ".dat": "whitespace", ".txt": "whitespace",
                  ".tbl": "whitespace", ".ascii": "whitespace", ".tsv": "whitespace"}


def existing_file(source: str | os.PathLike[str]) -> Path:
    """The path of an existing file (``~`` expanded).

    Parameters
    ----------
    source : str or path-like
        The light-curve file.

    Returns
    -------
    pathlib.Path
        The file's path.

    Raises
    ------
    ScienceReadError
        If there is no such file, or it is a folder.
    """
    path = Path(os.fspath(source)).expanduser()
    if not path.exists():
        raise ScienceReadError(f"{path}: no such file; check the path (relative paths start "
                               f"at {Path.cwd()})")
    if path.is_dir():
        raise ScienceReadError(f"{path} is a folder; give the light-curve file itself")
    return path


def file_kind(path: Path) -> str:
    """'fits', 'ecsv', 'csv' or 'whitespace', from the first bytes and the suffix.

    Parameters
    ----------
    path : pathlib.Path
        An existing file.

    Returns
    -------
    str
        The format to read it as; files of an unknown suffix are sniffed (a
        comma in the first data line means CSV).

    Raises
    ------
    ScienceReadError
        If a FITS or ECSV name does not start like one, or the file is
        neither FITS nor UTF-8 text.
    """
    with path.open("rb") as fh:
        head = fh.read(4096)
    name = path.name.lower()
    if head.startswith(b"SIMPLE  =") or (head[:2] == b"\x1f\x8b" and name.endswith(
            _FITS_SUFFIXES)):
        return "fits"
    if name.endswith(_FITS_SUFFIXES):
        raise ScienceReadError(f"{path}: named like a FITS file but does not start with a FITS "
                               "header (SIMPLE =); it may be truncated or not FITS")
    text = _text_head(path, head)
    if text.lstrip().startswith("# %ECSV"):
        return "ecsv"
    if path.suffix.lower() == ".ecsv":
        raise ScienceReadError(f"{path}: named .ecsv but lacks the '# %ECSV' first line")
    if path.suffix.lower() in _TEXT_SUFFIXES:
        return _TEXT_SUFFIXES[path.suffix.lower()]
    data = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return "csv" if data and "," in data[0] else "whitespace"


def _text_head(path: Path, head: bytes) -> str:
    unknown = (f"{path}: unknown format: not FITS and not a text table; read_science reads "
               "whitespace/CSV/ECSV text tables and FITS files")
    if b"\x00" in head:
        raise ScienceReadError(unknown)
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            raise ScienceReadError(unknown) from exc
        return head[:exc.start].decode("utf-8")


def read_ecsv(path: Path) -> Columns:
    """An ECSV file's columns (astropy Time columns keep their own format and scale).

    Parameters
    ----------
    path : pathlib.Path
        A file starting with ``# %ECSV``.

    Returns
    -------
    Columns
        Its columns and its time-system keywords.

    Raises
    ------
    ScienceReadError
        If astropy cannot read it as ECSV.
    """
    try:
        table = Table.read(path, format="ascii.ecsv")
    except Exception as exc:  # astropy raises many kinds for a malformed ECSV
        raise ScienceReadError(f"{path}: cannot be read as ECSV: {exc}") from exc
    return columns_from_table(table, str(path))


def read_text(path: Path, kind: str) -> Columns:
    """A CSV or whitespace table, with a header line, a commented header, or none.

    Parameters
    ----------
    path : pathlib.Path
        The text file; ``#`` starts a comment.
    kind : {"csv", "whitespace"}
        The separator, as `file_kind` gives it.

    Returns
    -------
    Columns
        Named when the first data line is not all numbers (a header) or the
        comment line right above it names every column, one of them a known
        time or flux name; unnamed otherwise.

    Raises
    ------
    ScienceReadError
        If the file has no data rows or pandas cannot parse it.
    """
    first, comment = _first_data_line(path, kind)
    if first is None:
        raise ScienceReadError(f"{path}: has no data rows (it is empty or only comments)")
    header = not any(_is_number(token) for token in first)
    names = None
    if (not header and comment and len(comment) == len(first)
            and not any(_is_number(t) for t in comment)
            and {t.lower() for t in comment} & set(TIME_NAMES + FLUX_NAMES)):
        names = comment
    what = "CSV" if kind == "csv" else "whitespace-separated"
    try:
        frame = pd.read_csv(path, sep="," if kind == "csv" else r"\s+", comment="#",
                            header=0 if header else None, names=names, skipinitialspace=True)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ScienceReadError(f"{path}: cannot be read as a {what} table: {exc}") from exc
    return columns_from_frame(frame, str(path))


def _first_data_line(path: Path, kind: str) -> tuple[list[str] | None, list[str] | None]:
    """Tokens of the first data line and of the comment line just above it."""
    def split(text: str) -> list[str]:
        return [t.strip() for t in text.split(",")] if kind == "csv" else text.split()

    comment = None
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                text = line.strip()
                if not text:
                    continue
                if text.startswith("#"):
                    comment = split(text.lstrip("#"))
                    continue
                return split(text.split("#")[0]), comment
    except UnicodeDecodeError as exc:
        raise ScienceReadError(f"{path}: unknown format: not UTF-8 text ({exc})") from exc
    return None, comment


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _looks_unnamed(names: list[Any]) -> bool:
    """Default names (pandas 0, 1...; astropy col0/col1...) mean the table had no header."""
    return bool(names) and all(isinstance(n, (int, np.integer))
                               or re.fullmatch(r"col\d+", str(n)) for n in names)


def columns_from_frame(frame: pd.DataFrame, where: str) -> Columns:
    """A DataFrame's columns (datetime columns become astropy Time in UTC).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; default labels (0, 1...) mean it had no header.
    where : str
        How messages name the source.

    Returns
    -------
    Columns
        One array (or astropy Time) per column.
    """
    labels = list(frame.columns)
    values = [_series_values(frame.iloc[:, i]) for i in range(frame.shape[1])]
    return Columns([str(c) for c in labels], values, not _looks_unnamed(labels), where)


def _series_values(series: pd.Series) -> Any:
    if pd.api.types.is_datetime64_any_dtype(series):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return Time(series.to_numpy(dtype="datetime64[ns]"), format="datetime64", scale="utc")
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy()
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.to_numpy(dtype=object)


def columns_from_table(table: Table, where: str) -> Columns:
    """An astropy Table's columns and the time-system keywords of its ``meta``.

    Parameters
    ----------
    table : astropy.table.Table
        The table; default names (col0, col1...) mean it had no header.
    where : str
        How messages name the source.

    Returns
    -------
    Columns
        The table's own columns (Time columns kept as Time).
    """
    names = list(table.colnames)
    keywords = {str(k).upper(): str(v) for k, v in table.meta.items()
                if str(k).upper() in TIME_KEYWORDS}
    return Columns(names, [table[n] for n in names], not _looks_unnamed(names), where,
                    keywords)


def fits_table_columns(hdul: fits.HDUList, path: Path, time: ColumnSpec,
                       flux: ColumnSpec) -> Columns:
    """The first table HDU that has the time and flux columns.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        An open FITS file that is not a JWST time-series product.
    path : pathlib.Path
        Its path, for messages.
    time, flux : str, int or None
        `read_science`'s column choices, as `science_columns.pick` takes them.

    Returns
    -------
    Columns
        The first table HDU (ASDF left out) in which both columns are found;
        with a single table HDU, that one even without them, so that picking
        its columns raises the precise error.

    Raises
    ------
    ScienceReadError
        If the file has no table HDU, or none of several has both columns.
    """
    indices = [i for i, hdu in enumerate(hdul)
               if isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)) and hdu.name != "ASDF"]
    if not indices:
        found = ", ".join(f"{i} {h.name!r} ({type(h).__name__})" for i, h in enumerate(hdul))
        raise ScienceReadError(f"{path}: has no table extension (HDUs: {found}); read_science "
                               "reads FITS tables and JWST x1dints/calints/rateints files")
    candidates = [_columns_from_hdu(hdul, i, path) for i in indices]
    for cols in candidates:
        try:
            pick(cols, "time", time, TIME_NAMES, 0)
            pick(cols, "flux", flux, FLUX_NAMES, 1)
        except ScienceReadError:
            continue
        return cols
    if len(candidates) == 1:
        return candidates[0]  # picking its columns raises the precise error
    listing = "; ".join(f"{c.where}: {c.listing()}" for c in candidates)
    raise ScienceReadError(f"{path}: no table HDU has the time and flux columns (looked for "
                           f"time in {', '.join(TIME_NAMES)} and flux in "
                           f"{', '.join(FLUX_NAMES)}): {listing}; pass time= and flux=")


def _columns_from_hdu(hdul: fits.HDUList, index: int, path: Path) -> Columns:
    """A table HDU's columns, with the time keywords of the primary header and its own."""
    hdu = hdul[index]
    data = hdu.data
    names = list(hdu.columns.names) if hdu.columns else []
    values = [np.array(data[n]) if data is not None else np.zeros(0) for n in names]
    keywords: dict[str, str] = {}
    for header in (hdul[0].header, hdu.header):
        keywords.update({k: str(header[k]) for k in TIME_KEYWORDS if k in header})
    return Columns(names, values, not _looks_unnamed(names), f"{path} [HDU {index} {hdu.name!r}]",
                    keywords)

