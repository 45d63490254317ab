"""Save and reopen a `Session` as one self-describing folder.

Layout of ``<name>.fgs/``::

    manifest.json        versions, settings (cursor, window, parameter, history), the
                         data reference (files with sizes and sha256), what else is here,
                         each periodogram's counts and what it removed first
    frames.parquet       frame times (and the frames themselves with include_frames)
    fit.parquet          full fit, if any
    quick_fit.parquet    quick fit, if any
    events.parquet       event table, if any
    periodograms.npz     column -> frequency, power
    peaks.parquet        every periodogram's peaks (a ``column`` column says whose)
    levels.parquet       the levels each periodogram removed first, if any (``column`` too)
    telemetry/<M>.parquet  each fetched mnemonic
    science.parquet      the science series (times, flux, error, original time), if any;
                         its time system, source and notes are in the manifest

The folder is written under a temporary name and swapped in only when
complete (`fgs_widgets.atomic.atomic_directory`), so a crash mid-save never
replaces a good save.  Reopening reads the referenced files again (checked
against their checksums) and selects the saved frames by time, so slices and
filters come back exactly; no fit is redone.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import traitlets as t

from .astropy_tables import mixed_type_columns
from .atomic import atomic_directory, file_sha256
from .data import GuideStarData, ScienceSeries
from .session_schema import tagged

__all__ = ["SessionFileError", "read_session", "save_session"]

#: 2: periodograms with peaks and counts, telemetry, history (1 still opens);
#: 3: the science series (an older fgs_widgets refuses it rather than drop it)
FORMAT_VERSION = 3


class SessionFileError(ValueError):
    """A saved session is missing, incomplete, corrupt, or its data files changed."""



def save_session(session: t.HasTraits, path: str | os.PathLike, *,
                 include_frames: bool = False) -> Path:
    """Write ``session`` to the folder ``path`` (``.fgs`` is appended if missing).

    Parameters
    ----------
    session : fgs_widgets.Session
        Its traits tagged ``saved`` are written (`fgs_widgets.session_schema`).
    path : path
        Target folder; an existing save there is replaced only once the new
        one is complete.
    include_frames : bool
        Store the frames themselves (a self-contained save for a colleague
        without the FITS files) instead of a reference to the files.

    Returns
    -------
    Path
        The folder written.
    """
    from . import __version__

    target = Path(path)
    if target.suffix != ".fgs":
        target = target.with_name(target.name + ".fgs")
    with atomic_directory(target) as staging:
        manifest: dict[str, Any] = {
            "format": "fgs_widgets session", "format_version": FORMAT_VERSION,
            "fgs_widgets_version": __version__,
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
            "tables": [], "frames_included": include_frames, "files": [],
        }
        for name, codec in _saved_traits(type(session)):
            value = getattr(session, name)
            if codec == "json":  # always written: a default is a value too
                manifest[name] = list(value) if isinstance(value, tuple) else value
            elif value is not None and not (isinstance(value, dict) and not value):
                _WRITERS[codec](name, value, staging, manifest, include_frames)
        # the manifest goes last: a folder without one is visibly incomplete
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return target


def _saved_traits(cls: type) -> list[tuple[str, str]]:
    """(name, codec) of every trait tagged ``saved``, in declaration order."""
    traits = cls.class_traits()
    return [(name, traits[name].metadata["saved"]) for name in tagged(cls, "saved")]


def _write_one_table(name: str, table: pd.DataFrame, staging: Path, manifest: dict,
                     include_frames: bool) -> None:
    _write_table(table, staging / f"{name}.parquet", manifest, name)
    manifest["tables"].append(name)


def _write_table_folder(name: str, tables: dict, staging: Path, manifest: dict,
                        include_frames: bool) -> None:
    (staging / name).mkdir()
    for key, table in tables.items():
        _write_table(table, staging / name / f"{key}.parquet", manifest, f"{name}/{key}")
    manifest[name] = list(tables)  # in the order they came


def _write_science(name: str, science: ScienceSeries, staging: Path, manifest: dict,
                   include_frames: bool) -> None:
    table = science.table().rename(columns={science.original_system.lower(): "original_time"})
    table.to_parquet(staging / "science.parquet")
    manifest["science"] = {"original_system": science.original_system,
                           "source": science.source, "intervals": science.intervals,
                           "direction": list(science.direction) if science.direction else None,
                           "notes": list(science.notes)}


def _read_science(folder: Path, manifest: dict, table: Any) -> ScienceSeries | None:
    meta = manifest.get("science")
    if not meta:
        return None
    frame = table("science")
    try:
        return ScienceSeries(
            **{c: frame[c].to_numpy(np.float64) for c in
               ("time", "start", "end", "flux", "error", "original_time")},
            original_system=str(meta["original_system"]), source=str(meta.get("source", "")),
            direction=tuple(meta["direction"]) if meta.get("direction") else None,
            intervals=str(meta.get("intervals", "midpoints")),
            notes=tuple(str(n) for n in meta.get("notes", [])))
    except (KeyError, ValueError, TypeError) as exc:
        raise SessionFileError(f"{folder / 'science.parquet'}: not a science series "
                               f"({type(exc).__name__}: {exc})") from exc


def _write_table(table: pd.DataFrame, file: Path, manifest: dict, name: str) -> None:
    """Parquet, with mixed-type columns as JSON text (listed in the manifest) so they return."""
    mixed = mixed_type_columns(table)
    if mixed:
        table = table.assign(**{c: table[c].map(lambda v: json.dumps(
            v.item() if isinstance(v, np.generic) else v)) for c in mixed})
        manifest.setdefault("json_columns", {})[name] = mixed
    table.to_parquet(file)


def _write_data(name: str, data: GuideStarData, staging: Path, manifest: dict,
                include_frames: bool) -> None:
    # the flux too: photometry (a chosen aperture) makes it differ from the files' sums
    frames = pd.DataFrame({"time": data.time, "file_index": data.segments,
                           "quality": data.quality, "flux": data.flux})
    if include_frames:
        frames = pd.concat([frames, pd.DataFrame(
            data.frames.reshape(len(data), 64), columns=[f"p{i}" for i in range(64)])], axis=1)
        data.products.to_parquet(staging / "products.parquet")
    else:
        manifest["files"] = [
            {"name": row.file_name, "path": row.path, "size": Path(row.path).stat().st_size,
             "sha256": file_sha256(Path(row.path))}
            for row in data.products.itertuples() if Path(row.path).exists()]
    frames.to_parquet(staging / "frames.parquet")
    manifest["n_frames"] = len(data)


#: the Periodogram fields kept in the manifest (arrays and peaks have files of their own)
_PERIODOGRAM_COUNTS = ("n_used", "n_excluded", "n_flagged", "n_nan", "start", "grid_step")


def _write_periodograms(name: str, periodograms: dict, staging: Path, manifest: dict,
                        include_frames: bool) -> None:
    arrays, peaks, levels, counts = {}, [], [], {}
    for column, result in periodograms.items():
        arrays[f"{column}__frequency"] = np.asarray(result.frequency)
        arrays[f"{column}__power"] = np.asarray(result.power)
        peaks.append(result.peaks.assign(column=column))
        counts[column] = {name: float(getattr(result, name)) for name in _PERIODOGRAM_COUNTS}
        counts[column].update(detrend=result.detrend, piece_name=result.piece_name)
        if len(result.levels):
            levels.append(result.levels.assign(column=column))
    np.savez(staging / "periodograms.npz", **arrays)
    pd.concat(peaks, ignore_index=True).to_parquet(staging / "peaks.parquet")
    if levels:
        pd.concat(levels, ignore_index=True).to_parquet(staging / "levels.parquet")
    manifest["periodograms"] = counts


def read_session(path: str | os.PathLike, model: type[t.HasTraits], *,
                 search_paths: list[str | os.PathLike] | None = None,
                 verify: bool = True) -> dict[str, Any]:
    """The saved values of every trait tagged ``saved``, read and checked.

    Everything is read before anything is returned, so a damaged save changes
    nothing.

    Parameters
    ----------
    path : path
        The ``.fgs`` folder.
    model : type
        The class whose traits tagged ``saved`` are read (`fgs_widgets.Session`).
    search_paths : list of folders, optional
        Where to look for the data files if they moved (matched by name and checksum).
    verify : bool
        Check the files' checksums (a changed file would silently change the frames).

    Raises
    ------
    SessionFileError
        Missing or corrupt manifest/tables, or data files missing or changed;
        the message names the file and what to do.
    """
    folder = Path(path)
    manifest = _manifest(folder)

    def table(name: str) -> pd.DataFrame:
        file = folder / f"{name}.parquet"
        try:
            frame = pd.read_parquet(file)
            for column in manifest.get("json_columns", {}).get(name, []):
                frame[column] = frame[column].map(json.loads)
            return frame
        except Exception as exc:
            raise SessionFileError(f"{file}: cannot be read ({type(exc).__name__}: {exc})") from exc

    traits = model.class_traits()
    saved: dict[str, Any] = {}
    for name, codec in _saved_traits(model):
        if codec == "json":
            value = manifest.get(name)
            if value is None:
                saved[name] = traits[name].default()
            else:  # JSON has no tuples
                saved[name] = tuple(value) if isinstance(traits[name], t.Tuple) else value
        elif codec == "table":
            saved[name] = table(name) if name in manifest.get("tables", []) else None
        elif codec == "tables":
            saved[name] = {key: table(f"{name}/{key}") for key in manifest.get(name, [])}
        elif codec == "data":
            saved[name] = _read_data(folder, manifest, table, search_paths, verify)
        else:
            saved[name] = _READERS[codec](folder, manifest, table)
    return saved


def _manifest(folder: Path) -> dict:
    manifest_path = folder / "manifest.json"
    if not folder.is_dir():
        raise SessionFileError(f"{folder}: no saved session here (expected a .fgs folder)")
    if not manifest_path.exists():
        raise SessionFileError(
            f"{folder}: manifest.json is missing, so this save is incomplete (interrupted?); "
            "the tables inside were not trusted")
    try:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != "fgs_widgets session":
            raise ValueError("not an fgs_widgets session manifest")
    except ValueError as exc:
        raise SessionFileError(f"{manifest_path}: corrupt ({exc})") from exc
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise SessionFileError(f"{folder}: saved by a newer fgs_widgets; upgrade to open it")
    return manifest


def _read_data(folder: Path, manifest: dict, table: Any, search_paths: list | None,
               verify: bool) -> GuideStarData | None:
    from .archive.reader import read_fine_guide

    if "n_frames" not in manifest:
        return None
    frames_table = table("frames")
    if manifest.get("frames_included"):
        return _data_from_saved_frames(frames_table, table("products"))
    paths = [_locate(entry, folder, search_paths, verify) for entry in manifest["files"]]
    full = read_fine_guide(paths, strict=True)
    data = full[np.isin(full.time, frames_table["time"].to_numpy())]
    if len(data) != manifest["n_frames"]:
        raise SessionFileError(
            f"{folder}: the data files give {len(data)} of the {manifest['n_frames']} "
            "saved frames; they changed since the save")
    # the flags as saved (read alone, a subset's first file has no gap before it), and the
    # flux as saved (photometry)
    flux = frames_table["flux"].to_numpy(np.float64) if "flux" in frames_table else data.flux
    return dataclasses.replace(data, quality=frames_table["quality"].to_numpy(np.uint16),
                               flux=flux)


def _read_periodograms(folder: Path, manifest: dict, table: Any) -> dict:
    """Periodogram objects as a fresh session holds them (``model`` is not saved: None)."""
    from .engine.periodogram import Periodogram, empty_levels, empty_peaks

    columns = manifest.get("periodograms") or {}
    if not columns:
        return {}
    file = folder / "periodograms.npz"
    try:
        with np.load(file) as arrays:
            grids = {c: (arrays[f"{c}__frequency"], arrays[f"{c}__power"]) for c in columns}
        # format 1 kept only the grids: no peaks, no counts
        peaks = pd.read_parquet(folder / "peaks.parquet") if isinstance(columns, dict) else None
        # saves before the periodograms removed levels have none: all "none"
        levels = (pd.read_parquet(folder / "levels.parquet")
                  if (folder / "levels.parquet").exists() else None)
    except Exception as exc:
        raise SessionFileError(f"{file}: cannot be read ({exc})") from exc
    results = {}
    for column in columns:
        counts = columns[column] if isinstance(columns, dict) else {}
        mine = (peaks[peaks["column"] == column].drop(columns="column").reset_index(drop=True)
                if peaks is not None else empty_peaks())
        removed = (levels[levels["column"] == column].drop(columns="column")
                   .reset_index(drop=True) if levels is not None else empty_levels())
        results[column] = Periodogram(
            column=column, frequency=grids[column][0], power=grids[column][1], peaks=mine,
            n_used=int(counts.get("n_used", 0)), n_excluded=int(counts.get("n_excluded", 0)),
            n_flagged=int(counts.get("n_flagged", 0)), n_nan=int(counts.get("n_nan", 0)),
            start=float(counts.get("start", np.nan)),
            grid_step=float(counts.get("grid_step", np.nan)),
            detrend=str(counts.get("detrend", "none")),
            piece_name=str(counts.get("piece_name", "")),
            levels=removed if len(removed) else empty_levels())
    return results


def _locate(entry: dict, folder: Path, search_paths: list | None, verify: bool) -> Path:
    candidates = [Path(entry["path"])]
    for root in search_paths or []:
        candidates += list(Path(root).rglob(entry["name"]))
    for candidate in candidates:
        if candidate.exists() and candidate.stat().st_size == entry["size"]:
            if not verify or file_sha256(candidate) == entry["sha256"]:
                return candidate
    raise SessionFileError(
        f"{folder}: data file {entry['name']} not found unchanged at {entry['path']}; pass "
        "search_paths=[folder] where it now lives, or re-save with include_frames=True")


def _data_from_saved_frames(frames: pd.DataFrame, products: pd.DataFrame) -> GuideStarData:
    """Rebuild the data of a self-contained save (no ERR or per-file tables are kept)."""
    pixels = frames[[f"p{i}" for i in range(64)]].to_numpy(np.float32).reshape(-1, 8, 8)
    if "flux" in frames:
        flux = frames["flux"].to_numpy(np.float64)
    else:  # saved before format 2
        flux = np.where(np.isnan(pixels), 0.0, pixels).sum(axis=(1, 2), dtype=np.float64)
        flux[np.isnan(pixels).all(axis=(1, 2))] = np.nan
    return GuideStarData(frames=pixels, time=frames["time"].to_numpy(), flux=flux,
                         quality=frames["quality"].to_numpy(np.uint16),
                         segments=frames["file_index"].to_numpy(np.int32), products=products)


#: how each ``saved`` codec is written (`save_session`); "json" goes into the manifest
_WRITERS = {"table": _write_one_table, "tables": _write_table_folder, "data": _write_data,
            "periodograms": _write_periodograms, "science": _write_science}
#: how the codecs of their own are read (`read_session`; tables and data are read there)
_READERS = {"periodograms": _read_periodograms, "science": _read_science}
