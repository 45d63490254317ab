"""The guide-star series and every result table as astropy objects with units.

Astronomers' tools speak astropy: lightkurve's ``LightCurve`` is a `~astropy.timeseries.TimeSeries`,
lcviz loads one, and FITS tables keep their columns' units in ``TUNITn``.  This module is the
one place that says what each column is:

- `UNITS`: the unit of every known column, by name (a ``<name>_err`` column has its
  column's unit; ``*_mas`` columns are milliarcseconds);
- `TIME_COLUMNS`: the columns that are MJD on the observatory's UTC clock (the frames'
  ``time``, an event's ``end``, a file's ``data_start``...), which become `~astropy.time.Time`.

`guide_star_timeseries` builds the per-frame `TimeSeries` (`GuideStarData.to_timeseries`,
``Session.to_timeseries``), `to_qtable` any other table (fits, events, peaks, survey
statistics), and `write_table` / `read_table` store either as FITS or ECSV and read it back
equal (`read_table` gives back a `TimeSeries` when one was written).

It imports only astropy, numpy, pandas and the base's `atomic` and `quality` (a
`GuideStarData` is taken as it comes: `fgs_widgets.data` calls this module), so every layer
may use it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .atomic import atomic_write
from .quality import BAD_QUALITY

if TYPE_CHECKING:
    from astropy.table import QTable
    from astropy.timeseries import TimeSeries

__all__ = ["PLATE_SCALE_MAS", "TIME_COLUMNS", "UNITS", "guide_star_timeseries",
           "mixed_type_columns", "program_of", "read_table", "table_meta", "to_lightkurve",
           "to_pandas", "to_qtable", "unit_of", "write_table"]

#: FGS pixel scale, mas per pixel (JDox: ~0.069 arcsec); the fine-guide files state none
PLATE_SCALE_MAS: float = 69.0

#: the unit of each known column (astropy's spelling; "DN/s" is the files' BUNIT)
UNITS: dict[str, str] = {
    # per frame: the files' count rate and the fitted 2D Gaussian's parameters
    "flux": "DN/s", "amplitude": "DN/s", "offset": "DN/s",
    "x_mean": "pix", "y_mean": "pix", "x_stddev": "pix", "y_stddev": "pix",
    "theta": "rad", "chi2_red": "",
    # the files' table (fg_table)
    "gs_ra": "deg", "gs_dec": "deg", "gs_mag": "mag", "centroid_time_offset": "s",
    # periodogram peaks
    "frequency": "1/s", "period": "s", "power": "",
}

#: columns holding MJD on the observatory's UTC clock (become `astropy.time.Time`)
TIME_COLUMNS: tuple[str, ...] = ("time", "end", "data_start", "data_end", "start_mjd",
                                 "end_mjd")

#: meta keys that hold one entry per file or per guide star (a FITS header gives a
#: one-entry list back as a scalar; `read_table` makes it a list again)
_LIST_META = ("FILES", "GS_ID", "GS_RA", "GS_DEC", "GS_MAG", "GSC_VER", "GUIDER",
              "OBSERVTN", "VISIT")
#: keys astropy's FITS writer adds for a Time column (not ours: dropped on reading)
_WRITER_META = ("JDREF", "TREFPOS", "DATE-OBS", "MJD-OBS", "TSTART", "TSTOP")
#: where an astropy FITS header carries the table's class (`read_table` restores it)
_CLASS_KEY = "FGSCLASS"


def unit_of(column: str) -> str | None:
    """The unit of a column by its name, or None when it has none we know of.

    A ``<name>_err`` column has ``<name>``'s unit; a ``<name>_mas`` column is in mas.
    """
    base = column.removesuffix("_err")
    if base.endswith("_mas"):
        return "mas"
    return UNITS.get(base)


def mixed_type_columns(table: pd.DataFrame) -> list[str]:
    """Object columns holding more than one type (the event ``value``: text and numbers)."""
    return [c for c in table.columns if table[c].dtype == object
            and len({type(v) for v in table[c] if v is not None}) > 1]


def _is_text(column: pd.Series) -> bool:
    return (isinstance(column.dtype, (pd.CategoricalDtype, pd.StringDtype))
            or column.dtype == object)


def _text(column: pd.Series) -> np.ndarray:
    """Text, one type per column as FITS and ECSV need: a missing value is an empty string,
    a number among text (the event ``value``) its ``str``."""
    if isinstance(column.dtype, pd.CategoricalDtype):  # the fit's status: one str per category
        names = np.array([*map(str, column.cat.categories), ""], dtype=str)
        return names[column.cat.codes.to_numpy()]  # code -1 (missing) is the last, ""
    return np.array(["" if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                     else str(v) for v in column], dtype=str)


def _column(column: pd.Series) -> Any:
    """One pandas column as astropy takes it: text as str (missing ones masked, as astropy's
    readers give an empty string back), nullable integers as a masked column."""
    from astropy.table import MaskedColumn

    if _is_text(column):
        values = _text(column)
        empty = values == ""
        return MaskedColumn(values, mask=empty) if empty.any() else values
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and column.hasnans:
        kind = column.dtype.numpy_dtype if hasattr(column.dtype, "numpy_dtype") else object
        return MaskedColumn(column.to_numpy(dtype=kind, na_value=0), mask=column.isna())
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
        return column.to_numpy(dtype=getattr(column.dtype, "numpy_dtype", None))
    return column.to_numpy()


def _mjd_utc(values: Any) -> Any:
    """MJD (UTC) as `~astropy.time.Time`; NaN (an event with no end) is masked."""
    from astropy.time import Time

    values = np.asarray(values, dtype=np.float64)
    missing = ~np.isfinite(values)
    if missing.any():
        values = np.ma.MaskedArray(np.where(missing, 0.0, values), mask=missing)
    return Time(values, format="mjd", scale="utc")


def to_qtable(table: pd.DataFrame, *, units: Mapping[str, str] | None = None,
              time_columns: Iterable[str] = TIME_COLUMNS,
              meta: Mapping[str, Any] | None = None) -> QTable:
    """A pandas table as an astropy `~astropy.table.QTable`: units, times and text typed.

    Parameters
    ----------
    table : pandas.DataFrame
        Any of the session's tables (`Session.tables`) or a survey's.
    units : mapping, optional
        Column -> unit string for columns `unit_of` does not know (a survey's
        statistics); an empty string means dimensionless, and wins over `UNITS`.
    time_columns : iterable of str
        Numeric columns that are MJD (UTC): they become `~astropy.time.Time`
        (NaN stays NaN: an event with no end).
    meta : mapping, optional
        The table's ``meta`` (FITS-header-friendly keys and values are best).

    Returns
    -------
    astropy.table.QTable
        Numeric columns with a unit are `~astropy.units.Quantity`; categories and
        object columns mixing text and numbers are text; pandas' nullable integers
        are masked columns.
    """
    import astropy.units as u
    from astropy.table import QTable

    units = dict(units or {})
    times = set(time_columns)
    out = QTable()
    for name in table.columns:
        column = table[name]
        if name in times and pd.api.types.is_float_dtype(column.dtype):
            out[name] = _mjd_utc(column)
            continue
        unit = units[name] if name in units else unit_of(name)
        if unit and not _is_text(column) and pd.api.types.is_numeric_dtype(column.dtype) \
                and not pd.api.types.is_bool_dtype(column.dtype):
            out[name] = u.Quantity(column.to_numpy(dtype=np.float64, na_value=np.nan), unit)
        else:
            out[name] = _column(column)
    out.meta.update(meta or {})
    return out


def guide_star_timeseries(data: Any, fit: pd.DataFrame | None = None, *,
                          columns: Iterable[str] | None = None, program: str = "",
                          mas: bool = False, plate_scale: Any = None) -> TimeSeries:
    """The stitched frames' series as an astropy `~astropy.timeseries.TimeSeries`.

    Parameters
    ----------
    data : GuideStarData
        The frames.
    fit : pandas.DataFrame, optional
        One row per frame (`fgs_widgets.fit_gaussians` or `fgs_widgets.quick_fit`).
    columns : iterable of str, optional
        The series to include: ``"flux"`` and fit columns (their ``*_err`` come along
        when the fit has them).  Default: flux and every column of the fit.
    program : str
        The program id for the meta (else the one the files name, if one).
    mas : bool
        Also give the centroids (``x_mean``, ``y_mean``) and their errors in
        milliarcseconds, as ``x_mean_mas`` ... at `plate_scale`.
    plate_scale : float or Quantity, optional
        mas per pixel (a Quantity in any angle per pixel); default `PLATE_SCALE_MAS`.

    Returns
    -------
    astropy.timeseries.TimeSeries
        ``time`` is a `~astropy.time.Time` in UTC (MJD): the observatory's clock, the
        files' own, not barycentric.  ``flux`` (and ``flux_err`` when the files carry
        an ERR array: the frame's pixel errors added in quadrature) in DN/s, the fit
        columns with their units (`UNITS`), ``quality`` (`fgs_widgets.Quality` bits,
        flagged frames kept) and ``file_index`` (the row of ``meta["FILES"]``).
        ``meta`` says the program, files, guide stars, guider and time system.

    Raises
    ------
    KeyError
        A column that is neither ``"flux"`` nor in the fit (the message lists them).
    ValueError
        A fit whose length is not the data's, or a non-positive plate scale.
    """
    from astropy.timeseries import TimeSeries

    fit_columns = [] if fit is None else [c for c in fit.columns if not c.endswith("_err")]
    wanted = ["flux", *fit_columns] if columns is None else list(dict.fromkeys(columns))
    unknown = [c for c in wanted if c != "flux" and c not in fit_columns]
    if unknown:
        raise KeyError(f"no series {unknown} to put in the TimeSeries: available "
                       f"{['flux', *fit_columns]}"
                       f"{'' if fit is not None else ' (fit first for the fit columns)'}")
    if fit is not None and len(fit) != len(data):
        raise ValueError(f"the fit has {len(fit)} rows but the data {len(data)} frames: "
                         "it belongs to other frames (fit these again)")
    if mas and fit is None:
        raise ValueError("mas=True gives the fitted centroids in mas: fit first "
                         "(session.fit_frames('quick'))")
    scale = _mas_per_pixel(plate_scale)
    values: dict[str, Any] = {}
    for name in wanted:
        if name == "flux":
            values["flux"] = data.flux
            if data.errors is not None:
                values["flux_err"] = _flux_error(data.errors)
            continue
        values[name] = fit[name]
        if f"{name}_err" in fit:
            values[f"{name}_err"] = fit[f"{name}_err"]
    if mas and fit is not None:
        for name in ("x_mean", "y_mean"):
            for suffix in ("", "_err"):
                if f"{name}{suffix}" in fit:
                    values[f"{name}_mas{suffix}"] = fit[f"{name}{suffix}"].to_numpy() * scale
    values["quality"] = data.quality
    values["file_index"] = data.segments
    table = to_qtable(pd.DataFrame(values), time_columns=())
    table.meta.update(_series_meta(data, program, scale if mas else None))
    series = TimeSeries(time=_mjd_utc(data.time), data=table)
    series.meta = table.meta
    for name in ("quality", "file_index"):
        series[name].info.description = ("fgs_widgets.Quality bits" if name == "quality"
                                         else "row of meta['FILES'] the frame came from")
    return series


def _mas_per_pixel(plate_scale: Any) -> float:
    import astropy.units as u

    if plate_scale is None:
        return PLATE_SCALE_MAS
    if isinstance(plate_scale, u.Quantity):
        value = plate_scale.to_value(u.mas / u.pix) if plate_scale.unit.physical_type \
            != "angle" else plate_scale.to_value(u.mas)
    else:
        value = float(plate_scale)
    if not value > 0:
        raise ValueError(f"plate_scale must be a positive angle per pixel (mas/pix), "
                         f"not {plate_scale!r}")
    return float(value)


def _flux_error(errors: np.ndarray) -> np.ndarray:
    """Each frame's summed-flux error: its pixels' errors in quadrature (NaN pixels left out,
    as the flux leaves them out)."""
    squared = np.square(errors, dtype=np.float64)
    return np.sqrt(np.nansum(squared.reshape(len(errors), -1), axis=1))


def program_of(products: pd.DataFrame | None, program: str = "") -> str:
    """The program id: `program` when it is one (not "" or "sample"), else the one program
    the files name, else ""."""
    if program.isdigit():
        return program
    if products is not None and "program" in products:
        programs = products["program"].dropna().unique()
        if len(programs) == 1:
            return str(programs[0])
    return ""


def table_meta(products: pd.DataFrame | None, program: str = "", name: str = "") -> dict:
    """The header of an exported table: telescope, instrument, program and the table's name."""
    meta = {"TELESCOP": "JWST", "INSTRUME": "FGS", "PROGRAM": program_of(products, program)}
    if name:
        meta["EXTNAME"] = name.upper()
    return meta


