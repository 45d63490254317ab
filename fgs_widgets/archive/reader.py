"""Read and stitch JWST fine-guide (``gs-fg``) files into one `GuideStarData`.

Uses astropy.io.fits only (no jwst pipeline).  Two passes: headers first (cheap;
validate, filter, sort by DATASTRT, count frames), then the pixel data copied
from memory-mapped files straight into one preallocated array, so a
10^6-frame program costs about the frame bytes (+ ERR) and no more.
"""

from __future__ import annotations

import contextlib
import glob
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astropy.io import fits

from ..data import FRAME_SHAPE, GuideStarData, Problem, Quality
from . import guider_tables
from .names import parse_file_name, parse_folder_name

__all__ = ["PRODUCT_COLUMNS", "FGSReadWarning", "ReadError", "read_fine_guide"]

#: columns of `GuideStarData.products` (the seed's ``fg_table``)
PRODUCT_COLUMNS = (
    "file_name",
    "path",
    "program",
    "observation",
    "visit",
    "visit_group",
    "parallel_sequence_id",
    "activity",
    "exposure",
    "segment",
    "guider",
    "gs_id",
    "gs_ra",
    "gs_dec",
    "gs_mag",
    "gs_order",
    "gsc_version",  # GSC_VER: the Guide Star Catalog version the star is from
    "data_start",
    "data_end",
    "n_frames",
    "first_frame",
    "level",
    "centroid_time_offset",
)
_INT_COLUMNS = (
    "program",
    "observation",
    "visit",
    "visit_group",
    "parallel_sequence_id",
    "exposure",
    "segment",
    "guider",
    "gs_order",
    "n_frames",
    "first_frame",
)
_REQUIRED_KEYWORDS = ("EXP_TYPE", "DATASTRT", "DATAEND")
_TABLES = {"POINTING": "pointing", "FGS CENTROID PACKET": "centroids"}
#: raw files: Fowler sampling, this many reads averaged at each end (jwst ``guider_cds``)
_FOWLER_READS = 4
#: what ``guider_cds`` uses when no gain / read-noise reference file is at hand
_DEFAULT_GAIN, _DEFAULT_READ_NOISE = 1.9713863, 21.0  # e-/DN, DN
#: a centroid packet whose times differ from the frame times by more than this is reported
_TIME_OFFSET_WARN_S = 1.0
_DO_NOT_USE, _SATURATED = 1, 2  # JWST DQ bits 0 and 1
_CHUNK = 65_536  # frames per block when computing flux and flags (bounds temporaries)


class ReadError(ValueError):
    """A fine-guide file (or every file asked for) could not be read.

    Attributes
    ----------
    problems : list of Problem
    """

    def __init__(self, message: str, problems: Iterable[Problem] = ()):
        super().__init__(message)
        self.problems = list(problems)


class FGSReadWarning(UserWarning):
    """Some files of a multi-file read were skipped (listed in ``.problems``)."""


@dataclass
class _Header:
    path: Path
    n_frames: int
    meta: dict[str, Any]
    has_err: bool
    tables: tuple[str, ...]  #: table HDUs that have rows (header-only ones are absent)
    n_reads: int | None = None  #: raw (``_uncal``) files: reads per integration
    group_time: float | None = None  #: raw files: TGROUP, seconds between reads
    scaled: bool = False  #: SCI or ERR has BZERO/BSCALE/BLANK (astropy can't memory-map it)


def _resolve(paths: str | os.PathLike | Iterable[str | os.PathLike], pattern: str) -> list[Path]:
    """Files from a file, a folder (searched recursively), a glob, or a list of those."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []
    for item in paths:
        text = os.fspath(item)
        path = Path(text).expanduser()
        if path.is_dir():
            found.extend(sorted(path.rglob(pattern)))
        elif path.exists():
            found.append(path)
        elif glob.has_magic(text):
            found.extend(
                Path(p) for p in sorted(glob.glob(os.path.expanduser(text), recursive=True))
            )
        else:
            found.append(path)  # reported as a problem (missing file) below
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve() if path.exists() else path, None)
    return list(unique)


def _text(header: fits.Header, key: str) -> str | None:
    value = header.get(key)
    if value is None:
        return None
    return str(value).strip()


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


@contextlib.contextmanager
def _truncation_is_an_error() -> Iterator[None]:
    """astropy only *warns* about a short file; for us it is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", fits.verify.VerifyWarning)
        warnings.filterwarnings("error", message=".*truncated.*")
        yield


