"""JWST time-series products (x1dints, calints, rateints): their times from INT_TIMES.

Holds how `fgs_widgets.archive.science.read_science` recognises a JWST
time-series product and reads it: the ``INT_TIMES`` extension's rows matched
to the file's integrations by ``integration_number`` (any integration without
a row raises; the spectra's own MJD-AVG must agree), the time column
(``int_mid_BJD_TDB``, or ``int_mid_MJD_UTC`` when that is not filled, or the
caller's ``time=``), and the flux from `jwst_white_light`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from .jwst_white_light import WhiteLight, cube_white_light, integer_ranges, x1d_white_light
from .science_clocks import TimeColumn
from .science_columns import Columns, ColumnSpec, ReadSeries, pick, time_values
from .science_errors import ScienceReadError

__all__ = ["is_jwst_product", "read_jwst"]

_JWST_SUFFIXES = ("_x1dints", "_calints", "_rateints")
_INT_TIMES_REQUIRED = ("integration_number", "int_start_mjd_utc", "int_mid_mjd_utc",
                       "int_end_mjd_utc")
_DEFAULT_JWST_TIME = "int_mid_bjd_tdb"
_CROSS_CHECK_DAYS = 1e-6  #: allowed MJD-AVG vs INT_TIMES disagreement (0.09 s)


def is_jwst_product(hdul: fits.HDUList, path: Path) -> bool:
    """Whether a FITS file is a JWST time-series product rather than a plain table.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        The open file.
    path : pathlib.Path
        Its path: a ``*_x1dints``, ``*_calints`` or ``*_rateints`` name counts.

    Returns
    -------
    bool
        True if it has an INT_TIMES or EXTRACT1D extension or such a name.
    """
    names = {hdu.name.upper() for hdu in hdul}
    stem = path.name.lower().split(".fit")[0]
    return "INT_TIMES" in names or "EXTRACT1D" in names or stem.endswith(_JWST_SUFFIXES)


def read_jwst(hdul: fits.HDUList, path: Path, time: ColumnSpec, flux: ColumnSpec,
              error: ColumnSpec) -> ReadSeries:
    """A JWST TSO product: INT_TIMES matched to its integrations, flux a crude white light.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        The open x1dints, calints or rateints file.
    path : pathlib.Path
        Its path, for messages.
    time : str, int or None
        An INT_TIMES column; by default ``int_mid_BJD_TDB`` when filled, else
        ``int_mid_MJD_UTC``.
    flux, error : str, int or None
        Must be None: the flux is the white light computed from the file.

    Returns
    -------
    ReadSeries
        The time column, the white light and its error, and ``int_times``: the
        matched rows' MJD UTC start/mid/end.

    Raises
    ------
    ScienceReadError
        If flux= or error= is given, INT_TIMES is missing, empty, incomplete,
        or has no row for an integration, the file holds neither spectra nor a
        SCI cube, or fewer than 2 integrations.
    """
    where = str(path)
    names = {hdu.name.upper() for hdu in hdul}
    if flux is not None or error is not None:
        raise ScienceReadError(f"{where} is a JWST time-series product: its flux is the white "
                               "light computed from the file, so flux= and error= cannot be "
                               "given (they name columns of tables)")
    if "INT_TIMES" not in names:
        raise ScienceReadError(f"{where}: a JWST product without an INT_TIMES extension, so "
                               "its integrations have no times; use a file that has one (the "
                               "pipeline carries it from the _uncal file)")
    if "EXTRACT1D" in names:
        white = x1d_white_light(hdul, where)
    elif "SCI" in names:
        white = cube_white_light(hdul, where)
    else:
        raise ScienceReadError(f"{where}: has INT_TIMES but neither an EXTRACT1D table nor a "
                               "SCI cube; read_science reads x1dints, calints and rateints")
    if len(white.flux) < 2:
        raise ScienceReadError(f"{where}: holds {len(white.flux)} integration(s); a time "
                               "series needs at least 2")
    times = _int_times_rows(hdul, where, white)
    return _jwst_read(times, white, time, where)


def _jwst_read(times: Columns, white: WhiteLight, time: ColumnSpec, where: str) -> ReadSeries:
    """The time column of the matched INT_TIMES rows, and the white light."""
    lower = [n.lower() for n in times.names]
    spec = time
    notes = list(white.notes)
    if spec is None:
        spec = lower.index(_DEFAULT_JWST_TIME) if _DEFAULT_JWST_TIME in lower else None
        if spec is None or not _filled(times.values[spec]):
            spec = lower.index("int_mid_mjd_utc")
            notes.append(f"{where}: INT_TIMES int_mid_BJD_TDB is missing or not filled (zero "
                         "or NaN): time taken from int_mid_MJD_UTC (UTC, not barycentric)")
    ti = pick(times, "time", spec, (), 0)
    values, info, time_notes = time_values(times, ti)
    frame = pd.DataFrame({role: np.asarray(times.values[lower.index(f"int_{role}_mjd_utc")],
                                           dtype=np.float64)
                          for role in ("start", "mid", "end")})
    columns = {"time": f"INT_TIMES.{times.names[ti]}", **white.columns}
    column = TimeColumn(values, times.label(ti), times.names[ti], times.where, info)
    return ReadSeries(column, white.flux, white.error, columns, notes + time_notes, frame)


def _filled(values: np.ndarray) -> bool:
    """Every value finite and positive: JWST leaves unfilled time columns zero or NaN."""
    values = np.asarray(values, dtype=np.float64)
    return bool(np.all(np.isfinite(values)) and np.all(values > 0))


def _int_times_rows(hdul: fits.HDUList, where: str, white: WhiteLight) -> Columns:
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
    times = Columns(names, values, True, f"{where} [INT_TIMES]")
    for key in _INT_TIMES_REQUIRED[1:]:
        column = np.asarray(times.values[lower.index(key)], dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(column))
        if bad.size:
            raise ScienceReadError(f"{where}: INT_TIMES {names[lower.index(key)]} has no value "
                                   "(NaN) for integration(s) "
                                   f"{integer_ranges(white.numbers[bad])}")
    _cross_check(times.values[lower.index("int_mid_mjd_utc")], white, where)
    white.notes.insert(0, "INT_TIMES rows matched to integrations "
                          f"{integer_ranges(white.numbers)} by "
                          f"integration_number ({white.detail}; INT_TIMES lists "
                          f"{integer_ranges(listed)})")
    return times


def _match_rows(listed: np.ndarray, wanted: np.ndarray, where: str, detail: str) -> np.ndarray:
    """Row of `listed` (INT_TIMES integration_number) for each wanted integration; or raise."""
    values, counts = np.unique(listed, return_counts=True)
    if (counts > 1).any():
        raise ScienceReadError(f"{where}: INT_TIMES lists integration(s) "
                               f"{integer_ranges(values[counts > 1])} more than once; its rows "
                               "cannot be matched to the integrations")
    order = np.argsort(listed, kind="stable")
    pos = np.clip(np.searchsorted(listed[order], wanted), 0, len(listed) - 1)
    found = listed[order][pos] == wanted
    if not found.all():
        raise ScienceReadError(f"{where}: INT_TIMES has no rows for integration(s) "
                               f"{integer_ranges(wanted[~found])} of this file ({detail}); it "
                               f"lists integration(s) {integer_ranges(listed)}. The times cannot "
                               "be matched to the data: use this segment's own file or fix "
                               "INTSTART/INTEND")
    return order[pos]


def _cross_check(mid_utc: np.ndarray, white: WhiteLight, where: str) -> None:
    """The spectra's own MJD-AVG (when filled) must agree with the matched INT_TIMES rows."""
    if white.mid_mjd is None or not _filled(white.mid_mjd):
        return
    worst = float(np.max(np.abs(np.asarray(mid_utc, dtype=np.float64) - white.mid_mjd)))
    if worst > _CROSS_CHECK_DAYS:
        raise ScienceReadError(f"{where}: the spectra's MJD-AVG disagree with the INT_TIMES rows "
                               f"matched by integration number (by up to {worst * 86400:.3f} "
                               "s); the file is inconsistent, so its times cannot be trusted")