def _series_meta(data: Any, program: str, plate_scale: float | None) -> dict:
    """FITS-header-friendly meta: upper-case keys, scalars or lists of scalars."""
    products = data.products
    program = program_of(products, program)
    stars = products.drop_duplicates("gs_id") if "gs_id" in products else products.iloc[:0]

    def listed(frame: pd.DataFrame, column: str, kind: type) -> list:
        # a blank (a catalog's missing magnitude) is None: FITS headers refuse NaN, and
        # astropy's writer drops a whole list that holds one
        if column not in frame:
            return []
        return [kind(v) if pd.notna(v) else None for v in frame[column]]

    meta = {"TELESCOP": "JWST", "INSTRUME": "FGS", "PROGRAM": program,
            "OBJECT": "+".join(v for v in listed(stars, "gs_id", str) if v),
            "CLOCK": "observatory UTC, as the files stamp the frames; not barycentric",
            "FILES": listed(products, "file_name", str),
            "OBSERVTN": listed(products, "observation", int),
            "VISIT": listed(products, "visit", int),
            "GUIDER": listed(products, "guider", int),
            "GS_ID": listed(stars, "gs_id", str), "GS_RA": listed(stars, "gs_ra", float),
            "GS_DEC": listed(stars, "gs_dec", float), "GS_MAG": listed(stars, "gs_mag", float),
            "GSC_VER": listed(stars, "gsc_version", str)}
    if plate_scale is not None:
        meta["PLATESCL"] = plate_scale
    return {k: v for k, v in meta.items() if not (isinstance(v, list) and not v)}