def _read_header(path: Path) -> _Header:
    """Open one file, validate it, and collect its metadata (no pixel data read).

    Every fault, whatever raised it, leaves as a `ReadError` naming the file.
    """
    if not path.exists():
        raise ReadError(f"{path}: file does not exist")
    if not path.is_file():
        raise ReadError(f"{path}: not a regular file")
    with open(path, "rb") as handle:
        if handle.read(9) != b"SIMPLE  =":
            raise ReadError(
                f"{path}: not a FITS file (it does not start with a FITS header); "
                "expected a JWST '_gs-fg_..._cal.fits' product"
            )
    try:
        with _truncation_is_an_error(), fits.open(path, memmap=True, lazy_load_hdus=False) as hdul:
            return _header_of(path, hdul)
    except ReadError:
        raise
    except Exception as exc:  # any fault of a file must stay that file's problem
        raise ReadError(
            f"{path}: cannot be read as FITS ({type(exc).__name__}: {exc}); download it again"
        ) from None


def _header_of(path: Path, hdul: fits.HDUList) -> _Header:
    primary = hdul[0].header
    missing = [key for key in _REQUIRED_KEYWORDS if key not in primary]
    if missing:
        raise ReadError(
            f"{path}: primary header lacks required keyword(s) {', '.join(missing)}; "
            "is this a JWST guider product written by the pipeline?"
        )
    exp_type = _text(primary, "EXP_TYPE")
    if exp_type != "FGS_FINEGUIDE":
        raise ReadError(
            f"{path}: EXP_TYPE is {exp_type!r}, not 'FGS_FINEGUIDE'; only fine-guide "
            "('_gs-fg_') files hold the 8x8 guide-star frames"
        )
    names = [hdu.name.upper() for hdu in hdul]
    if "SCI" not in names:
        raise ReadError(f"{path}: no SCI extension (the guide-star frames)")
    sci = hdul["SCI"]
    shape = tuple(sci.shape)
    if len(shape) == 2:
        shape = (1, *shape)
    n_reads = group_time = None
    if len(shape) == 4 and shape[2:] == FRAME_SHAPE:
        n_reads, group_time = _raw_layout(path, primary, shape)
    elif len(shape) != 3 or shape[1:] != FRAME_SHAPE:
        raise ReadError(
            f"{path}: SCI has shape {tuple(sci.shape)}, expected (n_frames, 8, 8) (a fine-guide "
            "'_cal' file) or (n_frames, n_reads, 8, 8) (a fine-guide '_uncal' file)"
        )
    if shape[0] == 0:
        raise ReadError(
            f"{path}: SCI holds no frames (shape {tuple(sci.shape)}, NINTS="
            f"{primary.get('NINTS', '?')}): this exposure recorded no fine-guide data; "
            "there is nothing to read in it"
        )
    expected = max(hdu._data_offset + hdu._data_size for hdu in hdul)
    if os.path.getsize(path) < expected:
        raise ReadError(
            f"{path}: file is truncated ({os.path.getsize(path):,} bytes, its headers "
            f"announce at least {expected:,}); download it again"
        )
    has_err = n_reads is not None or (
        "ERR" in names and tuple(hdul["ERR"].shape) == tuple(sci.shape))
    start, end = float(primary["DATASTRT"]), float(primary["DATAEND"])
    if not (np.isfinite(start) and np.isfinite(end)) or end < start:
        raise ReadError(
            f"{path}: DATASTRT={start} / DATAEND={end} do not describe a time range"
        )
    meta = _metadata(path, primary, start, end, shape[0])
    meta["level"] = "uncal" if n_reads is not None else "cal"
    tables = tuple(
        hdu.name.upper() for hdu in hdul
        if hdu.name.upper() in _TABLES and isinstance(hdu, fits.BinTableHDU)
        and hdu.header.get("NAXIS2", 0) > 0
    )
    scaled = any(key in hdul[ext].header for ext in ("SCI", "ERR") if ext in names
                 for key in ("BZERO", "BSCALE", "BLANK"))
    return _Header(path, shape[0], meta, has_err, tables, n_reads, group_time, scaled)


