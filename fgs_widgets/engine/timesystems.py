"""Time systems: a science series' clock onto the observatory's UTC clock, and back.

Guide-star frames are stamped in MJD UTC as the observatory saw them; science
light curves are usually BJD_TDB: TDB (TT − UTC = 69.184 s since 2017, plus
TDB − TT below 2 ms) with the light-travel time to the solar-system barycentre
added (up to ±8.3 min, by the target's ecliptic latitude and the season).
Lining the two up by ``jd - 2400000.5`` errs by all of that.

The light-travel time needs the observer's position and the target's
direction.  Here the observer is the geocentre unless a position is given
(JWST orbits L2, up to ~1.8×10^6 km from Earth: ≤ 6 s), and the direction is the
target's or, by default upstream, the guide star's (within ~12′ of the target: ≤ 2 s).
astropy does the arithmetic (`astropy.time.Time.light_travel_time`, builtin
ephemeris, no download).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import ScienceInput, ScienceSeries

__all__ = ["GEOCENTRE_ERROR_S", "bjd_tdb_to_utc", "direction_error_s", "light_travel_seconds",
           "science_intervals", "to_observatory_utc", "utc_to_bjd_tdb"]

#: worst error of the light-travel time at the geocentre instead of JWST (L2 orbit, up to
#: ~1.8e6 km from the Earth, / c)
GEOCENTRE_ERROR_S = 6.0
_AU_LIGHT_S = 499.004784  # light time of one astronomical unit, s
_C_M_S = 299_792_458.0


def direction_error_s(separation_deg: float) -> float:
    """Worst light-travel-time error of a direction ``separation_deg`` off the target (s)."""
    return float(_AU_LIGHT_S * 1.017 * np.deg2rad(separation_deg))  # 1.017 AU: aphelion


def _direction(ra: float, dec: float):
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    if not (np.isfinite(ra) and np.isfinite(dec)) or not -90 <= dec <= 90:
        raise ValueError(f"ra={ra!r}, dec={dec!r}: a sky direction in degrees is needed for "
                         "the barycentric light-travel time (pass ra= and dec=)")
    return SkyCoord(float(ra) * u.deg, float(dec) * u.deg, frame="icrs")


def _geocentre():
    import astropy.units as u
    from astropy.coordinates import EarthLocation

    return EarthLocation.from_geocentric(0.0, 0.0, 0.0, unit=u.m)


def light_travel_seconds(mjd_utc: np.ndarray, ra: float, dec: float,
                         location=None) -> np.ndarray:
    """Light-travel time from the observer to the barycentre toward (ra, dec), in seconds.

    Parameters
    ----------
    mjd_utc : array
        Times (MJD UTC).
    ra, dec : float
        Direction (degrees, ICRS).
    location : optional
        The observer: None, the geocentre (≤ `GEOCENTRE_ERROR_S` for JWST); an
        `astropy.coordinates.EarthLocation` (a site on the ground); or a position
        relative to the geocentre in the GCRS (inertial axes, km), shape (3,) or
        (3, N) for one per time, as spacecraft ephemerides give it.
    """
    from astropy.coordinates import EarthLocation
    from astropy.time import Time

    times = Time(np.asarray(mjd_utc, dtype=np.float64), format="mjd", scale="utc")
    direction = _direction(ra, dec)
    site = location if isinstance(location, EarthLocation) else _geocentre()
    ltt = times.light_travel_time(direction, kind="barycentric", location=site,
                                  ephemeris="builtin").to_value("s")
    if location is None or isinstance(location, EarthLocation):
        return np.asarray(ltt, dtype=np.float64)
    position = np.asarray(location, dtype=np.float64)
    if position.shape[:1] != (3,) or position.ndim > 2:
        raise ValueError(f"location: a GCRS position (x, y, z) in km, shape (3,) or (3, N), "
                         f"not shape {position.shape}")
    # the Rømer delay of the observer's offset from the geocentre, toward the target
    unit = direction.cartesian.xyz.value
    return np.asarray(ltt + unit @ position * 1e3 / _C_M_S, dtype=np.float64)


def utc_to_bjd_tdb(mjd_utc: np.ndarray, ra: float, dec: float, location=None) -> np.ndarray:
    """BJD_TDB (as a JD) of observatory times in MJD UTC."""
    from astropy.time import Time, TimeDelta

    mjd_utc = np.asarray(mjd_utc, dtype=np.float64)
    times = Time(mjd_utc, format="mjd", scale="utc")
    ltt = light_travel_seconds(mjd_utc, ra, dec, location)
    return np.asarray((times.tdb + TimeDelta(ltt, format="sec")).jd, dtype=np.float64)


def bjd_tdb_to_utc(bjd: np.ndarray, ra: float, dec: float, location=None, *,
                   time_format: str = "jd", time_scale: str = "tdb") -> np.ndarray:
    """Observatory MJD UTC of barycentric times (the inverse of `utc_to_bjd_tdb`).

    ``time_scale`` is the scale the barycentric times are in: "tdb" (BJD_TDB, the
    convention), or "utc" (BJD_UTC, older light curves), "tcb", "tt"...  The
    light-travel time depends on the observatory time being sought; it changes
    by < 10^-4 s per s, so three fixed-point steps reach microseconds.
    """
    from astropy.time import Time, TimeDelta

    if time_format not in ("jd", "mjd"):
        raise ValueError(f"time_format must be 'jd' or 'mjd', not {time_format!r}")
    barycentric = Time(np.asarray(bjd, dtype=np.float64), format=time_format,
                       scale=time_scale)
    utc = barycentric.utc.mjd
    for _ in range(3):
        ltt = light_travel_seconds(utc, ra, dec, location)
        utc = (barycentric - TimeDelta(ltt, format="sec")).utc.mjd
    return np.asarray(utc, dtype=np.float64)


def science_intervals(mid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of integrations known only by their mid times: midway to each neighbour,
    at most half the median spacing either side, so an integration beside a gap does not
    swallow half of it."""
    mid = np.asarray(mid, dtype=np.float64)
    if len(mid) < 2:
        raise ValueError("at least two integrations are needed to tell their length")
    spacing = np.diff(mid)
    half = 0.5 * float(np.median(spacing))
    before = np.minimum(np.r_[half, 0.5 * spacing], half)
    after = np.minimum(np.r_[0.5 * spacing, half], half)
    return mid - before, mid + after


