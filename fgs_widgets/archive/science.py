"""Read a user's science time series (a JWST exoplanet light curve) into `ScienceInput`.

`read_science` returns the series as its source gives it -- its own clock,
untouched -- together with what can be told about that clock (JD or MJD, the
time scale, barycentric or not) and notes saying how that was decided.
Putting it on the observatory's UTC clock is `fgs_widgets.engine.timesystems`'
job, not this module's.

Sources: whitespace-separated ``.dat``/``.txt`` tables (with or without a
header line, ``#`` comments allowed), CSV, ECSV (astropy ``Time`` columns keep
their own format and scale), FITS tables (the first table HDU holding the
columns), `astropy.table.Table` and `pandas.DataFrame` objects, and JWST
``*_x1dints``, ``*_calints`` and ``*_rateints`` files, whose times come from
their ``INT_TIMES`` extension matched to the file's integrations by number.

FITS files are read with astropy.io.fits alone (no jwst pipeline, no
stdatamodels).  Rows are never dropped: a row with NaN flux is kept (the fit
downstream skips it) and counted in a note.

Time system
-----------
`read_science` decides each part of the time system by the first rule that says anything:

* day count: an explicit ``time_format``, else an astropy Time column's own
  format (other formats are converted to MJD), else the values: all above
  2,400,000 is JD, all within 50,000–100,000 is MJD (anything else is an
  error: add back offsets such as BJD − 2,450,000 first).  A name that
  disagrees with the values is noted (JWST's ``*_BJD_TDB`` columns hold
  MJD-style values, BJD − 2400000.5).
* barycentric: a b-form ``time_format``; else the column name (``bjd``,
  ``bmjd``, ``bary`` mean yes; ``jd``, ``mjd`` mean no); else a FITS/table
  keyword ``TREFPOS``/``TIMEREF`` (BARYCENTER, SOLARSYSTEM mean yes); else
  an astropy Time column in the TDB or TCB scale is taken as barycentric
  (the light-curve convention, noted); else any stated scale or plain
  ``time_format`` means not barycentric (a TDB scale alone does not say
  barycentric: pass ``time_format="bjd"``); else, with nothing stated, the
  times are taken as BJD_TDB / BMJD_TDB, the usual for light curves, and a
  note says so.
* scale: ``time_scale``, else the column name (``_tdb``, ``_utc``...), else
  the Time column's scale, else a ``TIMESYS`` keyword, else TDB for
  barycentric times and UTC otherwise (noted).

JWST files: ``int_times`` holds the matched ``INT_TIMES`` rows' MJD UTC
start/mid/end; rows are matched through ``integration_number`` to the
file's integrations (the spectra's ``INT_NUM``, or ``INTSTART``..``INTEND``
of the primary header), and any integration without a row raises.  The
time is ``int_mid_BJD_TDB`` (stdatamodels' ``int_times`` schema gives only
float64 columns; JWST fills them MJD-style, BJD − 2400000.5, so the values
make them BMJD_TDB), or ``int_mid_MJD_UTC`` when the BJD column is not
filled; ``time=`` picks another ``INT_TIMES`` column.  The
flux is a crude white light over the same wavelengths or pixels in every
integration (one lost in a single integration would be a fake dip): for
x1dints the sum of each integration's FLUX over the wavelengths finite in
all of them (error: root sum of FLUX_ERROR² over the same), from the first
EXTRACT1D extension (one row per integration) or, in the older layout, the
EXTRACT1D extensions of the first one's spectral order (one per
integration); for calints/rateints the sum of each SCI image over the
pixels finite and without DQ bit 0 (DO_NOT_USE) in all of them, error the
root sum of ERR² over them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from ..data import ScienceInput

__all__ = ["ERROR_NAMES", "FLUX_NAMES", "TIME_NAMES", "ScienceReadError", "read_science"]

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

JD_MIN = 2_400_000.0  #: time values above this are JD
MJD_MIN, MJD_MAX = 50_000.0, 100_000.0  #: time values in this range are MJD
_SCALES = ("tdb", "utc", "tt", "tai", "tcb", "tcg", "ut1")
_BARYCENTRIC_SCALES = ("tdb", "tcb")
_TIME_KEYWORDS = ("TIMESYS", "TIMEREF", "TREFPOS")
_BARYCENTRIC_REFS = ("BARYCENTER", "BARYCENTRE", "BARYCENTRIC", "SOLARSYSTEM", "SOLAR SYSTEM")
_ERROR_WORDS = ("err", "error", "errors", "unc", "uncertainty", "sigma", "e")
_NAME_TOKEN = re.compile(r"(bmjd|mbjd|bjd|hmjd|hjd|mjd|jd)?(tdb|utc|tt|tai|tcb|tcg|ut1)?")
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
_TEXT_SUFFIXES = {".csv": "csv", ".dat": "whitespace", ".txt": "whitespace",
                  ".tbl": "whitespace", ".ascii": "whitespace", ".tsv": "whitespace"}
_JWST_SUFFIXES = ("_x1dints", "_calints", "_rateints")
_INT_TIMES_REQUIRED = ("integration_number", "int_start_mjd_utc", "int_mid_mjd_utc",
                       "int_end_mjd_utc")
_DEFAULT_JWST_TIME = "int_mid_bjd_tdb"
DO_NOT_USE = 1  #: JWST DQ bit 0
_CHUNK = 8  #: integrations of a calints/rateints cube summed at a time
_CROSS_CHECK_DAYS = 1e-6  #: allowed MJD-AVG vs INT_TIMES disagreement (0.09 s)
_WHITE_LIGHT = ("a crude white light (every valid pixel), for timing and systematics, "
                "not for science")


class ScienceReadError(ValueError):
    """A science time series could not be read; the message names the file or column,
    what was found, and what to do."""


# -- the request and the table in between ---------------------------------------------------


@dataclass(frozen=True)
class _Request:
    """`read_science`'s arguments, checked: time_format as 'jd'/'mjd' plus a barycentric flag."""

    time: ColumnSpec
    flux: ColumnSpec
    error: ColumnSpec
    time_format: str | None
    barycentric: bool | None
    time_scale: str | None


