"""Core data types shared by every layer: the stitched guide-star time series.

`GuideStarData` is what the archive layer produces and what the engine, the
`Session` model and the widgets consume.  It holds plain numpy arrays plus the
per-file product table (the seed's ``fg_table``); slicing keeps all of them
consistent.  Frames are *flagged*, never dropped.

`ScienceInput` is a science time series as read from its source (its own
clock); `ScienceSeries` is the same series on the observatory's UTC clock, the
one the guide-star frames are stamped with.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .quality import BAD_QUALITY, Quality

if TYPE_CHECKING:
    from astropy.timeseries import TimeSeries

__all__ = ["FRAME_SHAPE", "GuideStarData", "HGAMotion", "Problem", "Quality", "ScienceInput",
           "ScienceSeries"]

FRAME_SHAPE = (8, 8)


class HGAMotion(enum.IntEnum):
    """``HGA_motion`` codes of the files' Pointing table (jwst docs): the high-gain antenna."""

    MOVING = 0
    FINISHED = 1
    OFFLINE = 2


@dataclass(frozen=True)
class Problem:
    """A file that could not be read, or read only in part, and why.

    Kept in ``GuideStarData.problems``.  ``skipped`` is True when none of the
    file's frames are in the data, False when its frames are there but
    something else in it (a table) could not be read.
    """

    path: str
    reason: str
    skipped: bool = True

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, eq=False)
class GuideStarData:
    """A stitched fine-guide time series.

    Attributes
    ----------
    frames : ndarray, shape (N, 8, 8), float32
        Count rate per pixel (SCI extension), one frame per integration.
    time : ndarray, shape (N,), float64
        Frame time as MJD (UTC), evenly spaced from each file's DATASTRT to DATAEND.
    flux : ndarray, shape (N,), float64
        NaN-ignoring sum of each frame.
    quality : ndarray, shape (N,), uint16
        `Quality` bits.
    segments : ndarray, shape (N,), int32
        Row of `products` (the file) each frame came from.
    products : pandas.DataFrame
        One row per file (the seed's ``fg_table``), in time order.
    errors : ndarray or None
        ERR extension, same shape as `frames`, when the files carry one.
    dq : ndarray, shape (n_files, 8, 8), uint32
        Pixel data-quality array of each file.
    tables : dict
        Optional per-file tables (``"centroids"``, ``"pointing"``, ...): each a
        DataFrame with a ``file_index`` column pointing into `products`.
    problems : list of Problem
        Files that were asked for but could not be read.
    """

    frames: np.ndarray
    time: np.ndarray
    flux: np.ndarray
    quality: np.ndarray
    segments: np.ndarray
    products: pd.DataFrame
    errors: np.ndarray | None = None
    dq: np.ndarray | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.time)
        if self.frames.ndim != 3 or self.frames.shape[1:] != FRAME_SHAPE:
            raise ValueError(f"frames must have shape (N, 8, 8), got {self.frames.shape}")
        for name in ("frames", "flux", "quality", "segments"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries but time has {n}")
        if self.errors is not None and self.errors.shape != self.frames.shape:
            raise ValueError(f"errors has shape {self.errors.shape}, frames {self.frames.shape}")

    # -- size and views -------------------------------------------------
    def __len__(self) -> int:
        return len(self.time)

    @property
    def n_frames(self) -> int:
        return len(self.time)

    @property
    def good(self) -> np.ndarray:
        """Boolean mask of frames usable for fits and periodograms."""
        return (self.quality & int(BAD_QUALITY)) == 0

    @property
    def cadence(self) -> float:
        """Median frame spacing in seconds (NaN for fewer than two frames)."""
        if len(self.time) < 2:
            return float("nan")
        return float(np.median(np.diff(self.time[: min(len(self.time), 100_000)])) * 86400.0)

    @property
    def seconds(self) -> np.ndarray:
        """Time in seconds from the first frame (float64)."""
        if len(self.time) == 0:
            return np.zeros(0)
        return (self.time - self.time[0]) * 86400.0

    def __getitem__(self, index: Any) -> GuideStarData:
        """Slice or mask the frames; every per-frame array follows.

        `products` keeps only files that still have frames; `segments` is
        renumbered to match.
        """
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 if index != -1 else None)
        segments = self.segments[index]
        kept_files = np.unique(segments)
        renumber = np.full(len(self.products), -1, dtype=np.int32)
        renumber[kept_files] = np.arange(len(kept_files), dtype=np.int32)
        tables = {
            name: self._subset_table(table, kept_files, renumber)
            for name, table in self.tables.items()
        }
        new_segments = renumber[segments]
        products = self.products.iloc[kept_files].reset_index(drop=True)
        if "first_frame" in products:
            # where each kept file now starts, so products stays consistent with the slice
            _, first = np.unique(new_segments, return_index=True)
            products["first_frame"] = first
        return replace(
            self,
            frames=self.frames[index],
            time=self.time[index],
            flux=self.flux[index],
            quality=self.quality[index],
            segments=new_segments,
            products=products,
            errors=None if self.errors is None else self.errors[index],
            dq=None if self.dq is None else self.dq[kept_files],
            tables=tables,
        )

    @staticmethod
    def _subset_table(table: pd.DataFrame, kept: np.ndarray, renumber: np.ndarray) -> pd.DataFrame:
        out = table[table["file_index"].isin(kept)].copy()
        out["file_index"] = renumber[out["file_index"].to_numpy()]
        return out.reset_index(drop=True)

    def between(self, start: float | None = None, stop: float | None = None) -> GuideStarData:
        """Frames with ``start <= time <= stop`` (MJD; None leaves that side open)."""
        mask = np.ones(len(self.time), dtype=bool)
        if start is not None:
            mask &= self.time >= start
        if stop is not None:
            mask &= self.time <= stop
        return self[mask]

    def select(self, **criteria: Any) -> GuideStarData:
        """Frames from files whose `products` columns match every criterion.

        Each keyword is a `products` column (``observation``, ``visit``,
        ``guider``, ``segment``, ``gs_id``, ``program``...); the value is one
        value or a list of accepted values.  Numbers and zero-padded strings
        compare equal (``visit=1`` matches ``"001"``).

        Raises
        ------
        KeyError
            If a keyword is not a column of `products`.
        """
        keep = np.ones(len(self.products), dtype=bool)
        for column, wanted in criteria.items():
            if wanted is None:
                continue
            if column not in self.products.columns:
                raise KeyError(
                    f"cannot filter on {column!r}: products columns are "
                    f"{', '.join(self.products.columns)}"
                )
            values = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
            normal = {_normalize(v) for v in values}
            keep &= self.products[column].map(_normalize).isin(normal).to_numpy()
        return self[np.isin(self.segments, np.flatnonzero(keep))]

    # -- astropy and lightkurve ------------------------------------------------
    def to_timeseries(self, fit: pd.DataFrame | None = None, *,
                      columns: Iterable[str] | None = None, mas: bool = False,
                      plate_scale: Any = None) -> TimeSeries:
        """These frames as an astropy `~astropy.timeseries.TimeSeries` with units.

        ``time`` is a `~astropy.time.Time` in UTC (MJD, the observatory's clock);
        ``flux`` (and ``flux_err``) in DN/s, the fit's columns with their units when `fit`
        is given, ``quality`` and ``file_index``; ``meta`` names the program, files, guide
        stars and clock.  See `fgs_widgets.astropy_tables.guide_star_timeseries` for the
        parameters (`columns`, `mas`: centroids also in mas, `plate_scale`).

        Examples
        --------
        >>> series = data.to_timeseries(fit, mas=True)      # doctest: +SKIP
        >>> series.write("guide_star.fits")                  # doctest: +SKIP
        """
        from .astropy_tables import guide_star_timeseries

        return guide_star_timeseries(self, fit, columns=columns, mas=mas,
                                     plate_scale=plate_scale)

    def to_lightkurve(self, column: str = "flux", fit: pd.DataFrame | None = None, *,
                      quality_bitmask: str | int = "default", mas: bool = False,
                      plate_scale: Any = None) -> Any:
        """One series of these frames as a lightkurve ``LightCurve`` (needs lightkurve).

        See `fgs_widgets.astropy_tables.to_lightkurve`: ``flux`` is `column` (``"flux"``
        or a fit column of `fit`) with its error, the quality mask follows `Quality`.
        """
        from .astropy_tables import to_lightkurve

        series = self.to_timeseries(fit, mas=mas, plate_scale=plate_scale)
        return to_lightkurve(series, column, quality_bitmask=quality_bitmask)

    def summary(self) -> str:
        """One line for logs and widget headers."""
        if len(self) == 0:
            return "no frames"
        bad = int((~self.good).sum())
        return (
            f"{len(self):,} frames from {len(self.products)} file(s), "
            f"MJD {self.time[0]:.5f}–{self.time[-1]:.5f} "
            f"({(self.time[-1] - self.time[0]) * 24:.2f} h), {bad:,} flagged unusable"
        )

    def __repr__(self) -> str:
        return f"<GuideStarData {self.summary()}>"