def to_pandas(table: QTable) -> pd.DataFrame:
    """The plain numbers of a `to_qtable` table back: times as MJD (UTC), quantities in
    their units, masked values as NaN (numbers) or None (text)."""
    columns = {}
    for name in table.colnames:
        column = table[name]
        if hasattr(column, "jd1"):
            mjd = column.utc.mjd
            mask = np.broadcast_to(np.asarray(getattr(column, "mask", False)), (len(column),))
            values = np.where(mask, np.nan, np.asarray(getattr(mjd, "unmasked", mjd),
                                                        dtype=np.float64))
        elif hasattr(column, "unit") and hasattr(column, "value"):
            values = np.asarray(column.value)
        elif hasattr(column, "mask") and np.any(column.mask):
            values = pd.Series(column.tolist(), dtype=object if column.dtype.kind in "US"
                               else None)
        else:
            values = np.asarray(column)
        columns[name] = values
    return pd.DataFrame(columns)


# -- lightkurve ----------------------------------------------------------------------------
#: the series' own columns that are not a series a LightCurve's flux can be
_NOT_SERIES = ("time", "quality", "file_index")


def to_lightkurve(series: TimeSeries, column: str = "flux", *,
                  quality_bitmask: str | int = "default") -> Any:
    """A lightkurve ``LightCurve`` of one column of `guide_star_timeseries`' series.

    Parameters
    ----------
    series : astropy.timeseries.TimeSeries
        As `guide_star_timeseries` builds it (`GuideStarData.to_timeseries`).
    column : str
        Its ``flux``: ``"flux"`` or any fit column (``"x_mean"``, ``"x_mean_mas"``...);
        ``flux_err`` is the column's ``*_err`` (NaN when it has none).  Every other column
        stays in the light curve (the frames' summed flux as ``frame_flux`` when
        another column is chosen).
    quality_bitmask : {"default", "none"} or int
        Frames whose `fgs_widgets.Quality` bits meet the mask are left out, as
        lightkurve's own readers leave out their flagged cadences.  "default" is the
        frames that are unusable (``BAD_QUALITY``: all-NaN or negative summed flux),
        "none" keeps every frame.  ``quality`` keeps each kept frame's bits, and
        ``meta["NFLAGGED"]`` says how many were left out.

    Returns
    -------
    lightkurve.LightCurve

    Raises
    ------
    ImportError
        lightkurve is not installed (the message says how to install it).
    KeyError
        `column` is not a series of `series` (the message lists them).
    ValueError
        An unknown `quality_bitmask`.
    """
    try:
        import lightkurve as lk
    except ImportError as exc:
        raise ImportError("to_lightkurve needs lightkurve: pip install 'fgs-widgets[lightkurve]' "
                          "(lightkurve 2.x needs pandas < 3)") from exc
    import astropy.units as u
    from astropy.table import QTable

    choices = [c for c in series.colnames if c not in _NOT_SERIES and not c.endswith("_err")]
    if column not in choices:
        raise KeyError(f"no series {column!r} for the light curve's flux: available {choices}")
    masks = {"default": int(BAD_QUALITY), "none": 0}
    if isinstance(quality_bitmask, str) and quality_bitmask not in masks:
        raise ValueError(f"quality_bitmask must be 'default', 'none' or an int of "
                         f"fgs_widgets.Quality bits, not {quality_bitmask!r}")
    bitmask = masks.get(quality_bitmask, quality_bitmask) if isinstance(quality_bitmask, str) \
        else int(quality_bitmask)
    keep = (np.asarray(series["quality"]) & bitmask) == 0
    kept = series[keep]
    flux = kept[column]
    error = kept[f"{column}_err"] if f"{column}_err" in kept.colnames \
        else u.Quantity(np.full(len(kept), np.nan), getattr(flux, "unit", None))
    others = QTable()
    for name in kept.colnames:
        if name in ("time", column, f"{column}_err"):
            continue
        # the chosen column is the light curve's flux: the frames' own keeps its data
        others[f"frame_{name}" if name.startswith("flux") else name] = kept[name]
    meta = {**series.meta, "FLUX_ORIGIN": column, "QUALITY_BITMASK": bitmask,
            "NFLAGGED": int((~keep).sum()),
            "LABEL": f"JWST FGS {series.meta.get('OBJECT', 'guide star')}".strip()}
    return lk.LightCurve(data=others, time=kept.time, flux=flux, flux_err=error, meta=meta)