@dataclass
class _Columns:
    """A table's columns as read: names, one array (or astropy Time) per column."""

    names: list[str]
    values: list[Any]
    named: bool
    where: str
    keywords: dict[str, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
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


@dataclass(frozen=True)
class _TimeColumn:
    """What the time system is decided from: the values and what states anything about them."""

    values: np.ndarray
    label: str
    name: str | None
    where: str
    time_info: tuple[str, str] | None = None  # an astropy Time column's (format, scale)
    keywords: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Clock:
    time_format: str
    time_scale: str
    barycentric: bool
    notes: tuple[str, ...]


@dataclass
class _Read:
    """A series read from its source, before the checks and the clock decision."""

    time: _TimeColumn
    flux: np.ndarray
    error: np.ndarray | None
    columns: dict[str, str]
    notes: list[str]
    int_times: pd.DataFrame | None = None


@dataclass
class _WhiteLight:
    """A JWST file's per-integration white light and the integration numbers of its rows."""

    numbers: np.ndarray
    flux: np.ndarray
    error: np.ndarray | None
    columns: dict[str, str]
    detail: str
    notes: list[str]
    mid_mjd: np.ndarray | None = None  # the spectra's own MJD-AVG, to cross-check


# -- public entry point ---------------------------------------------------------------------


def read_science(source: str | os.PathLike[str] | Table | pd.DataFrame, *,
                 time: ColumnSpec = None, flux: ColumnSpec = None, error: ColumnSpec = None,
                 time_format: str | None = None, time_scale: str | None = None) -> ScienceInput:
    """Read a science time series (a light curve) as its source gives it.

    Parameters
    ----------
    source : str, path-like, astropy.table.Table or pandas.DataFrame
        A whitespace-separated ``.dat``/``.txt`` table (header line optional;
        ``#`` comments allowed; a last comment line right above the data that
        names every column, one of them a known name, is taken as the header),
        a ``.csv``, an ``.ecsv``, a FITS table (the first table HDU holding the
        columns), a JWST ``*_x1dints``/``*_calints``/``*_rateints`` file, or an
        in-memory table.  Files of another suffix are sniffed (FITS, ECSV, CSV
        or whitespace text).
    time, flux, error : str or int, optional
        Column names (case-insensitive) or 0-based indices.  By default the
        first of `TIME_NAMES`, `FLUX_NAMES`, `ERROR_NAMES` present is used; a
        table without column names (no header) uses columns 0, 1 and 2.  The
        error is optional: without one it is all NaN (with a note).  For JWST
        files `time` picks an ``INT_TIMES`` column (default
        ``int_mid_BJD_TDB``); `flux` and `error` cannot be given (the flux is
        the white light computed from the file).
    time_format : {"jd", "mjd", "bjd", "bmjd"}, optional
        How the time values count days; the b-forms also say the times are
        barycentric.  A plain "jd"/"mjd" states only the day count: the times
        are then barycentric only if the column name or a header keyword says
        so.
    time_scale : str, optional
        The astropy time scale ("tdb", "utc", "tt", ...).

    Returns
    -------
    ScienceInput
        float64 `time`, `flux`, `error` with every input row, in input order.

    Raises
    ------
    ScienceReadError
        (a ValueError) if the file is missing or unreadable, a column is
        absent or not numeric, there are fewer than 2 rows, a time is NaN or
        not after the previous row's, the flux is NaN in every row, or a JWST
        file's integrations have no ``INT_TIMES`` rows.

    Notes
    -----
    The time-system and JWST rules are in the module docstring
    (``help(fgs_widgets.archive.science)``).
    """
    request = _request(time, flux, error, time_format, time_scale)
    if isinstance(source, Table):
        return _from_columns(_columns_from_table(source, "astropy Table"), request,
                             "astropy Table")
    if isinstance(source, pd.DataFrame):
        return _from_columns(_columns_from_frame(source, "pandas DataFrame"), request,
                             "pandas DataFrame")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a path, an astropy Table or a pandas DataFrame, "
                        f"not {type(source).__name__}")
    path = _existing(source)
    kind = _kind_of(path)
    if kind == "fits":
        return _read_fits(path, request)
    columns = _read_ecsv(path) if kind == "ecsv" else _read_text(path, kind)
    return _from_columns(columns, request, str(path))


def _request(time: ColumnSpec, flux: ColumnSpec, error: ColumnSpec, time_format: str | None,
             time_scale: str | None) -> _Request:
    forms = {"jd": ("jd", None), "mjd": ("mjd", None), "bjd": ("jd", True),
             "bmjd": ("mjd", True)}
    fmt = barycentric = scale = None
    if time_format is not None:
        key = str(time_format).strip().lower()
        if key not in forms:
            raise ScienceReadError(f"time_format={time_format!r} is not one of 'jd', 'mjd', "
                                   "'bjd', 'bmjd' (the b-forms mean barycentric)")
        fmt, barycentric = forms[key]
    if time_scale is not None:
        scale = str(time_scale).strip().lower()
        if scale not in _SCALES:
            raise ScienceReadError(f"time_scale={time_scale!r} is not an astropy time scale; "
                                   f"use one of {', '.join(_SCALES)}")
    return _Request(time, flux, error, fmt, barycentric, scale)