def _raw_layout(path: Path, primary: fits.Header, shape: tuple[int, ...]) -> tuple[int, float]:
    """Reads per integration and TGROUP of a fine-guide ``_uncal`` file, checked."""
    n_reads = shape[1]
    if n_reads < 2 * _FOWLER_READS:
        raise ReadError(
            f"{path}: a raw fine-guide file with {n_reads} reads per integration (SCI shape "
            f"{shape}); the count rate needs {_FOWLER_READS} reads at each end — use the "
            "'_cal' file of this exposure"
        )
    group_time = primary.get("TGROUP")
    try:
        group_time = float(group_time)
    except (TypeError, ValueError):
        group_time = float("nan")
    if not (np.isfinite(group_time) and group_time > 0):
        raise ReadError(
            f"{path}: a raw ('_uncal') fine-guide file without a usable TGROUP keyword "
            f"(time between reads; found {primary.get('TGROUP')!r}), so its count rate cannot "
            "be computed — use the '_cal' file of this exposure"
        )
    return n_reads, group_time


def _metadata(path: Path, header: fits.Header, start: float, end: float, n: int) -> dict:
    from_name = parse_file_name(path.name)
    folder = parse_folder_name(path.parent.name)
    detector = (_text(header, "DETECTOR") or "").upper()
    guider = _int_or_none(detector[-1:]) if detector.startswith("GUIDER") else None
    segment = from_name.segment if from_name else None
    if segment is None and folder is not None:
        segment = folder.segment
    return {
        "file_name": path.name,
        "path": str(path),
        "program": _int_or_none(header.get("PROGRAM")) or (from_name and from_name.program),
        "observation": _int_or_none(header.get("OBSERVTN"))
        or (from_name and from_name.observation),
        "visit": _int_or_none(header.get("VISIT")) or (from_name and from_name.visit),
        "visit_group": folder.visit_group if folder else _int_or_none(header.get("VISITGRP")),
        "parallel_sequence_id": folder.parallel_sequence_id
        if folder
        else _int_or_none(header.get("SEQ_ID")),
        "activity": folder.activity if folder else _text(header, "ACT_ID"),
        "exposure": folder.exposure if folder else _int_or_none(header.get("EXPOSURE")),
        "segment": segment,
        "guider": guider if guider is not None else (folder.guider if folder else None),
        "gs_id": _text(header, "GDSTARID"),
        "gs_ra": header.get("GS_RA", np.nan),
        "gs_dec": header.get("GS_DEC", np.nan),
        "gs_mag": header.get("GS_MAG", np.nan),
        "gs_order": _int_or_none(header.get("GS_ORDER")),
        "gsc_version": _text(header, "GSC_VER"),
        "data_start": start,
        "data_end": end,
        "n_frames": n,
    }


def _matches(meta: dict, filters: dict[str, Any]) -> bool:
    from ..data import _normalize

    for key, wanted in filters.items():
        if wanted is None:
            continue
        values = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
        if _normalize(meta.get(key)) not in {_normalize(v) for v in values}:
            return False
    return True


def _frame_times(start: float, end: float, n: int) -> np.ndarray:
    """Evenly spaced from DATASTRT to DATAEND, as the reference tool does."""
    return np.linspace(start, end, n) if n > 1 else np.array([start], dtype=np.float64)