# -- files ---------------------------------------------------------------------------------
_FORMATS = {".fits": "fits", ".fit": "fits", ".fts": "fits", ".ecsv": "ascii.ecsv"}


def _format_of(path: Path) -> str:
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" \
        else path.suffix.lower()
    fmt = _FORMATS.get(suffix.removesuffix(".gz"))
    if fmt is None:
        raise ValueError(f"{path}: an astropy table is written as .fits or .ecsv, not "
                         f"{path.suffix or 'no suffix'}")
    return fmt


def write_table(table: QTable | TimeSeries, path: str | os.PathLike) -> Path:
    """Write a `QTable` or `TimeSeries` as FITS or ECSV (by the suffix), atomically.

    FITS keeps every unit in ``TUNITn`` (``DN/s`` as the files' ``BUNIT`` spells it,
    which the FITS standard itself does not list; astropy reads it back from the
    header's serialized columns) and the Time column in FITS time conventions
    (``TIMESYS = 'UTC'``).  `read_table` reads either back equal.

    Raises
    ------
    ValueError
        A suffix other than .fits or .ecsv.
    """
    from astropy.timeseries import TimeSeries

    path = Path(path)
    fmt = _format_of(path)
    # the class key is in the written meta only (a copy of a TimeSeries gains an index on
    # its time, which astropy's FITS writer then refuses to convert)
    meta = table.meta
    table.meta = {**meta, _CLASS_KEY: "TimeSeries" if isinstance(table, TimeSeries)
                  else "QTable"}
    try:
        with atomic_write(path) as temp:
            if fmt == "ascii.ecsv":
                table.write(temp, format=fmt, overwrite=True)
            else:
                _write_fits(table, temp)
    finally:
        table.meta = meta
    return path