# -- from columns to ScienceInput -----------------------------------------------------------


def _from_columns(cols: _Columns, request: _Request, source: str) -> ScienceInput:
    """Pick the time, flux and error columns of a table and build the `ScienceInput`."""
    if cols.n_rows < 2:
        raise ScienceReadError(f"{cols.where}: has {cols.n_rows} data row(s); a time series "
                               "needs at least 2")
    if not any(_is_numeric(v) for v in cols.values):
        raise ScienceReadError(f"{cols.where}: has no numeric column; its columns are: "
                               f"{cols.listing()}")
    ti = _pick(cols, "time", request.time, TIME_NAMES, 0)
    fi = _pick(cols, "flux", request.flux, FLUX_NAMES, 1)
    ei = _pick(cols, "error", request.error, ERROR_NAMES, 2, required=False)
    picked = [i for i in (ti, fi, ei) if i is not None]
    if len(set(picked)) != len(picked):
        raise ScienceReadError(f"{cols.where}: the same column is picked for two roles "
                               f"(time {cols.label(ti)}, flux {cols.label(fi)}"
                               f"{'' if ei is None else ', error ' + cols.label(ei)}); "
                               "pass time=, flux=, error= explicitly")
    time_values, time_info, notes = _time_values(cols, ti)
    flux_values = _to_float(cols, fi, "flux")
    error_values = None if ei is None else _to_float(cols, ei, "error")
    columns = {"time": cols.used(ti), "flux": cols.used(fi)}
    for role, index, spec, known in (("time", ti, request.time, TIME_NAMES),
                                     ("flux", fi, request.flux, FLUX_NAMES),
                                     ("error", ei, request.error, ERROR_NAMES)):
        if spec is None and index is not None and cols.named and (
                cols.names[index].lower() not in known):
            notes.append(f"{role} column {cols.names[index]!r} picked by the words of its "
                         f"name; pass {role}= to choose another")
    if ei is None:
        notes.append(_no_error_note(cols))
    else:
        columns["error"] = cols.used(ei)
    clock_input = _TimeColumn(time_values, cols.label(ti), cols.names[ti] if cols.named else None,
                              cols.where, time_info, cols.keywords)
    return _finish(_Read(clock_input, flux_values, error_values, columns, notes), request,
                   source)


def _finish(read: _Read, request: _Request, source: str) -> ScienceInput:
    """Check the series, decide its clock and build the `ScienceInput`."""
    column = read.time
    _check_times(column)
    if np.isnan(read.flux).all():
        raise ScienceReadError(f"{column.where}: the flux ({read.columns['flux']}) is NaN in "
                               f"every one of its {len(read.flux)} rows; nothing to fit (for a "
                               "table, pick another flux column with flux=)")
    clock = _decide_clock(column, request)
    error = read.error if read.error is not None else np.full(len(read.flux), np.nan)
    notes = [*read.notes, *clock.notes, *_nan_notes(read.flux, read.error)]
    return ScienceInput(time=column.values, flux=read.flux, error=error,
                        time_format=clock.time_format, time_scale=clock.time_scale,
                        barycentric=clock.barycentric, int_times=read.int_times,
                        columns=dict(read.columns), source=source, notes=tuple(notes))


def _pick(cols: _Columns, role: str, spec: ColumnSpec, names: tuple[str, ...], position: int,
          required: bool = True) -> int | None:
    """Index of the column for `role`: as asked, else by name, else by position."""
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