def read_fine_guide(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    strict: bool = False,
    errors: bool = True,
    pattern: str = "*_gs-fg_*_cal.fits",
    observation: Any = None,
    visit: Any = None,
    guider: Any = None,
    segment: Any = None,
    gs_id: Any = None,
    validate: bool = False,
) -> GuideStarData:
    """Read fine-guide files and stitch them, in time order, into one series.

    Parameters
    ----------
    paths : path, glob, folder, or a list of those
        Folders are searched recursively for `pattern`.
    strict : bool
        Raise on the first unreadable file instead of skipping it.
    errors : bool
        Also read the ERR extension (doubles memory; needed for weighted fits).
    pattern : str
        File pattern used inside folders.
    observation, visit, guider, segment, gs_id : value or list, optional
        Keep only files matching these (``1`` matches ``"001"``).  Applied to
        headers before any pixel is read.
    validate : bool
        Also open each file with the official JWST data model
        (``GuiderCalModel``/``GuiderRawModel``, strict validation): a file it
        rejects becomes a problem (``stdatamodels``, a core dependency); costs
        ~0.1 s per file.

    Returns
    -------
    GuideStarData
        Frames are never dropped: negative-flux, NaN and DQ-flagged frames are
        kept and flagged in ``quality``.  ``problems`` lists skipped files and
        files read in part (an unreadable table), each with what to do.
        ``tables["pointing"]`` has ``time`` in MJD (DATASTRT + the stored
        milliseconds) and ``HGA_motion`` codes (0 moving, 1 finished, 2
        offline); ``tables["centroids"]`` keeps the packet's positions in
        arcsec (``*_arcsec`` columns).  ``products["centroid_time_offset"]``
        is the offset in seconds between the packet's times and the frame
        times (a check: frame times stay DATASTRT..DATAEND; a warning names
        files where they disagree by more than a second).

    Raises
    ------
    ReadError
        In strict mode on the first bad file; otherwise only when no file at
        all could be read (the message lists why for each).  Never another
        exception type for a bad file.

    Notes
    -----
    Header-only or empty tables (the pipeline copies only tables with rows)
    are treated as absent.  A fine-guide ``_uncal`` file (SCI of shape
    (nints, reads, 8, 8)) is turned into count rates as the pipeline's
    ``guider_cds`` step does — (mean of the last 4 reads - mean of the first
    4) / ``TGROUP`` — so that a program whose calibrated files are not (yet)
    at hand can still be explored; its frames are flagged
    `Quality.FROM_RAW` (no flat field) and ``products["level"]`` says
    "uncal".  When a file's ``_cal`` twin is read as well, the raw file is
    skipped (listed in ``problems``).
    """
    files = _resolve(paths, pattern)
    if not files:
        raise ReadError(f"no files found for {paths!r} (pattern {pattern!r} inside folders)")
    filters = dict(
        observation=observation, visit=visit, guider=guider, segment=segment, gs_id=gs_id
    )
    headers, problems = _headers_to_read(files, filters, strict, validate)
    data, read_problems = _stitch(headers, errors, strict)
    problems += read_problems
    _warn_problems(problems)
    _warn_time_offsets(data["products"])
    return GuideStarData(**{**data, "problems": problems})


def _headers_to_read(files: list[Path], filters: dict[str, Any], strict: bool,
                     validate: bool) -> tuple[list[_Header], list[Problem]]:
    """The headers of the files to read, in time order, and the files skipped so far.

    A file whose header (or, with `validate`, data model) is bad is skipped, or
    raises in `strict` mode; a raw file whose cal twin is read too is skipped;
    files not matching `filters` are left out.  ReadError if nothing is left.
    """
    datamodels = _data_model_library() if validate else None
    headers, problems = [], []
    for path in files:
        try:
            header = _read_header(path)
            if datamodels is not None:
                _validate(header, datamodels)
            headers.append(header)
        except ReadError as exc:
            if strict:
                raise
            problems.append(Problem(str(path), str(exc).removeprefix(f"{path}: ")))
    headers, duplicates = _prefer_calibrated(headers)
    problems += duplicates
    headers = [h for h in headers if _matches(h.meta, filters)]
    if not headers:
        detail = "; ".join(str(p) for p in problems) or f"no file matches {filters}"
        raise ReadError(f"no fine-guide data could be read: {detail}", problems)
    headers.sort(key=lambda h: (h.meta["data_start"], h.meta["file_name"]))
    return headers, problems


def _data_model_library() -> Any:
    try:
        from stdatamodels.jwst import datamodels
    except ImportError as exc:
        raise ImportError("validate=True opens files with the JWST data model (stdatamodels), "
                          f"a dependency of fgs-widgets that does not import here ({exc}): "
                          "reinstall it (pip install --force-reinstall stdatamodels)") from None
    return datamodels


def _validate(header: _Header, datamodels: Any) -> None:
    """The official data model's verdict on one file, as a ReadError naming it."""
    cls = datamodels.GuiderRawModel if header.meta["level"] == "uncal" else (
        datamodels.GuiderCalModel)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # strict validation raises what matters
            with cls(header.path, strict_validation=True) as model:
                model.validate()
    except Exception as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ReadError(f"{header.path}: the JWST data model ({cls.__name__}) rejects it: "
                        f"{detail[:300]}") from None


