"""Save and reopen a `Session` as one self-describing folder.

Layout of ``<name>.fgs/``::

    manifest.json        versions, settings (cursor, window, parameter), the data
                         reference (files with sizes and sha256), what else is here
    frames.parquet       frame times (and the frames themselves with include_frames)
    fit.parquet          full fit, if any
    quick_fit.parquet    quick fit, if any
    events.parquet       event table, if any
    periodograms.npz     column -> frequency, power

The folder is written under a temporary name and swapped in only when
complete, so a crash mid-save never replaces a good save.  Reopening reads the
referenced files again (checked against their checksums) and selects the saved
frames by time, so slices and filters come back exactly; no fit is redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .data import GuideStarData

if TYPE_CHECKING:
    from .model import Session

__all__ = ["SessionFileError", "open_session", "save_session"]

FORMAT_VERSION = 1
_TABLES = ("fit", "quick_fit", "events")


class SessionFileError(ValueError):
    """A saved session is missing, incomplete, corrupt, or its data files changed."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def save_session(session: Session, path: str | os.PathLike, *,
                 include_frames: bool = False) -> Path:
    """Write ``session`` to the folder ``path`` (``.fgs`` is appended if missing).

    Parameters
    ----------
    session : Session
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
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        data: GuideStarData | None = session.data
        manifest: dict[str, Any] = {
            "format": "fgs_widgets session", "format_version": FORMAT_VERSION,
            "fgs_widgets_version": __version__,
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
            "program": session.program, "cursor": int(session.cursor),
            "window": list(session.window) if session.window else None,
            "parameter": session.parameter, "tables": [], "frames_included": include_frames,
            "files": [],
        }
        if data is not None:
            frames = pd.DataFrame({"time": data.time, "file_index": data.segments,
                                   "quality": data.quality})
            if include_frames:
                frames = pd.concat([frames, pd.DataFrame(
                    data.frames.reshape(len(data), 64), columns=[f"p{i}" for i in range(64)])],
                    axis=1)
                data.products.to_parquet(staging / "products.parquet")
            frames.to_parquet(staging / "frames.parquet")
            manifest["files"] = [
                {"name": row.file_name, "path": row.path, "size": Path(row.path).stat().st_size,
                 "sha256": _sha256(Path(row.path))}
                for row in data.products.itertuples() if Path(row.path).exists()
            ] if not include_frames else []
            manifest["n_frames"] = len(data)
        for name in _TABLES:
            table = getattr(session, name)
            if table is not None:
                table.to_parquet(staging / f"{name}.parquet")
                manifest["tables"].append(name)
        if session.periodograms:
            arrays = {}
            for column, result in session.periodograms.items():
                frequency, power = result[0], result[1]
                arrays[f"{column}__frequency"] = np.asarray(frequency)
                arrays[f"{column}__power"] = np.asarray(power)
            np.savez(staging / "periodograms.npz", **arrays)
            manifest["periodograms"] = sorted(session.periodograms)
        # the manifest goes last: a folder without one is visibly incomplete
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
        _swap_in(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging``; the old save survives until the new one is in place."""
    if not target.exists():
        os.replace(staging, target)
        return
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def open_session(path: str | os.PathLike, *, search_paths: list[str | os.PathLike] | None = None,
                 verify: bool = True) -> Session:
    """Reopen a saved session.

    Parameters
    ----------
    path : path
        The ``.fgs`` folder.
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
    from .archive.reader import read_fine_guide
    from .model import Session

    folder = Path(path)
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

    def table(name: str) -> pd.DataFrame:
        file = folder / f"{name}.parquet"
        try:
            return pd.read_parquet(file)
        except Exception as exc:
            raise SessionFileError(f"{file}: cannot be read ({type(exc).__name__}: {exc})") from exc

    session = Session()
    session.program = manifest.get("program") or ""
    data = None
    if "n_frames" in manifest:
        frames_table = table("frames")
        if manifest.get("frames_included"):
            data = _data_from_saved_frames(frames_table, table("products"))
        else:
            paths = [_locate(entry, folder, search_paths, verify) for entry in manifest["files"]]
            full = read_fine_guide(paths, strict=True)
            keep = np.isin(full.time, frames_table["time"].to_numpy())
            data = full[keep]
            if len(data) != manifest["n_frames"]:
                raise SessionFileError(
                    f"{folder}: the data files give {len(data)} of the {manifest['n_frames']} "
                    "saved frames; they changed since the save")
    session.data = data
    for name in manifest.get("tables", []):
        setattr(session, name, table(name))
    if manifest.get("periodograms"):
        file = folder / "periodograms.npz"
        try:
            with np.load(file) as arrays:
                session.periodograms = {
                    c: (arrays[f"{c}__frequency"], arrays[f"{c}__power"])
                    for c in manifest["periodograms"]}
        except Exception as exc:
            raise SessionFileError(f"{file}: cannot be read ({exc})") from exc
    session.parameter = manifest.get("parameter") or "flux"
    session.window = tuple(manifest["window"]) if manifest.get("window") else None
    session.cursor = int(manifest.get("cursor", 0))
    return session


def _locate(entry: dict, folder: Path, search_paths: list | None, verify: bool) -> Path:
    candidates = [Path(entry["path"])]
    for root in search_paths or []:
        candidates += list(Path(root).rglob(entry["name"]))
    for candidate in candidates:
        if candidate.exists() and candidate.stat().st_size == entry["size"]:
            if not verify or _sha256(candidate) == entry["sha256"]:
                return candidate
    raise SessionFileError(
        f"{folder}: data file {entry['name']} not found unchanged at {entry['path']}; pass "
        "search_paths=[folder] where it now lives, or re-save with include_frames=True")


def _data_from_saved_frames(frames: pd.DataFrame, products: pd.DataFrame) -> GuideStarData:
    """Rebuild the data of a self-contained save (no ERR or per-file tables are kept)."""
    pixels = frames[[f"p{i}" for i in range(64)]].to_numpy(np.float32).reshape(-1, 8, 8)
    flux = np.where(np.isnan(pixels), 0.0, pixels).sum(axis=(1, 2), dtype=np.float64)
    flux[np.isnan(pixels).all(axis=(1, 2))] = np.nan
    return GuideStarData(frames=pixels, time=frames["time"].to_numpy(), flux=flux,
                         quality=frames["quality"].to_numpy(np.uint16),
                         segments=frames["file_index"].to_numpy(np.int32), products=products)