def _write_fits(table: QTable, path: Path) -> None:
    from astropy.io import fits
    from astropy.table import QTable
    from astropy.units import UnitsWarning

    # FITS text is ASCII: a label with an arrow or a degree sign is stored as UTF-8 bytes
    # (`read_table` decodes them), not refused
    wide = [name for name in table.colnames if getattr(table[name], "dtype", None) is not None
            and table[name].dtype.kind == "U" and not all(str(v).isascii() for v in table[name])]
    if wide:
        table = QTable(table, copy=False)
        for name in wide:
            table[name] = np.char.encode(np.asarray(table[name]), "utf-8")

    with warnings.catch_warnings():
        # units FITS does not list (DN/s) get their TUNIT below; long meta keys become
        # HIERARCH cards, which is what they should be
        warnings.filterwarnings("ignore", message=".*could not be saved in native FITS")
        warnings.filterwarnings("ignore", category=fits.verify.VerifyWarning)
        warnings.simplefilter("ignore", UnitsWarning)
        table.write(path, format="fits", overwrite=True)
    with fits.open(path, mode="update") as hdus:
        header = hdus[1].header
        for i in range(1, header["TFIELDS"] + 1):
            unit = getattr(table[header[f"TTYPE{i}"]], "unit", None)
            if unit is not None and f"TUNIT{i}" not in header and str(unit):
                header.insert(f"TFORM{i}", (f"TUNIT{i}", unit.to_string("generic")
                                            .replace(" ", "")), after=True)
        header.comments[_CLASS_KEY] = "class fgs_widgets read_table returns"


