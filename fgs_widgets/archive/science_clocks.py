"""The clock of a science time series: its day count, time scale and whether it is barycentric.

Holds the rules `fgs_widgets.archive.science.read_science` follows to decide
the time system of a light curve's time column (they are spelled out in that
module's docstring): what the caller stated (`stated_clock`), what a column
name says (``bjd_tdb``, ``mjd_utc``...), what FITS/table keywords say
(``TIMESYS``, ``TIMEREF``, ``TREFPOS``), what an astropy Time column carries,
and what the values look like (JD above 2,400,000, MJD within
50,000–100,000).  It knows nothing of files or column picking: the readers
hand it a `TimeColumn`; `decide_clock` returns the `Clock`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .science_errors import ScienceReadError

__all__ = ["JD_MIN", "MJD_MAX", "MJD_MIN", "TIME_KEYWORDS", "TIME_NAME_TOKEN", "Clock",
           "StatedClock", "TimeColumn", "decide_clock", "stated_clock"]

JD_MIN = 2_400_000.0  #: time values above this are JD
MJD_MIN, MJD_MAX = 50_000.0, 100_000.0  #: time values in this range are MJD
_SCALES = ("tdb", "utc", "tt", "tai", "tcb", "tcg", "ut1")
_BARYCENTRIC_SCALES = ("tdb", "tcb")
#: FITS/table keywords that state a time system; the table readers collect them
TIME_KEYWORDS = ("TIMESYS", "TIMEREF", "TREFPOS")
_BARYCENTRIC_REFS = ("BARYCENTER", "BARYCENTRE", "BARYCENTRIC", "SOLARSYSTEM", "SOLAR SYSTEM")
#: one word of a column name: a day count (b = barycentric, h = heliocentric) and/or a scale
TIME_NAME_TOKEN = re.compile(r"(bmjd|mbjd|bjd|hmjd|hjd|mjd|jd)?(tdb|utc|tt|tai|tcb|tcg|ut1)?")


@dataclass(frozen=True)
class StatedClock:
    """What the caller stated: time_format as 'jd'/'mjd' plus a barycentric flag, a scale."""

    time_format: str | None
    barycentric: bool | None
    time_scale: str | None


@dataclass(frozen=True)
class TimeColumn:
    """What the time system is decided from: the values and what states anything about them."""

    values: np.ndarray
    label: str
    name: str | None
    where: str
    time_info: tuple[str, str] | None = None  # an astropy Time column's (format, scale)
    keywords: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Clock:
    """The decided time system of a series and the notes saying how it was decided."""

    time_format: str
    time_scale: str
    barycentric: bool
    notes: tuple[str, ...]


def stated_clock(time_format: str | None, time_scale: str | None) -> StatedClock:
    """Check `read_science`'s ``time_format`` and ``time_scale`` arguments.

    Parameters
    ----------
    time_format : {"jd", "mjd", "bjd", "bmjd"} or None
        Case-insensitive; the b-forms also say the times are barycentric.
    time_scale : str or None
        An astropy time scale ("tdb", "utc", "tt", ...), case-insensitive.

    Returns
    -------
    StatedClock
        The day count as 'jd'/'mjd', True for a b-form (None otherwise), the
        lower-case scale; None for what was not given.

    Raises
    ------
    ScienceReadError
        If either is not one of the values above.
    """
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
    return StatedClock(fmt, barycentric, scale)


def _stated_by_name(column: TimeColumn) -> tuple[bool | None, str | None, str | None]:
    """(barycentric, day count, scale) a column name states: ``bjd_tdb`` -> (True, jd, tdb)."""
    if not column.name:
        return None, None, None
    barycentric = fmt = scale = None
    for token in re.split(r"[^a-z0-9]+", column.name.lower()):
        if token in ("bary", "barycentric", "barycentre", "barycenter"):
            barycentric = True
            continue
        match = TIME_NAME_TOKEN.fullmatch(token)
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


def decide_clock(column: TimeColumn, stated: StatedClock) -> Clock:
    """Decide the time system of a series' time column.

    The rules, first one that says anything wins, are in the docstring of
    `fgs_widgets.archive.science`.

    Parameters
    ----------
    column : TimeColumn
        The time values (float64, checked finite and increasing), the column's
        label and name, an astropy Time column's (format, scale), the keywords.
    stated : StatedClock
        What the caller passed as ``time_format`` and ``time_scale``.

    Returns
    -------
    Clock
        'jd' or 'mjd', the astropy scale, barycentric or not, and notes saying
        what was assumed.

    Raises
    ------
    ScienceReadError
        If the values fit neither JD nor MJD (or not the stated format), or the
        column name says heliocentric (HJD).
    """
    name_bary, name_fmt, name_scale = _stated_by_name(column)
    key_bary, key_scale = _stated_by_keywords(column.keywords)
    notes: list[str] = []
    fmt = _decide_format(column, stated, name_fmt, name_bary, notes)
    info_scale = column.time_info[1] if column.time_info else None
    stated_scale = stated.time_scale or name_scale or key_scale
    barycentric = _decide_barycentric(column, stated, (name_bary, key_bary), stated_scale,
                                      fmt, notes)
    if barycentric is None:
        kind = "BJD" if fmt == "jd" else "BMJD"
        notes.append(f"time {column.label} has {fmt.upper()}-like values with no stated time "
                     f"system: taken as {kind}_TDB (the usual for light curves); pass "
                     f"time_scale='utc' and a plain time_format ('{fmt}') if they are not "
                     "barycentric")
        return Clock(fmt, "tdb", True, tuple(notes))
    scale = stated.time_scale or name_scale or info_scale or key_scale
    if scale is None:
        scale = "tdb" if barycentric else "utc"
        notes.append(f"time {column.label} states no time scale: taken as {scale.upper()}"
                     f"{'' if barycentric else ', not barycentric'}; pass time_scale= if it "
                     "is another")
    return Clock(fmt, scale, barycentric, tuple(notes))


def _decide_format(column: TimeColumn, stated: StatedClock, name_fmt: str | None,
                   name_bary: bool | None, notes: list[str]) -> str:
    """'jd' or 'mjd': as asked, else an astropy Time's format, else by the values."""
    by_values = _format_of_values(column.values)
    if stated.time_format:
        if by_values and by_values != stated.time_format:
            raise ScienceReadError(f"{column.where}: time_format={stated.time_format!r} but "
                                   f"the time {column.label} values ({_sample(column.values)}) "
                                   f"look like {by_values.upper()}; pass "
                                   f"time_format='{by_values}'")
        if by_values is None:
            notes.append(f"time {column.label} values ({_sample(column.values)}) are outside "
                         "the usual JD (> 2,400,000) and MJD (50,000–100,000) ranges; read as "
                         f"{stated.time_format.upper()} as asked")
        return stated.time_format
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