def _prefer_calibrated(headers: list[_Header]) -> tuple[list[_Header], list[Problem]]:
    """Drop a raw file whose calibrated file (same data) is read too, saying so."""
    calibrated = {h.path.name for h in headers if h.meta["level"] == "cal"}
    kept, problems = [], []
    for header in headers:
        twin = header.path.name.replace("_uncal.fits", "_cal.fits")
        if header.meta["level"] == "uncal" and twin in calibrated:
            problems.append(Problem(str(header.path), f"skipped: its calibrated file {twin} "
                                    "holds the same frames and is read instead"))
        else:
            kept.append(header)
    return kept, problems


def _warn_problems(problems: list[Problem]) -> None:
    """One warning (at `read_fine_guide`'s caller) listing the files skipped or read in part."""
    if problems:
        skipped = sum(p.skipped for p in problems)
        warnings.warn(
            f"{skipped} file(s) skipped, {len(problems) - skipped} read in part, see "
            ".problems: " + "; ".join(str(p) for p in problems),
            FGSReadWarning,
            stacklevel=3,
        )


def _warn_time_offsets(products: pd.DataFrame) -> None:
    offsets = products["centroid_time_offset"].astype(float)
    off = products[offsets.abs() > _TIME_OFFSET_WARN_S]
    if len(off):
        listed = ", ".join(f"{r.file_name} ({r.centroid_time_offset:+.3f} s)"
                           for r in off.itertuples())
        warnings.warn(
            "frame times (DATASTRT..DATAEND) and the FGS Centroid Packet's centroid_time "
            f"disagree by more than {_TIME_OFFSET_WARN_S:g} s in {listed}; frame times are "
            "kept as DATASTRT..DATAEND (products['centroid_time_offset'] has the offsets)",
            FGSReadWarning,
            stacklevel=3,
        )


def _stitch(
    headers: list[_Header], read_errors: bool, strict: bool
) -> tuple[dict[str, Any], list[Problem]]:
    n_total = sum(h.n_frames for h in headers)
    frames = np.empty((n_total, *FRAME_SHAPE), dtype=np.float32)
    want_err = read_errors and all(h.has_err for h in headers)
    err = np.empty_like(frames) if want_err else None
    time = np.empty(n_total, dtype=np.float64)
    segments = np.empty(n_total, dtype=np.int32)
    dq = np.zeros((len(headers), *FRAME_SHAPE), dtype=np.uint32)
    tables: dict[str, list[pd.DataFrame]] = {}
    rows, problems, failed = [], [], []
    first = 0
    for index, header in enumerate(headers):
        stop = first + header.n_frames
        time[first:stop] = _frame_times(
            header.meta["data_start"], header.meta["data_end"], header.n_frames)
        segments[first:stop] = index
        row = {**header.meta, "first_frame": first, "centroid_time_offset": np.nan}
        try:
            file_dq, file_tables, partial = _read_file(
                header, index, frames[first:stop], None if err is None else err[first:stop])
        except Exception as exc:  # one bad file must not take the others down
            message = str(exc) if isinstance(exc, ReadError) else (
                f"{header.path}: cannot be read ({type(exc).__name__}: {exc}); "
                "download it again")
            if strict:
                raise ReadError(message) from None
            problems.append(Problem(str(header.path), message.removeprefix(f"{header.path}: ")))
            failed.append(index)
        else:
            if strict and partial:
                raise ReadError(str(partial[0]))
            problems += partial
            dq[index] = file_dq
            for key, table in file_tables.items():
                tables.setdefault(key, []).append(table)
            if "centroids" in file_tables:
                row["centroid_time_offset"] = _time_offset(
                    file_tables["centroids"]["time"].to_numpy(), time[first:stop])
        rows.append(row)
        first = stop

    products = pd.DataFrame(rows, columns=list(PRODUCT_COLUMNS))
    for column in _INT_COLUMNS:
        products[column] = products[column].astype("Int64")  # segment etc. may be missing
    data = GuideStarData(
        frames=frames, time=time, flux=np.zeros(n_total), quality=np.zeros(n_total, np.uint16),
        segments=segments, products=products, errors=err, dq=dq,
        tables={k: _concat_tables(v) for k, v in tables.items()},
    )
    if failed:
        if len(failed) == len(headers):
            raise ReadError("no fine-guide data could be read: "
                            + "; ".join(str(p) for p in problems), problems)
        data = data[~np.isin(segments, failed)]  # the same slicing that keeps tables consistent
    raw = (data.products["level"] == "uncal").to_numpy()
    flux, quality = _flux_and_quality(data.frames, data.segments, data.dq, raw)
    _flag_boundaries(quality, data.time, data.products)
    return dict(
        frames=data.frames, time=data.time, flux=flux, quality=quality, segments=data.segments,
        products=data.products, errors=data.errors, dq=data.dq, tables=data.tables,
    ), problems


