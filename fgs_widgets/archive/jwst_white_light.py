"""The white light of a JWST time-series product and the integrations it covers.

Holds the crude white-light flux `fgs_widgets.archive.science.read_science`
makes of a ``*_x1dints`` file (the sum of each integration's FLUX over the
wavelengths finite in every integration, from either EXTRACT1D layout) or a
``*_calints``/``*_rateints`` cube (the sum of each SCI image over the pixels
finite and without DQ bit 0 in every integration), its error (root sum of
squares), and the integration number of each row (the spectra's INT_NUM, or
the primary header's INTSTART..INTEND), which `jwst_products` matches to the
INT_TIMES rows.  Only astropy.io.fits: no jwst pipeline, no stdatamodels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.io import fits

from .science_errors import ScienceReadError

__all__ = ["DO_NOT_USE", "WhiteLight", "cube_white_light", "integer_ranges", "x1d_white_light"]

DO_NOT_USE = 1  #: JWST DQ bit 0
_CHUNK = 8  #: integrations of a calints/rateints cube summed at a time
_WHITE_LIGHT = ("a crude white light (every valid pixel), for timing and systematics, "
                "not for science")


@dataclass
class WhiteLight:
    """A JWST file's per-integration white light and the integration numbers of its rows."""

    numbers: np.ndarray
    flux: np.ndarray
    error: np.ndarray | None
    columns: dict[str, str]
    detail: str
    notes: list[str]
    mid_mjd: np.ndarray | None = None  # the spectra's own MJD-AVG, to cross-check


def integer_ranges(numbers: np.ndarray, limit: int = 8) -> str:
    """Integers as ranges: ``1–10, 12, 15–20``.

    Parameters
    ----------
    numbers : numpy.ndarray
        Integers, in any order, repeats allowed.
    limit : int, optional
        Ranges shown before an ellipsis.

    Returns
    -------
    str
        The distinct values as ranges, or "none".
    """
    values = np.unique(np.asarray(numbers, dtype=np.int64))
    if values.size == 0:
        return "none"
    breaks = np.flatnonzero(np.diff(values) != 1) + 1
    groups = [(int(g[0]), int(g[-1])) for g in np.split(values, breaks)]
    text = [f"{a}" if a == b else f"{a}–{b}" for a, b in groups[:limit]]
    return ", ".join(text) + (", …" if len(groups) > limit else "")


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
        raise ScienceReadError(f"{where}: the spectra's INT_NUM repeat "
                               f"({integer_ranges(numbers)} for {n} spectra); cannot tell the "
                               "integrations apart")
    start, end = header.get("INTSTART"), header.get("INTEND")
    if start is not None and end is not None and (numbers.min() < start or numbers.max() > end):
        raise ScienceReadError(f"{where}: its spectra are integrations {integer_ranges(numbers)} "
                               f"(INT_NUM) but the header says INTSTART={start}, INTEND={end}; "
                               "cannot tell which INT_TIMES rows belong to them")
    return numbers, f"INT_NUM {integer_ranges(numbers)}", []


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


def x1d_white_light(hdul: fits.HDUList, where: str) -> WhiteLight:
    """White light of an x1dints file, in either EXTRACT1D layout.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        An open file with at least one EXTRACT1D extension.
    where : str
        How messages name the file.

    Returns
    -------
    WhiteLight
        Per integration: the sum of FLUX over the wavelengths finite in every
        integration, the root sum of FLUX_ERROR² over them, and the
        integration numbers; from the first EXTRACT1D extension (one row per
        integration) or, in the older layout, the extensions of the first
        one's spectral order (one per integration).

    Raises
    ------
    ScienceReadError
        If an EXTRACT1D extension has no FLUX, the spectra differ in length,
        or the integration numbers contradict the header.
    """
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
                     where: str) -> WhiteLight:
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
    return WhiteLight(numbers, flux, error, _x1d_columns(error), detail, notes,
                       _column_or_none(hdu, "MJD-AVG"))


def _per_integration_white_light(hdus: list[fits.BinTableHDU], header: fits.Header,
                                 where: str) -> WhiteLight:
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
    return WhiteLight(numbers, flux, error, _x1d_columns(error), detail, notes, mid)


def _x1d_columns(error: np.ndarray | None) -> dict[str, str]:
    columns = {"flux": "EXTRACT1D.FLUX (sum over wavelength)"}
    if error is not None:
        columns["error"] = "EXTRACT1D.FLUX_ERROR (root sum of squares)"
    return columns


def cube_white_light(hdul: fits.HDUList, where: str) -> WhiteLight:
    """White light of a calints/rateints cube: sum of valid SCI pixels, a few frames at a time.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        An open file with a SCI extension (DQ and ERR used when they match it).
    where : str
        How messages name the file.

    Returns
    -------
    WhiteLight
        Per integration: the sum of SCI over the pixels finite and without
        DQ bit 0 (DO_NOT_USE) in every integration, the root sum of ERR² over
        them, and the integration numbers INTSTART..INTEND.

    Raises
    ------
    ScienceReadError
        If SCI is not 3-D, no pixel is valid throughout, or INTSTART/INTEND
        disagree with the number of integrations.
    """
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
    return WhiteLight(numbers, flux, error, columns, detail, notes)