def _decide_barycentric(column: TimeColumn, stated: StatedClock,
                        by_name_and_keywords: tuple[bool | None, bool | None],
                        stated_scale: str | None, fmt: str, notes: list[str]) -> bool | None:
    """True/False, or None when nothing states anything (the caller assumes BJD_TDB)."""
    name_bary, key_bary = by_name_and_keywords
    if stated.barycentric:
        return True
    if name_bary is not None:
        return name_bary
    if key_bary is not None:
        return key_bary
    if column.time_info is not None:
        scale = column.time_info[1]
        if scale in _BARYCENTRIC_SCALES and stated.time_format is None:
            notes.append(f"time {column.label} is an astropy Time in the {scale.upper()} scale: "
                         f"taken as barycentric ({'B' if fmt == 'jd' else 'BM'}JD_"
                         f"{scale.upper()}), the convention for light curves; pass "
                         f"time_format='{fmt}' with time_scale='{scale}' if it is not")
            return True
        return False
    if stated.time_format or stated_scale:
        if stated_scale in _BARYCENTRIC_SCALES:
            notes.append(f"time {column.label}: the {stated_scale.upper()} scale alone does not "
                         f"say barycentric: taken as {fmt.upper()}_{stated_scale.upper()}, not "
                         f"barycentric; pass time_format='b{fmt}' if it is")
        return False
    return None