def _default_column(cols: _Columns, role: str, names: tuple[str, ...], position: int,
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
    if any(w in ("time", "times", "t") or ((m := _NAME_TOKEN.fullmatch(w)) and m.group(1))
           for w in words):
        return "time"
    if any(w.startswith("flux") or w in ("lc", "white") for w in words):
        return "flux"
    return None


def _no_error_note(cols: _Columns) -> str:
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


def _to_float(cols: _Columns, index: int, role: str) -> np.ndarray:
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


def _time_values(cols: _Columns, index: int) -> tuple[np.ndarray, tuple[str, str] | None,
                                                      list[str]]:
    """The time column as float64, an astropy Time column's (format, scale), and notes."""
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


def _check_times(column: _TimeColumn) -> None:
    """Every row has a time, each after the previous one."""
    values = column.values
    missing = np.flatnonzero(~np.isfinite(values))
    if missing.size:
        raise ScienceReadError(f"{column.where}: the time {column.label} has no value (NaN) in "
                               f"{missing.size} row(s): {_rows(missing)} (counting data rows "
                               "from 0); every row needs a time")
    back = np.flatnonzero(np.diff(values) <= 0)
    if back.size:
        row = int(back[0]) + 1
        raise ScienceReadError(f"{column.where}: the time {column.label} is not strictly "
                               f"increasing: row {row} ({float(values[row])!r}) is not after "
                               f"row {row - 1} ({float(values[row - 1])!r}), counting data rows "
                               "from 0 "
                               f"({back.size} such row(s)); sort the rows by time and remove "
                               "duplicates first")


def _nan_notes(flux: np.ndarray, error: np.ndarray | None) -> list[str]:
    notes = []
    bad = np.flatnonzero(np.isnan(flux))
    if bad.size:
        notes.append(f"{bad.size} row(s) have NaN flux ({_rows(bad)}, counting from 0): kept; "
                     "the fit skips them")
    if error is not None:
        bad = np.flatnonzero(np.isnan(error) & ~np.isnan(flux))
        if bad.size:
            notes.append(f"{bad.size} row(s) with a flux have a NaN error ({_rows(bad)})")
    return notes


def _rows(indices: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    return shown + (", …" if len(indices) > limit else "")


def _ranges(numbers: np.ndarray, limit: int = 8) -> str:
    """Integers as ranges: ``1–10, 12, 15–20``."""
    values = np.unique(np.asarray(numbers, dtype=np.int64))
    if values.size == 0:
        return "none"
    breaks = np.flatnonzero(np.diff(values) != 1) + 1
    groups = [(int(g[0]), int(g[-1])) for g in np.split(values, breaks)]
    text = [f"{a}" if a == b else f"{a}–{b}" for a, b in groups[:limit]]
    return ", ".join(text) + (", …" if len(groups) > limit else "")


# -- the time system ------------------------------------------------------------------------


def _stated_by_name(column: _TimeColumn) -> tuple[bool | None, str | None, str | None]:
    """(barycentric, day count, scale) a column name states: ``bjd_tdb`` -> (True, jd, tdb)."""
    if not column.name:
        return None, None, None
    barycentric = fmt = scale = None
    for token in re.split(r"[^a-z0-9]+", column.name.lower()):
        if token in ("bary", "barycentric", "barycentre", "barycenter"):
            barycentric = True
            continue
        match = _NAME_TOKEN.fullmatch(token)
        if not match or not any(match.groups()):
            continue
        kind, token_scale = match.groups()
        if kind in ("hjd", "hmjd"):
            raise ScienceReadError(f"{column.where}: the time {column.label} is heliocentric "
                                   "(HJD), which is not supported; convert it to BJD_TDB first")
        if kind:
            fmt = "mjd" if "m" in kind else "jd"
            if "b" in kind:
                barycentric = True
            elif barycentric is None:
                barycentric = False
        scale = token_scale or scale
    return barycentric, fmt, scale


def _stated_by_keywords(keywords: dict[str, str]) -> tuple[bool | None, str | None]:
    """(barycentric, scale) from TREFPOS/TIMEREF and TIMESYS keywords."""
    reference = (keywords.get("TREFPOS") or keywords.get("TIMEREF") or "").strip().upper()
    barycentric = (reference in _BARYCENTRIC_REFS) if reference else None
    system = (keywords.get("TIMESYS") or "").strip().lower()
    return barycentric, (system if system in _SCALES else None)


def _format_of_values(values: np.ndarray) -> str | None:
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite > JD_MIN):
        return "jd"
    if finite.size and np.all((finite >= MJD_MIN) & (finite <= MJD_MAX)):
        return "mjd"
    return None


def _sample(values: np.ndarray) -> str:
    return f"{values[0]:.6f} … {values[-1]:.6f}"


def _decide_clock(column: _TimeColumn, request: _Request) -> _Clock:
    """The time system of the time column (the rules are in the module docstring)."""
    name_bary, name_fmt, name_scale = _stated_by_name(column)
    key_bary, key_scale = _stated_by_keywords(column.keywords)
    notes: list[str] = []
    fmt = _decide_format(column, request, name_fmt, name_bary, notes)
    info_scale = column.time_info[1] if column.time_info else None
    stated_scale = request.time_scale or name_scale or key_scale
    barycentric = _decide_barycentric(column, request, (name_bary, key_bary), stated_scale,
                                      fmt, notes)
    if barycentric is None:
        kind = "BJD" if fmt == "jd" else "BMJD"
        notes.append(f"time {column.label} has {fmt.upper()}-like values with no stated time "
                     f"system: taken as {kind}_TDB (the usual for light curves); pass "
                     f"time_scale='utc' and a plain time_format ('{fmt}') if they are not "
                     "barycentric")
        return _Clock(fmt, "tdb", True, tuple(notes))
    scale = request.time_scale or name_scale or info_scale or key_scale
    if scale is None:
        scale = "tdb" if barycentric else "utc"
        notes.append(f"time {column.label} states no time scale: taken as {scale.upper()}"
                     f"{'' if barycentric else ', not barycentric'}; pass time_scale= if it "
                     "is another")
    return _Clock(fmt, scale, barycentric, tuple(notes))


def _decide_format(column: _TimeColumn, request: _Request, name_fmt: str | None,
                   name_bary: bool | None, notes: list[str]) -> str:
    """'jd' or 'mjd': as asked, else an astropy Time's format, else by the values."""
    by_values = _format_of_values(column.values)
    if request.time_format:
        if by_values and by_values != request.time_format:
            raise ScienceReadError(f"{column.where}: time_format={request.time_format!r} but "
                                   f"the time {column.label} values ({_sample(column.values)}) "
                                   f"look like {by_values.upper()}; pass "
                                   f"time_format='{by_values}'")
        if by_values is None:
            notes.append(f"time {column.label} values ({_sample(column.values)}) are outside "
                         "the usual JD (> 2,400,000) and MJD (50,000–100,000) ranges; read as "
                         f"{request.time_format.upper()} as asked")
        return request.time_format
    if column.time_info is not None:
        return column.time_info[0]
    if by_values is None:
        raise ScienceReadError(f"{column.where}: the time {column.label} values "
                               f"({_sample(column.values)}) look neither like JD "
                               "(> 2,400,000) nor MJD (50,000–100,000); if they are offset "
                               "(BJD − 2,450,000, TESS's BJD − 2,457,000...) add the offset "
                               "back first")
    if name_fmt and name_fmt != by_values:
        if name_bary and by_values == "mjd":
            notes.append(f"time {column.label} is named BJD but holds MJD-style values "
                         "(BJD − 2400000.5, as JWST's INT_TIMES does): read as BMJD")
        else:
            notes.append(f"time {column.label} is named {name_fmt.upper()} but holds "
                         f"{by_values.upper()}-like values: read as {by_values.upper()}")
    return by_values


def _decide_barycentric(column: _TimeColumn, request: _Request,
                        stated: tuple[bool | None, bool | None], stated_scale: str | None,
                        fmt: str, notes: list[str]) -> bool | None:
    """True/False, or None when nothing states anything (the caller assumes BJD_TDB)."""
    name_bary, key_bary = stated
    if request.barycentric:
        return True
    if name_bary is not None:
        return name_bary
    if key_bary is not None:
        return key_bary
    if column.time_info is not None:
        scale = column.time_info[1]
        if scale in _BARYCENTRIC_SCALES and request.time_format is None:
            notes.append(f"time {column.label} is an astropy Time in the {scale.upper()} scale: "
                         f"taken as barycentric ({'B' if fmt == 'jd' else 'BM'}JD_"
                         f"{scale.upper()}), the convention for light curves; pass "
                         f"time_format='{fmt}' with time_scale='{scale}' if it is not")
            return True
        return False
    if request.time_format or stated_scale:
        if stated_scale in _BARYCENTRIC_SCALES:
            notes.append(f"time {column.label}: the {stated_scale.upper()} scale alone does not "
                         f"say barycentric: taken as {fmt.upper()}_{stated_scale.upper()}, not "
                         f"barycentric; pass time_format='b{fmt}' if it is")
        return False
    return None


# -- files ----------------------------------------------------------------------------------


def _existing(source: str | os.PathLike[str]) -> Path:
    path = Path(os.fspath(source)).expanduser()
    if not path.exists():
        raise ScienceReadError(f"{path}: no such file; check the path (relative paths start "
                               f"at {Path.cwd()})")
    if path.is_dir():
        raise ScienceReadError(f"{path} is a folder; give the light-curve file itself")
    return path


def _kind_of(path: Path) -> str:
    """'fits', 'ecsv', 'csv' or 'whitespace', from the first bytes and the suffix."""
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


def _read_ecsv(path: Path) -> _Columns:
    try:
        table = Table.read(path, format="ascii.ecsv")
    except Exception as exc:  # astropy raises many kinds for a malformed ECSV
        raise ScienceReadError(f"{path}: cannot be read as ECSV: {exc}") from exc
    return _columns_from_table(table, str(path))


def _read_text(path: Path, kind: str) -> _Columns:
    """A CSV or whitespace table, with a header line, a commented header, or none."""
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
    return _columns_from_frame(frame, str(path))


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


def _columns_from_frame(frame: pd.DataFrame, where: str) -> _Columns:
    labels = list(frame.columns)
    values = [_series_values(frame.iloc[:, i]) for i in range(frame.shape[1])]
    return _Columns([str(c) for c in labels], values, not _looks_unnamed(labels), where)


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


def _columns_from_table(table: Table, where: str) -> _Columns:
    names = list(table.colnames)
    keywords = {str(k).upper(): str(v) for k, v in table.meta.items()
                if str(k).upper() in _TIME_KEYWORDS}
    return _Columns(names, [table[n] for n in names], not _looks_unnamed(names), where,
                    keywords)


def _read_fits(path: Path, request: _Request) -> ScienceInput:
    try:
        hdul = fits.open(path, memmap=False)
    except (OSError, ValueError) as exc:
        raise ScienceReadError(f"{path}: not a readable FITS file ({exc})") from exc
    with hdul:
        names = {hdu.name.upper() for hdu in hdul}
        stem = path.name.lower().split(".fit")[0]
        if "INT_TIMES" in names or "EXTRACT1D" in names or stem.endswith(_JWST_SUFFIXES):
            return _read_jwst(hdul, path, request)
        return _read_fits_table(hdul, path, request)


def _read_fits_table(hdul: fits.HDUList, path: Path, request: _Request) -> ScienceInput:
    """The first table HDU that has the time and flux columns."""
    indices = [i for i, hdu in enumerate(hdul)
               if isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)) and hdu.name != "ASDF"]
    if not indices:
        found = ", ".join(f"{i} {h.name!r} ({type(h).__name__})" for i, h in enumerate(hdul))
        raise ScienceReadError(f"{path}: has no table extension (HDUs: {found}); read_science "
                               "reads FITS tables and JWST x1dints/calints/rateints files")
    candidates = [_columns_from_hdu(hdul, i, path) for i in indices]
    for cols in candidates:
        try:
            _pick(cols, "time", request.time, TIME_NAMES, 0)
            _pick(cols, "flux", request.flux, FLUX_NAMES, 1)
        except ScienceReadError:
            continue
        return _from_columns(cols, request, str(path))
    if len(candidates) == 1:
        return _from_columns(candidates[0], request, str(path))  # raises the precise error
    listing = "; ".join(f"{c.where}: {c.listing()}" for c in candidates)
    raise ScienceReadError(f"{path}: no table HDU has the time and flux columns (looked for "
                           f"time in {', '.join(TIME_NAMES)} and flux in "
                           f"{', '.join(FLUX_NAMES)}): {listing}; pass time= and flux=")


