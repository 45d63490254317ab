"""The columns of a science table and which of them hold the time, flux and error.

Holds `Columns` (a table's columns as read, in any format), the names tried
for each role (`TIME_NAMES`, `FLUX_NAMES`, `ERROR_NAMES`), the choice of a
column by name, 0-based index, known name, the words of its name or position
(`pick`), the conversion of the chosen columns to float64 (text that should
be numbers, masked entries, astropy Time columns), and `pick_series`, which
turns a table's `Columns` into the `ReadSeries` every reader hands on for the
checks and the clock decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.time import Time

from .science_clocks import TIME_NAME_TOKEN, TimeColumn
from .science_errors import ScienceReadError

__all__ = ["ERROR_NAMES", "FLUX_NAMES", "TIME_NAMES", "ColumnSpec", "Columns", "ReadSeries",
           "pick", "pick_series", "time_values"]

#: how a caller names a column: a name (case-insensitive), a 0-based index, or None (guess)
ColumnSpec = str | int | None

#: time column names tried in this order (case-insensitive) when ``time`` is not given
TIME_NAMES = ("bjd_tdb", "bjd", "bmjd_tdb", "bmjd", "bjdtdb", "time_bjd", "bjd_time",
              "int_mid_bjd_tdb", "time", "times", "mjd", "mjd_utc", "mjd_tdb", "jd", "jd_utc",
              "jd_tdb", "bjd_utc", "t", "hjd", "hjd_utc", "hjd_tdb")  # HJD only to refuse it
#: flux column names tried in this order when ``flux`` is not given
FLUX_NAMES = ("flux", "rel_flux", "relative_flux", "white_flux", "white_light", "norm_flux",
              "normalized_flux", "flux_norm", "pdcsap_flux", "sap_flux", "lc", "f")
#: error column names tried in this order when ``error`` is not given
ERROR_NAMES = ("error", "err", "flux_err", "flux_error", "rel_flux_err", "relative_flux_err",
               "white_flux_err", "flux_unc", "uncertainty", "sigma", "ferr", "pdcsap_flux_err",
               "sap_flux_err", "errors", "e")

#: words of a column name that make it an error column
_ERROR_WORDS = ("err", "error", "errors", "unc", "uncertainty", "sigma", "e")


@dataclass
class Columns:
    """A table's columns as read: names, one array (or astropy Time) per column."""

    names: list[str]
    values: list[Any]
    named: bool
    where: str
    keywords: dict[str, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """The number of data rows (0 for a table without columns)."""
        return len(self.values[0]) if self.values else 0

    def label(self, index: int) -> str:
        """How messages name a column: ``column 'bjd'`` or ``column 0``."""
        return f"column {self.names[index]!r}" if self.named else f"column {index}"

    def used(self, index: int) -> str:
        """The name recorded in `ScienceInput.columns`."""
        return self.names[index] if self.named else f"column {index}"

    def listing(self) -> str:
        """The columns and their kinds, for messages."""
        shown = [f"{self.names[i]!r} ({_kind(v)})" if self.named else f"{i} ({_kind(v)})"
                 for i, v in enumerate(self.values[:30])]
        more = f", … ({len(self.values)} in all)" if len(self.values) > 30 else ""
        if not shown:
            return "none"
        return ", ".join(shown) + more + ("" if self.named else " (no header: unnamed)")


@dataclass
class ReadSeries:
    """A series read from its source, before the checks and the clock decision."""

    time: TimeColumn
    flux: np.ndarray
    error: np.ndarray | None
    columns: dict[str, str]
    notes: list[str]
    int_times: pd.DataFrame | None = None  # a JWST file's matched INT_TIMES (MJD UTC)


def pick_series(cols: Columns, time: ColumnSpec, flux: ColumnSpec,
                error: ColumnSpec) -> ReadSeries:
    """Pick the time, flux and error columns of a table and read them as float64.

    Parameters
    ----------
    cols : Columns
        The table, in any source format.
    time, flux, error : str, int or None
        `read_science`'s column choices: a name (case-insensitive), a 0-based
        index, or None to use the first known name (`TIME_NAMES`...), else the
        words of the names, else (unnamed tables) columns 0, 1 and 2.  The
        error column is optional.

    Returns
    -------
    ReadSeries
        The time column (with what its name, Time type and the table's keywords
        state) for the clock decision, the flux and error, the columns used,
        and notes on how they were picked.

    Raises
    ------
    ScienceReadError
        If the table has fewer than 2 rows or no numeric column, a column is
        absent, out of range, not numeric, or picked for two roles.
    """
    if cols.n_rows < 2:
        raise ScienceReadError(f"{cols.where}: has {cols.n_rows} data row(s); a time series "
                               "needs at least 2")
    if not any(_is_numeric(v) for v in cols.values):
        raise ScienceReadError(f"{cols.where}: has no numeric column; its columns are: "
                               f"{cols.listing()}")
    ti = pick(cols, "time", time, TIME_NAMES, 0)
    fi = pick(cols, "flux", flux, FLUX_NAMES, 1)
    ei = pick(cols, "error", error, ERROR_NAMES, 2, required=False)
    picked = [i for i in (ti, fi, ei) if i is not None]
    if len(set(picked)) != len(picked):
        raise ScienceReadError(f"{cols.where}: the same column is picked for two roles "
                               f"(time {cols.label(ti)}, flux {cols.label(fi)}"
                               f"{'' if ei is None else ', error ' + cols.label(ei)}); "
                               "pass time=, flux=, error= explicitly")
    times, time_info, notes = time_values(cols, ti)
    flux_values = _to_float(cols, fi, "flux")
    error_values = None if ei is None else _to_float(cols, ei, "error")
    columns = {"time": cols.used(ti), "flux": cols.used(fi)}
    for role, index, spec, known in (("time", ti, time, TIME_NAMES),
                                     ("flux", fi, flux, FLUX_NAMES),
                                     ("error", ei, error, ERROR_NAMES)):
        if spec is None and index is not None and cols.named and (
                cols.names[index].lower() not in known):
            notes.append(f"{role} column {cols.names[index]!r} picked by the words of its "
                         f"name; pass {role}= to choose another")
    if ei is None:
        notes.append(_no_error_note(cols))
    else:
        columns["error"] = cols.used(ei)
    clock_input = TimeColumn(times, cols.label(ti), cols.names[ti] if cols.named else None,
                             cols.where, time_info, cols.keywords)
    return ReadSeries(clock_input, flux_values, error_values, columns, notes)


def pick(cols: Columns, role: str, spec: ColumnSpec, names: tuple[str, ...], position: int,
         required: bool = True) -> int | None:
    """Index of the column for `role`: as asked, else by name, else by position.

    Parameters
    ----------
    cols : Columns
        The table.
    role : str
        "time", "flux" or "error", for messages and the words of names.
    spec : str, int or None
        The caller's choice: a name (exact, else case-insensitive), a 0-based
        index, or None.
    names : tuple of str
        Known lower-case names for the role, tried in order when `spec` is None.
    position : int
        The column an unnamed (headerless) table uses for the role.
    required : bool, optional
        If False, a missing column gives None instead of an error.

    Returns
    -------
    int or None
        The column's index, or None when not required and not found.

    Raises
    ------
    ScienceReadError
        If `spec` is neither a name nor an index, names no column, is out of
        range, or (required) no column is found.
    """
    if spec is None:
        return _default_column(cols, role, names, position, required)
    if isinstance(spec, bool) or not isinstance(spec, (str, int, np.integer)):
        raise ScienceReadError(f"{role}={spec!r}: give a column name or a 0-based column index")
    if isinstance(spec, str):
        lower = [n.lower() for n in cols.names]
        if spec in cols.names:
            return cols.names.index(spec)
        if spec.lower() in lower:
            return lower.index(spec.lower())
        raise ScienceReadError(f"{cols.where}: has no column named {spec!r} (asked for as "
                               f"{role}); its columns are: {cols.listing()}")
    index = int(spec)
    if not 0 <= index < len(cols.names):
        raise ScienceReadError(f"{cols.where}: {role}={index} is out of range: it has "
                               f"{len(cols.names)} columns: {cols.listing()}")
    return index


def _default_column(cols: Columns, role: str, names: tuple[str, ...], position: int,
                    required: bool) -> int | None:
    if cols.named:
        lower = [n.lower() for n in cols.names]
        for candidate in names:
            if candidate in lower:
                return lower.index(candidate)
        by_words = [i for i, name in enumerate(cols.names)
                    if _is_numeric(cols.values[i]) and _role_by_words(name) == role]
        if by_words:
            return by_words[0]
        if not required:
            return None
        raise ScienceReadError(f"{cols.where}: found no {role} column (looked for "
                               f"{', '.join(names)}); its columns are: {cols.listing()}; pass "
                               f"{role}= with a column name or 0-based index")
    if position < len(cols.names) and (required or _is_numeric(cols.values[position])):
        return position
    if not required:
        return None
    raise ScienceReadError(f"{cols.where}: has {len(cols.names)} unnamed column(s), so no "
                           f"column {position} for the {role}; pass {role}= with a 0-based "
                           "column index")


def _role_by_words(name: str) -> str | None:
    """The role a column name's words suggest: ``flux_ppm`` -> flux, ``bjd_err`` -> error."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
    if any(w in _ERROR_WORDS or w.endswith("err") for w in words):
        return "error"
    if any(w in ("time", "times", "t") or ((m := TIME_NAME_TOKEN.fullmatch(w)) and m.group(1))
           for w in words):
        return "time"
    if any(w.startswith("flux") or w in ("lc", "white") for w in words):
        return "flux"
    return None


def _no_error_note(cols: Columns) -> str:
    if cols.named:
        return (f"no error column (looked for {', '.join(ERROR_NAMES[:6])}...): error set to "
                "NaN; pass error= to name one")
    return (f"no numeric error column 2 (the table has {len(cols.names)} column(s)): error set "
            "to NaN; pass error= to name one")


def _kind(value: Any) -> str:
    if isinstance(value, Time):
        return f"time, {value.format}/{value.scale}"
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return type(value).__name__
    if getattr(value, "ndim", 1) > 1:
        return f"vector {tuple(value.shape[1:])}"
    if dtype.kind in "iuf":
        return "number"
    if dtype.kind in "OUST":
        return "text"
    return str(dtype)


def _is_numeric(value: Any) -> bool:
    if isinstance(value, Time):
        return True
    dtype = getattr(value, "dtype", None)
    return dtype is not None and dtype.kind in "iuf" and getattr(value, "ndim", 1) == 1


def _to_float(cols: Columns, index: int, role: str) -> np.ndarray:
    """A column as a new float64 array (masked entries NaN)."""
    value = cols.values[index]
    label = f"{cols.where}: the {role} {cols.label(index)}"
    if isinstance(value, Time):
        raise ScienceReadError(f"{label} holds times, not numbers; pick another {role} column")
    if isinstance(value, u.Quantity):
        value = value.value
    if getattr(value, "dtype", None) is None:
        raise ScienceReadError(f"{label} is a {type(value).__name__}, not numbers")
    mask = np.ma.getmaskarray(value)
    data = np.asarray(np.ma.getdata(value))
    if data.ndim != 1:
        raise ScienceReadError(f"{label} has shape {data.shape}, not one number per row; pick "
                               f"a 1-D column ({role}=)")
    if data.dtype.kind in "iuf":
        out = data.astype(np.float64)
    elif data.dtype.kind in "OUS":
        out = _parse_numbers(data, label, role)
    else:
        raise ScienceReadError(f"{label} is not numeric (dtype {data.dtype}); pick a numeric "
                               f"column ({role}=)")
    out[mask] = np.nan
    return out


def _parse_numbers(data: np.ndarray, label: str, role: str) -> np.ndarray:
    """Text that should be numbers (a pandas object column): numbers, or an error naming a row."""
    series = pd.Series(data, dtype=object)
    numbers = pd.to_numeric(series, errors="coerce")
    blank = series.isna() | series.astype(str).str.strip().str.lower().isin(["", "nan", "none"])
    bad = numbers.isna().to_numpy() & ~blank.to_numpy()
    if bad.all():
        raise ScienceReadError(f"{label} is not numeric (it holds text such as {data[0]!r}); "
                               f"pick a numeric column ({role}=)")
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ScienceReadError(f"{label} is not numeric at row {row} (counting data rows from "
                               f"0): {data[row]!r}")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def time_values(cols: Columns, index: int) -> tuple[np.ndarray, tuple[str, str] | None,
                                                     list[str]]:
    """The time column as float64, an astropy Time column's (format, scale), and notes.

    Parameters
    ----------
    cols : Columns
        The table.
    index : int
        The time column's index.

    Returns
    -------
    values : numpy.ndarray
        float64 day counts (masked entries NaN); an astropy Time column in a
        format other than JD or MJD is converted to MJD.
    time_info : tuple of str or None
        An astropy Time column's ('jd' or 'mjd', scale); None for numbers.
    notes : list of str
        Says so when a Time column was converted to MJD.

    Raises
    ------
    ScienceReadError
        If the column is not numeric, or a Time in the 'local' scale.
    """
    value = cols.values[index]
    if not isinstance(value, Time):
        return _to_float(cols, index, "time"), None, []
    label = cols.label(index)
    if value.scale == "local":
        raise ScienceReadError(f"{cols.where}: the time {label} is an astropy Time in the "
                               "'local' scale, which has no relation to UTC; give it a real "
                               "scale (utc, tdb...)")
    notes = []
    fmt = value.format
    if fmt not in ("jd", "mjd"):
        notes.append(f"time {label} is an astropy Time in format {fmt!r}: read as MJD "
                     f"({value.scale.upper()})")
        fmt = "mjd"
    numbers = getattr(value, fmt)
    numbers = np.array(getattr(numbers, "unmasked", numbers), dtype=np.float64).reshape(-1)
    if value.masked:
        numbers[np.asarray(value.mask).reshape(-1)] = np.nan
    return numbers, (fmt, value.scale), notes