def to_observatory_utc(science: ScienceInput, *, ra: float | None = None,
                       dec: float | None = None, location=None,
                       direction_note: str = "") -> ScienceSeries:
    """A science series as read onto the observatory's MJD UTC clock.

    Parameters
    ----------
    science : fgs_widgets.data.ScienceInput
    ra, dec : float, optional
        Direction of the light-travel time (degrees); needed for barycentric times
        without an ``INT_TIMES`` table.
    location : optional
        The observer (see `light_travel_seconds`); default the geocentre.
    direction_note : str
        Where ra/dec came from, for the notes (e.g. "the guide star (GS_RA, GS_DEC)").

    Returns
    -------
    fgs_widgets.data.ScienceSeries
        With notes saying what was converted and how large its error can be.

    Raises
    ------
    ValueError
        Barycentric times and no direction; unknown time format or scale.
    """
    from astropy.time import Time

    notes = list(science.notes)
    direction = None
    if science.int_times is not None:  # the pipeline's own UTC times: nothing to convert
        table: pd.DataFrame = science.int_times
        mid, start, end = (table[c].to_numpy(np.float64) for c in ("mid", "start", "end"))
        notes.append("times from the file's INT_TIMES (MJD UTC), as the pipeline wrote them")
        intervals = "int_times"
    else:
        if science.time_format not in ("jd", "mjd"):
            raise ValueError(f"time format {science.time_format!r}: 'jd' or 'mjd' expected")
        if science.barycentric:
            if ra is None or dec is None:
                raise ValueError(
                    f"{science.source}: the times are {science.system}; the light-travel "
                    "time to the barycentre needs the target's direction: pass ra= and dec= "
                    "(degrees), or load the guide-star data first (its GS_RA/GS_DEC is used)")
            direction = (float(ra), float(dec))
            mid = bjd_tdb_to_utc(science.time, *direction, location,
                                 time_format=science.time_format,
                                 time_scale=science.time_scale)
            where = "at the geocentre" if location is None else "at the given position"
            toward = direction_note or f"ra {ra:.5f}°, dec {dec:+.5f}°"
            shift = (science.time - (mid + (2400000.5 if science.time_format == "jd" else 0))
                     ) * 86400.0
            steps = "the light-travel time" if science.time_scale == "utc" else \
                f"{science.time_scale.upper()}→UTC and the light-travel time"
            notes.append(f"{science.system} → MJD UTC: {steps} "
                         f"toward {toward} {where} ({np.min(shift):+.1f} to "
                         f"{np.max(shift):+.1f} s in all)"
                         + (f"; ≤ {GEOCENTRE_ERROR_S:.0f} s from using the geocentre for JWST "
                            "(pass location= for its position)"
                            if location is None else ""))
        else:
            try:
                times = Time(science.time, format=science.time_format, scale=science.time_scale)
            except ValueError as exc:
                raise ValueError(f"{science.source}: time scale {science.time_scale!r}: {exc}"
                                 ) from None
            mid = np.asarray(times.utc.mjd, dtype=np.float64)
            if science.time_scale != "utc":
                notes.append(f"{science.system} → MJD UTC (no light-travel time: the times "
                             "are not barycentric)")
        start, end = science_intervals(mid)
        intervals = "midpoints"
        notes.append("integration start/end midway between neighbouring mid times")
    return ScienceSeries(time=mid, start=start, end=end, flux=science.flux,
                         error=science.error, original_time=science.time,
                         original_system=science.system, source=science.source,
                         direction=direction, intervals=intervals, notes=tuple(notes))