def _columns_from_hdu(hdul: fits.HDUList, index: int, path: Path) -> _Columns:
    hdu = hdul[index]
    data = hdu.data
    names = list(hdu.columns.names) if hdu.columns else []
    values = [np.array(data[n]) if data is not None else np.zeros(0) for n in names]
    keywords: dict[str, str] = {}
    for header in (hdul[0].header, hdu.header):
        keywords.update({k: str(header[k]) for k in _TIME_KEYWORDS if k in header})
    return _Columns(names, values, not _looks_unnamed(names), f"{path} [HDU {index} {hdu.name!r}]",
                    keywords)


# -- JWST x1dints / calints / rateints ------------------------------------------------------


def _read_jwst(hdul: fits.HDUList, path: Path, request: _Request) -> ScienceInput:
    """A JWST TSO product: INT_TIMES matched to its integrations, flux a crude white light."""
    where = str(path)
    names = {hdu.name.upper() for hdu in hdul}
    if request.flux is not None or request.error is not None:
        raise ScienceReadError(f"{where} is a JWST time-series product: its flux is the white "
                               "light computed from the file, so flux= and error= cannot be "
                               "given (they name columns of tables)")
    if "INT_TIMES" not in names:
        raise ScienceReadError(f"{where}: a JWST product without an INT_TIMES extension, so "
                               "its integrations have no times; use a file that has one (the "
                               "pipeline carries it from the _uncal file)")
    if "EXTRACT1D" in names:
        white = _x1d_white_light(hdul, where)
    elif "SCI" in names:
        white = _cube_white_light(hdul, where)
    else:
        raise ScienceReadError(f"{where}: has INT_TIMES but neither an EXTRACT1D table nor a "
                               "SCI cube; read_science reads x1dints, calints and rateints")
    if len(white.flux) < 2:
        raise ScienceReadError(f"{where}: holds {len(white.flux)} integration(s); a time "
                               "series needs at least 2")
    times = _int_times_rows(hdul, where, white)
    return _finish(_jwst_read(times, white, request, where), request, where)