def _read_file(
    header: _Header, index: int, frames: np.ndarray, err: np.ndarray | None
) -> tuple[np.ndarray, dict[str, pd.DataFrame], list[Problem]]:
    """Pixels into ``frames``/``err``; the file's DQ, tables and non-fatal problems.

    A table that cannot be parsed costs the table, not the frames: it becomes
    a Problem with ``skipped=False``.
    """
    path = header.path
    dq = np.zeros(FRAME_SHAPE, dtype=np.uint32)
    tables: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    with _truncation_is_an_error(), fits.open(path, memmap=not header.scaled) as hdul:
        if header.n_reads is None:
            _read_image_into(path, hdul["SCI"], frames)
            if err is not None:
                _read_image_into(path, hdul["ERR"], err)
        else:
            _raw_rate_into(hdul["SCI"], header.group_time, frames, err)
        has_dq = "DQ" in hdul and tuple(hdul["DQ"].shape) == FRAME_SHAPE
        for ext in header.tables:
            try:
                raw = np.asarray(hdul[ext].data).view(np.ndarray)
                if _TABLES[ext] == "pointing":
                    table = guider_tables.pointing_table(raw, index, header.meta["data_start"])
                else:
                    table = guider_tables.centroid_table(raw, index)
            except Exception as exc:
                problems.append(Problem(
                    str(path), f"its {ext} table cannot be read ({type(exc).__name__}: {exc}); "
                    "the frames were read without it", skipped=False))
            else:
                tables[_TABLES[ext]] = table
    if has_dq:
        # uint32 DQ is stored with BZERO, which astropy will not memory-map: read it plainly
        dq[...] = fits.getdata(path, "DQ", memmap=False)
    return dq, tables, problems


def _time_offset(centroid_time: np.ndarray, frame_time: np.ndarray) -> float:
    """Seconds between the packet's times and the frame times of one file.

    Row by row (median) when the packet has a row per frame; otherwise the
    offset of the packet's first time from DATASTRT.
    """
    finite = np.isfinite(centroid_time)
    if not finite.any():
        return float("nan")
    if len(centroid_time) == len(frame_time):
        return float(np.median(centroid_time[finite] - frame_time[finite]) * 86400.0)
    return float((centroid_time[finite].min() - frame_time[0]) * 86400.0)


def _raw_rate_into(
    hdu: fits.ImageHDU, group_time: float, out: np.ndarray, err: np.ndarray | None
) -> None:
    """The count rate of raw fine-guide reads, as the pipeline's ``guider_cds`` computes it.

    Fowler sampling: (mean of the last 4 reads - mean of the first 4) / TGROUP,
    per pixel and integration; ERR from the read noise and Poisson terms with
    the pipeline's fallback gain and read noise (no reference files here).
    The flat field is not applied: frames are flagged `Quality.FROM_RAW`.
    """
    data = hdu.data  # astropy applies BZERO (uint16 stored as int16)
    k = _FOWLER_READS
    for a in range(0, len(out), _CHUNK):
        block = np.asarray(data[a : a + _CHUNK], dtype=np.float32)
        rate = (block[:, -k:].mean(axis=1) - block[:, :k].mean(axis=1)) / np.float32(group_time)
        out[a : a + len(rate)] = rate
        if err is not None:
            variance = 2 * (_DEFAULT_READ_NOISE / group_time) ** 2 + np.clip(
                rate, 0, None) / (_DEFAULT_GAIN * group_time)
            err[a : a + len(rate)] = np.sqrt(variance)