def read_table(path: str | os.PathLike) -> QTable | TimeSeries:
    """Read back what `write_table` wrote (FITS or ECSV): equal columns, units, meta.

    Raises
    ------
    FileNotFoundError, ValueError
        No such file, or a suffix other than .fits or .ecsv.
    """
    from astropy.io.fits.card import Undefined
    from astropy.table import QTable
    from astropy.timeseries import TimeSeries
    from astropy.units import UnitsWarning

    path = Path(path)
    fmt = _format_of(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such table file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnitsWarning)  # TUNIT 'DN/s' (see write_table)
        table = QTable.read(path, format=fmt, **({"astropy_native": True}
                                                  if fmt == "fits" else {}))
    kind = table.meta.pop(_CLASS_KEY, None)
    for key in _WRITER_META if fmt == "fits" else ():
        table.meta.pop(key, None)
    for key, value in table.meta.items():  # a FITS card with no value: what None was
        if isinstance(value, list):
            table.meta[key] = [None if isinstance(v, Undefined) else v for v in value]
        elif isinstance(value, Undefined):
            table.meta[key] = None
    for key in _LIST_META:
        if key in table.meta and not isinstance(table.meta[key], list):
            table.meta[key] = [table.meta[key]]
    for name in table.colnames:
        table[name] = _native(table[name])
    if kind == "TimeSeries":
        series = TimeSeries(data=table)
        series.meta = table.meta
        return series
    return table


def _native(column: Any) -> Any:
    """A column read from FITS as written: MJD times, native byte order, astropy's units
    (a ``TUNIT`` FITS does not list, such as ``DN/s``, is read as unrecognised)."""
    import astropy.units as u

    if hasattr(column, "jd1"):
        if column.format != "mjd":
            column.format = "mjd"
        return column
    dtype = getattr(column, "dtype", None)
    if dtype is not None and dtype.kind == "S":
        text = np.char.decode(np.asarray(column), "utf-8")
        return type(column)(text, mask=column.mask) if hasattr(column, "mask") \
            else type(column)(text)
    if dtype is not None and dtype.kind in "iuf" and not dtype.isnative:
        column = column.astype(dtype.newbyteorder("="))
    if isinstance(column, u.Quantity) and isinstance(column.unit, u.UnrecognizedUnit):
        column = u.Quantity(column.value, u.Unit(column.unit.name, format="generic"))
    return column