def _jwst_read(times: _Columns, white: _WhiteLight, request: _Request, where: str) -> _Read:
    """The time column of the matched INT_TIMES rows, and the white light."""
    lower = [n.lower() for n in times.names]
    spec = request.time
    notes = list(white.notes)
    if spec is None:
        spec = lower.index(_DEFAULT_JWST_TIME) if _DEFAULT_JWST_TIME in lower else None
        if spec is None or not _filled(times.values[spec]):
            spec = lower.index("int_mid_mjd_utc")
            notes.append(f"{where}: INT_TIMES int_mid_BJD_TDB is missing or not filled (zero "
                         "or NaN): time taken from int_mid_MJD_UTC (UTC, not barycentric)")
    ti = _pick(times, "time", spec, (), 0)
    values, info, time_notes = _time_values(times, ti)
    frame = pd.DataFrame({role: np.asarray(times.values[lower.index(f"int_{role}_mjd_utc")],
                                           dtype=np.float64)
                          for role in ("start", "mid", "end")})
    columns = {"time": f"INT_TIMES.{times.names[ti]}", **white.columns}
    column = _TimeColumn(values, times.label(ti), times.names[ti], times.where, info)
    return _Read(column, white.flux, white.error, columns, notes + time_notes, frame)


def _filled(values: np.ndarray) -> bool:
    values = np.asarray(values, dtype=np.float64)
    return bool(np.all(np.isfinite(values)) and np.all(values > 0))


def _int_times_rows(hdul: fits.HDUList, where: str, white: _WhiteLight) -> _Columns:
    """The INT_TIMES rows of the file's integrations, in the file's order."""
    hdu = hdul["INT_TIMES"]
    names = list(hdu.columns.names) if hdu.columns else []
    if hdu.data is None or len(hdu.data) == 0:
        raise ScienceReadError(f"{where}: its INT_TIMES extension has no rows, so no "
                               "integration has a time; use a file with a filled INT_TIMES")
    lower = [n.lower() for n in names]
    missing = [k for k in _INT_TIMES_REQUIRED if k not in lower]
    if missing:
        raise ScienceReadError(f"{where}: INT_TIMES lacks column(s) {', '.join(missing)}; it "
                               f"has {', '.join(names)}")
    listed = np.asarray(hdu.data[names[lower.index("integration_number")]], dtype=np.int64)
    rows = _match_rows(listed, white.numbers, where, white.detail)
    values = [np.asarray(hdu.data[n])[rows] for n in names]
    times = _Columns(names, values, True, f"{where} [INT_TIMES]")
    for key in _INT_TIMES_REQUIRED[1:]:
        column = np.asarray(times.values[lower.index(key)], dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(column))
        if bad.size:
            raise ScienceReadError(f"{where}: INT_TIMES {names[lower.index(key)]} has no value "
                                   f"(NaN) for integration(s) {_ranges(white.numbers[bad])}")
    _cross_check(times.values[lower.index("int_mid_mjd_utc")], white, where)
    white.notes.insert(0, f"INT_TIMES rows matched to integrations {_ranges(white.numbers)} by "
                          f"integration_number ({white.detail}; INT_TIMES lists "
                          f"{_ranges(listed)})")
    return times


def _match_rows(listed: np.ndarray, wanted: np.ndarray, where: str, detail: str) -> np.ndarray:
    """Row of `listed` (INT_TIMES integration_number) for each wanted integration; or raise."""
    values, counts = np.unique(listed, return_counts=True)
    if (counts > 1).any():
        raise ScienceReadError(f"{where}: INT_TIMES lists integration(s) "
                               f"{_ranges(values[counts > 1])} more than once; its rows cannot "
                               "be matched to the integrations")
    order = np.argsort(listed, kind="stable")
    pos = np.clip(np.searchsorted(listed[order], wanted), 0, len(listed) - 1)
    found = listed[order][pos] == wanted
    if not found.all():
        raise ScienceReadError(f"{where}: INT_TIMES has no rows for integration(s) "
                               f"{_ranges(wanted[~found])} of this file ({detail}); it lists "
                               f"integration(s) {_ranges(listed)}. The times cannot be matched "
                               "to the data: use this segment's own file or fix INTSTART/INTEND")
    return order[pos]