def _normalize(value: Any) -> Any:
    """Compare '001', 1 and 1.0 alike; strings otherwise case-insensitive."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.isdigit():
            return int(stripped)
        return stripped.lower()
    return value


@dataclass(frozen=True, eq=False)
class ScienceInput:
    """A science time series as its source gives it (one row per integration).

    Made by `fgs_widgets.archive.science.read_science`; turned into a
    `ScienceSeries` on the observatory's UTC clock by
    `fgs_widgets.engine.timesystems.to_observatory_utc`.

    Attributes
    ----------
    time : ndarray, float64
        The source's time column, untouched (e.g. BJD_TDB as a JD).
    flux, error : ndarray, float64
        Flux and its 1-sigma error (error all NaN when the source has none).
    time_format : {"jd", "mjd"}
    time_scale : str
        astropy scale of `time` ("tdb", "utc", "tt", ...).
    barycentric : bool
        True when `time` is a barycentric time (BJD): the light-travel time
        to the solar-system barycentre has been added.
    int_times : pandas.DataFrame or None
        ``start, mid, end`` in MJD UTC per row, from a JWST ``INT_TIMES``
        table matched to the rows (then no conversion is needed).
    columns : dict
        Role ("time", "flux", "error") -> the source column used.
    source : str
        Path, or a description of an in-memory table.
    notes : tuple of str
        What a user should know about how the source was read.
    """

    time: np.ndarray
    flux: np.ndarray
    error: np.ndarray
    time_format: str
    time_scale: str
    barycentric: bool
    int_times: pd.DataFrame | None = None
    columns: dict[str, str] = field(default_factory=dict)
    source: str = ""
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.time)
        for name in ("flux", "error"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows but time has {n}")
        if self.int_times is not None and len(self.int_times) != n:
            raise ValueError(f"int_times has {len(self.int_times)} rows but time has {n}")

    def __len__(self) -> int:
        return len(self.time)

    @property
    def system(self) -> str:
        """The time system as astronomers write it: "BJD_TDB", "MJD_UTC", "JD_TT"..."""
        kind = "BJD" if self.barycentric else self.time_format.upper()
        if self.barycentric and self.time_format == "mjd":
            kind = "BMJD"
        return f"{kind}_{self.time_scale.upper()}"


@dataclass(frozen=True, eq=False)
class ScienceSeries:
    """A science time series on the observatory's UTC clock (one row per integration).

    The guide-star frames are stamped in MJD UTC as the observatory saw them;
    `time`, `start` and `end` are on that clock, so a science integration
    covers the frames in ``[start, end)``.

    Attributes
    ----------
    time, start, end : ndarray, float64
        Mid, start and end of each integration, MJD UTC at the observatory.
    flux, error : ndarray, float64
        As read (error all NaN when the source has none).
    original_time : ndarray, float64
        The source's time column, untouched.
    original_system : str
        Its time system ("BJD_TDB", "MJD_UTC", ...).
    source : str
    direction : (ra, dec) in degrees, or None
        Sky direction used for the light-travel time (None: not needed).
    intervals : {"int_times", "midpoints"}
        Where `start`/`end` came from: the file's INT_TIMES, or midway to the
        neighbouring integrations.
    notes : tuple of str
        How the series was read and converted, with the size of any approximation.
    """

    time: np.ndarray
    start: np.ndarray
    end: np.ndarray
    flux: np.ndarray
    error: np.ndarray
    original_time: np.ndarray
    original_system: str
    source: str = ""
    direction: tuple[float, float] | None = None
    intervals: str = "midpoints"
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.time)
        for name in ("start", "end", "flux", "error", "original_time"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows but time has {n}")

    def __len__(self) -> int:
        return len(self.time)

    def table(self) -> pd.DataFrame:
        """One row per integration: time, start, end (MJD UTC), flux, error, original time."""
        return pd.DataFrame({"time": self.time, "start": self.start, "end": self.end,
                             "flux": self.flux, "error": self.error,
                             self.original_system.lower(): self.original_time})

    def summary(self) -> str:
        """One line for messages."""
        if len(self) == 0:
            return "no integrations"
        span = (self.end[-1] - self.start[0]) * 24
        return (f"{len(self):,} integrations, MJD UTC {self.start[0]:.5f}–{self.end[-1]:.5f} "
                f"({span:.2f} h), read as {self.original_system}")

    def __repr__(self) -> str:
        return f"<ScienceSeries {self.summary()}>"