def _concat_tables(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack per-file tables column by column.

    ``pd.concat`` turns categoricals with different categories (each file's
    own flags) into object columns, slowly; `union_categoricals` keeps them
    categorical.  Columns missing from a file are NaN there.
    """
    if len(parts) == 1:
        return parts[0]
    names = list(dict.fromkeys(c for part in parts for c in part.columns))
    columns = {}
    for name in names:
        pieces = [part[name] if name in part else pd.Series(np.nan, index=part.index)
                  for part in parts]
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in pieces):
            columns[name] = pd.api.types.union_categoricals(pieces, ignore_order=True)
        else:
            columns[name] = np.concatenate([p.to_numpy() for p in pieces])
    return pd.DataFrame(columns, copy=False)  # no consolidating copy of the stacked arrays


def _read_image_into(path: Path, hdu: fits.ImageHDU, out: np.ndarray) -> None:
    """Copy an image extension's pixels into ``out`` (native float32) without a second copy.

    Plain big-endian float32 data is read from the file straight into ``out``'s
    memory and byte-swapped in place: peak memory stays at the output array
    (a memory map would add the mapped pages to the process's resident size).
    Scaled or other-typed images fall back to astropy's conversion.
    """
    header = hdu.header
    plain = header.get("BITPIX") == -32 and "BSCALE" not in header and "BZERO" not in header
    if not (plain and out.flags.c_contiguous):
        out[...] = hdu.data.reshape(out.shape)
        return
    raw = out.reshape(-1).view(np.uint8)
    with open(path, "rb") as handle:
        handle.seek(hdu._data_offset)
        if handle.readinto(memoryview(raw)) != raw.nbytes:
            raise ReadError(f"{path}: {hdu.name} data ends early; download the file again")
    if np.little_endian:
        out.view(np.uint32).byteswap(inplace=True)  # FITS is big-endian


def _flux_and_quality(
    frames: np.ndarray, segments: np.ndarray, dq: np.ndarray, raw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n = len(frames)
    flux = np.empty(n, dtype=np.float64)
    quality = np.zeros(n, dtype=np.uint16)
    file_bits = np.zeros(len(dq), dtype=np.uint16)
    file_bits[(dq & _DO_NOT_USE).reshape(len(dq), -1).any(axis=1)] |= np.uint16(Quality.DQ_FLAGGED)
    file_bits[(dq & _SATURATED).reshape(len(dq), -1).any(axis=1)] |= np.uint16(Quality.SATURATED)
    file_bits[raw] |= np.uint16(Quality.FROM_RAW)
    for a in range(0, n, _CHUNK):
        block = frames[a : a + _CHUNK].reshape(-1, 64)
        sums = block.sum(axis=1, dtype=np.float64)
        # NaN pixels are rare: only frames whose plain sum is NaN need the NaN-aware pass
        with_nan = np.flatnonzero(np.isnan(sums))
        n_nan = np.zeros(len(block), dtype=np.int64)
        if len(with_nan):
            nan = np.isnan(block[with_nan])
            n_nan[with_nan] = nan.sum(axis=1)
            sums[with_nan] = np.where(nan, 0.0, block[with_nan]).sum(axis=1, dtype=np.float64)
        flux[a : a + _CHUNK] = sums
        q = quality[a : a + _CHUNK]
        q[n_nan > 0] |= np.uint16(Quality.NAN_PIXELS)
        q[n_nan == 64] |= np.uint16(Quality.ALL_NAN)
        q[flux[a : a + _CHUNK] < 0] |= np.uint16(Quality.NEGATIVE_FLUX)
        q |= file_bits[segments[a : a + _CHUNK]]
    flux[(quality & np.uint16(Quality.ALL_NAN)) > 0] = np.nan  # a sum of nothing is not zero flux
    return flux, quality


def _flag_boundaries(quality: np.ndarray, time: np.ndarray, products: pd.DataFrame) -> None:
    starts = products["first_frame"].to_numpy()
    quality[starts] |= np.uint16(Quality.FILE_START)
    if len(time) < 2:
        return
    cadence = np.median(np.diff(time[: min(len(time), 10_000)]))
    for start in starts[1:]:
        if time[start] - time[start - 1] > 1.5 * cadence:
            quality[start] |= np.uint16(Quality.GAP_BEFORE)
