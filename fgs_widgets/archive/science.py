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

This module holds the entry point and the steps every source shares: it
reads the source with the parts below, checks the series (every row has a
time, each after the previous one; some flux), decides its clock and builds
the `ScienceInput`.  The parts, each knowing one thing:

* `science_tables`: finding and sniffing the file, the table formats;
* `science_columns`: which columns hold the time, flux and error, as numbers;
* `science_clocks`: the time system (the rules below);
* `jwst_products` and `jwst_white_light`: JWST products' INT_TIMES and white light;
* `science_errors`: `ScienceReadError`, which they all raise.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table

from ..data import ScienceInput
from .jwst_products import is_jwst_product, read_jwst
from .science_clocks import StatedClock, TimeColumn, decide_clock, stated_clock
from .science_columns import Columns, ColumnSpec, ReadSeries, pick_series
from .science_errors import ScienceReadError
from .science_tables import (
    columns_from_frame,
    columns_from_table,
    existing_file,
    file_kind,
    fits_table_columns,
    read_ecsv,
    read_text,
)

__all__ = ["read_science"]


@dataclass(frozen=True)
class _Request:
    """`read_science`'s arguments, checked: the column choices and the stated clock."""

    time: ColumnSpec
    flux: ColumnSpec
    error: ColumnSpec
    clock: StatedClock


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
        first of `science_columns.TIME_NAMES`, ``FLUX_NAMES``, ``ERROR_NAMES``
        present is used, else a column whose name's words say its role; a
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
    request = _Request(time, flux, error, stated_clock(time_format, time_scale))
    if isinstance(source, Table):
        return _from_columns(columns_from_table(source, "astropy Table"), request,
                             "astropy Table")
    if isinstance(source, pd.DataFrame):
        return _from_columns(columns_from_frame(source, "pandas DataFrame"), request,
                             "pandas DataFrame")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a path, an astropy Table or a pandas DataFrame, "
                        f"not {type(source).__name__}")
    path = existing_file(source)
    kind = file_kind(path)
    if kind == "fits":
        return _read_fits(path, request)
    columns = read_ecsv(path) if kind == "ecsv" else read_text(path, kind)
    return _from_columns(columns, request, str(path))


# -- from what was read to ScienceInput -----------------------------------------------------


def _from_columns(cols: Columns, request: _Request, source: str) -> ScienceInput:
    """Pick the time, flux and error columns of a table and build the `ScienceInput`."""
    return _finish(pick_series(cols, request.time, request.flux, request.error), request,
                   source)


def _finish(read: ReadSeries, request: _Request, source: str) -> ScienceInput:
    """Check the series, decide its clock and build the `ScienceInput`."""
    column = read.time
    _check_times(column)
    if np.isnan(read.flux).all():
        raise ScienceReadError(f"{column.where}: the flux ({read.columns['flux']}) is NaN in "
                               f"every one of its {len(read.flux)} rows; nothing to fit (for a "
                               "table, pick another flux column with flux=)")
    clock = decide_clock(column, request.clock)
    error = read.error if read.error is not None else np.full(len(read.flux), np.nan)
    notes = [*read.notes, *clock.notes, *_nan_notes(read.flux, read.error)]
    return ScienceInput(time=column.values, flux=read.flux, error=error,
                        time_format=clock.time_format, time_scale=clock.time_scale,
                        barycentric=clock.barycentric, int_times=read.int_times,
                        columns=dict(read.columns), source=source, notes=tuple(notes))


def _check_times(column: TimeColumn) -> None:
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


# -- FITS: a JWST product or a table --------------------------------------------------------


def _read_fits(path: Path, request: _Request) -> ScienceInput:
    """A JWST time-series product, or else the first FITS table HDU with the columns."""
    try:
        hdul = fits.open(path, memmap=False)
    except (OSError, ValueError) as exc:
        raise ScienceReadError(f"{path}: not a readable FITS file ({exc})") from exc
    with hdul:  # everything needed is read into arrays before the file closes
        if is_jwst_product(hdul, path):
            read = read_jwst(hdul, path, request.time, request.flux, request.error)
            return _finish(read, request, str(path))
        columns = fits_table_columns(hdul, path, request.time, request.flux)
        return _from_columns(columns, request, str(path))