def _cross_check(mid_utc: np.ndarray, white: _WhiteLight, where: str) -> None:
    """The spectra's own MJD-AVG (when filled) must agree with the matched INT_TIMES rows."""
    if white.mid_mjd is None or not _filled(white.mid_mjd):
        return
    worst = float(np.max(np.abs(np.asarray(mid_utc, dtype=np.float64) - white.mid_mjd)))
    if worst > _CROSS_CHECK_DAYS:
        raise ScienceReadError(f"{where}: the spectra's MJD-AVG disagree with the INT_TIMES rows "
                               f"matched by integration number (by up to {worst * 86400:.3f} "
                               "s); the file is inconsistent, so its times cannot be trusted")


def _segment_numbers(header: fits.Header, n: int, where: str) -> tuple[np.ndarray, str,
                                                                       list[str]]:
    """Integration numbers INTSTART..INTEND of a file's `n` integrations."""
    start, end = header.get("INTSTART"), header.get("INTEND")
    notes = []
    if start is None:
        start = 1 if end is None else int(end) - n + 1
        notes.append(f"{where}: no INTSTART keyword: its {n} integrations taken as "
                     f"{start}–{start + n - 1}")
    start = int(start)
    if end is not None and int(end) - start + 1 != n:
        raise ScienceReadError(f"{where}: INTSTART={start} and INTEND={end} say "
                               f"{int(end) - start + 1} integration(s) but the file holds {n}; "
                               "cannot tell which INT_TIMES rows belong to them")
    detail = f"INTSTART={start}, INTEND={start + n - 1}"
    return np.arange(start, start + n, dtype=np.int64), detail, notes


def _integration_numbers(int_num: Any, header: fits.Header, n: int,
                         where: str) -> tuple[np.ndarray, str, list[str]]:
    """The spectra's INT_NUM when filled (checked against INTSTART/INTEND), else INTSTART.."""
    if int_num is None or not np.all(np.asarray(int_num) > 0):
        numbers, detail, notes = _segment_numbers(header, n, where)
        return numbers, detail, [*notes, "the spectra's INT_NUM is not filled: integrations "
                                          "numbered from INTSTART"]
    numbers = np.asarray(int_num, dtype=np.int64)
    if len(np.unique(numbers)) != n:
        raise ScienceReadError(f"{where}: the spectra's INT_NUM repeat ({_ranges(numbers)} for "
                               f"{n} spectra); cannot tell the integrations apart")
    start, end = header.get("INTSTART"), header.get("INTEND")
    if start is not None and end is not None and (numbers.min() < start or numbers.max() > end):
        raise ScienceReadError(f"{where}: its spectra are integrations {_ranges(numbers)} "
                               f"(INT_NUM) but the header says INTSTART={start}, INTEND={end}; "
                               "cannot tell which INT_TIMES rows belong to them")
    return numbers, f"INT_NUM {_ranges(numbers)}", []


def _sum_spectra(flux: np.ndarray, error: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Per row: the sum of flux over the wavelengths finite in every row (a bin missing from
    one integration would be a fake dip in it), root sum of error² over the same; notes."""
    flux = np.asarray(flux, dtype=np.float64)
    finite = np.isfinite(flux)
    common = finite.all(axis=0)
    notes = []
    if common.any():
        if not common.all():
            notes.append(f"{int((~common).sum())} of {flux.shape[1]} wavelength bins are not "
                         "finite in every integration: left out of every white-light sum")
        valid = np.broadcast_to(common, flux.shape)
    else:  # nothing common: per-integration coverage, said so
        valid = finite
        notes.append("no wavelength bin is finite in every integration: each white-light sum "
                     "covers its own bins (their number varies: beware of fake dips)")
    empty = ~valid.any(axis=1)
    total = np.where(valid, flux, 0.0).sum(axis=1)
    total[empty] = np.nan
    if error is None:
        return total, None, notes
    error = np.asarray(error, dtype=np.float64)
    ok = valid & np.isfinite(error)
    root = np.sqrt(np.where(ok, error * error, 0.0).sum(axis=1))
    root[empty] = np.nan
    return total, root, notes


def _x1d_white_light(hdul: fits.HDUList, where: str) -> _WhiteLight:
    """White light of an x1dints file, in either EXTRACT1D layout."""
    hdus = [hdu for hdu in hdul if hdu.name.upper() == "EXTRACT1D"]
    for hdu in hdus:
        if hdu.data is None or "FLUX" not in [n.upper() for n in hdu.columns.names]:
            raise ScienceReadError(f"{where}: an EXTRACT1D extension has no FLUX column")
    if np.asarray(hdus[0].data["FLUX"]).ndim == 2:
        return _tso_white_light(hdus, hdul[0].header, where)
    return _per_integration_white_light(hdus, hdul[0].header, where)


def _column_or_none(hdu: fits.BinTableHDU, name: str) -> np.ndarray | None:
    names = [n.upper() for n in hdu.columns.names]
    return np.asarray(hdu.data[name]) if name in names else None


def _tso_white_light(hdus: list[fits.BinTableHDU], header: fits.Header,
                     where: str) -> _WhiteLight:
    """Current layout (TSOMultiSpecModel): one EXTRACT1D row per integration, array columns."""
    hdu = hdus[0]
    flux, error, coverage = _sum_spectra(hdu.data["FLUX"], _column_or_none(hdu, "FLUX_ERROR"))
    numbers, detail, notes = _integration_numbers(_column_or_none(hdu, "INT_NUM"), header,
                                                  len(flux), where)
    notes += coverage
    if len(hdus) > 1:
        notes.append(f"{len(hdus)} EXTRACT1D extensions (spectral orders or sources): the "
                     f"first (SPORDER={hdu.header.get('SPORDER', '?')}) used")
    notes.append("white light = NaN-ignoring sum over wavelength of each integration's FLUX, "
                 f"error = root sum of FLUX_ERROR²: {_WHITE_LIGHT}")
    return _WhiteLight(numbers, flux, error, _x1d_columns(error), detail, notes,
                       _column_or_none(hdu, "MJD-AVG"))


def _per_integration_white_light(hdus: list[fits.BinTableHDU], header: fits.Header,
                                 where: str) -> _WhiteLight:
    """Older layout (MultiSpecModel): one EXTRACT1D extension per integration (and order)."""
    order = hdus[0].header.get("SPORDER")
    chosen = [hdu for hdu in hdus if hdu.header.get("SPORDER") == order]
    spectra = [np.asarray(h.data["FLUX"], dtype=np.float64).ravel() for h in chosen]
    errors = [_column_or_none(h, "FLUX_ERROR") for h in chosen]
    if len({len(f) for f in spectra}) != 1:
        raise ScienceReadError(f"{where}: the EXTRACT1D spectra of order {order} differ in "
                               f"length ({sorted({len(f) for f in spectra})} wavelengths): "
                               "cannot sum the same wavelengths in every integration")
    stacked_error = (None if any(e is None for e in errors)
                     else np.vstack([np.ravel(e) for e in errors]))
    flux, error, coverage = _sum_spectra(np.vstack(spectra), stacked_error)
    int_num = [h.header.get("INT_NUM") for h in chosen]
    numbers, detail, notes = _integration_numbers(None if None in int_num else int_num, header,
                                                  len(flux), where)
    notes += coverage
    if len(chosen) < len(hdus):
        notes.append(f"{len(hdus)} EXTRACT1D extensions: the {len(chosen)} of spectral order "
                     f"{order} used")
    notes.append("white light = NaN-ignoring sum over wavelength of each integration's FLUX, "
                 f"error = root sum of FLUX_ERROR²: {_WHITE_LIGHT}")
    mids = [h.header.get("MJD-AVG") for h in chosen]
    mid = None if None in mids else np.asarray(mids, dtype=np.float64)
    return _WhiteLight(numbers, flux, error, _x1d_columns(error), detail, notes, mid)


def _x1d_columns(error: np.ndarray | None) -> dict[str, str]:
    columns = {"flux": "EXTRACT1D.FLUX (sum over wavelength)"}
    if error is not None:
        columns["error"] = "EXTRACT1D.FLUX_ERROR (root sum of squares)"
    return columns


def _cube_white_light(hdul: fits.HDUList, where: str) -> _WhiteLight:
    """White light of a calints/rateints cube: sum of valid SCI pixels, a few frames at a time."""
    sci = hdul["SCI"]
    shape = tuple(sci.shape)
    if len(shape) != 3:
        raise ScienceReadError(f"{where}: SCI has shape {shape}; a calints/rateints file holds "
                               "one 2-D image per integration (3-D)")
    dq = hdul["DQ"] if "DQ" in hdul and tuple(hdul["DQ"].shape) == shape else None
    err = hdul["ERR"] if "ERR" in hdul and tuple(hdul["ERR"].shape) == shape else None
    n = shape[0]

    def valid_in(a: int, b: int) -> np.ndarray:
        valid = np.isfinite(np.asarray(sci.section[a:b], dtype=np.float64))
        if dq is not None:
            valid &= (np.asarray(dq.section[a:b]).astype(np.int64) & DO_NOT_USE) == 0
        return valid

    # the pixels valid in every integration: one lost in one integration would dip its sum
    common = np.ones(shape[1:], dtype=bool)
    for a in range(0, n, _CHUNK):
        common &= valid_in(a, min(n, a + _CHUNK)).all(axis=0)
    if not common.any():
        raise ScienceReadError(f"{where}: no pixel is valid (finite, not DO_NOT_USE) in every "
                               "integration: no white light with the same pixels throughout; "
                               "extract your own light curve and load that")
    flux = np.full(n, np.nan)
    error = np.full(n, np.nan) if err is not None else None
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        image = np.asarray(sci.section[a:b], dtype=np.float64)
        flux[a:b] = np.where(common, image, 0.0).sum(axis=(1, 2))
        if error is not None:
            sigma = np.asarray(err.section[a:b], dtype=np.float64)
            ok = common & np.isfinite(sigma)
            error[a:b] = np.sqrt(np.where(ok, sigma * sigma, 0.0).sum(axis=(1, 2)))
    numbers, detail, notes = _segment_numbers(hdul[0].header, n, where)
    if not common.all():
        notes.append(f"{int((~common).sum()):,} of {common.size:,} pixels are not valid in "
                     "every integration: left out of every white-light sum")
    if dq is None:
        notes.append(f"{where}: no DQ extension matching SCI: every finite pixel used")
    notes.append("white light = sum of each integration's SCI over the pixels finite and "
                 f"without DQ bit 0 (DO_NOT_USE) in every integration, error = root sum of ERR² "
                 f"over them: {_WHITE_LIGHT}")
    columns = {"flux": "SCI (sum of valid pixels)"}
    if error is not None:
        columns["error"] = "ERR (root sum of squares)"
    return _WhiteLight(numbers, flux, error, columns, detail, notes)
