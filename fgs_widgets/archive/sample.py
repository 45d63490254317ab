"""The bundled sample program: realistic ``gs-fg`` cal files made on demand.

`sample_program()` writes (once, then reuses) four fine-guide files of a
made-up visit sequence of program 1534 in the exact real layout (every HDU and
primary keyword the reader uses, MAST-style folders), generated
deterministically from a seed, and returns them with the truth that went into
them, so the demo works offline and tests can check what is recovered.

What is in it (`SampleTruth` has the numbers):

* observation 1 visit 1 split in two segments (guider 1, guide star A), then a
  6-minute gap, observation 2 visits 1 and 2 (guider 2, guide star B): a
  guide-star change, a segment split, file boundaries and gaps;
* centroid: sub-pixel white jitter, a slow linear drift, two sinusoidal
  oscillations (x at 37.5 s, y at 11.3 s) and three tilt-like jumps;
* photon (Poisson) and read noise; ERR from the noisy data as the pipeline
  does; scattered NaN pixels, one all-NaN frame, six drop-out frames with
  negative summed flux, a DO_NOT_USE (NaN) pixel in the last file's DQ;
* an on-board centroid table (``FGS Centroid Packet``) per frame, a
  ``Pointing`` table at 1 Hz whose ``HGA_motion`` shows two high-gain-antenna
  moves, and matching engineering telemetry (``SA_ZHGAUPST``,
  ``INIS_FWMTRCURR``) for the loopback engineering database.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from ..engine.psf import gaussian2d
from .names import file_name, folder_name

__all__ = ["SampleProgram", "SampleTruth", "sample_program", "write_sample_program"]

SAMPLE_VERSION = "1"
PROGRAM = 1534
CADENCE = 0.0625  # s, fine guide at 16 Hz
READ_NOISE = 12.0  # e- per pixel per frame
PIXEL_SCALE = 0.069  # arcsec per FGS pixel, for the on-board centroid table
DO_NOT_USE = 1  # JWST DQ bit 0

#: the files: (observation, visit, segment, guider, guide star, frames, gap before in s)
_LAYOUT = (
    (1, 1, 1, 1, "A", 4096, 0.0),
    (1, 1, 2, 1, "A", 4096, CADENCE),
    (2, 1, None, 2, "B", 4096, 360.0),
    (2, 2, None, 2, "B", 2048, 180.0),
)
_START = datetime(2022, 12, 6, 0, 8, 25, tzinfo=UTC)

_STARS = {
    # GSC id, ra, dec, FGS magnitude, total count rate (e-/s), sigma x/y (px), theta, x0, y0
    "A": dict(
        gs_id="N13I000018",
        ra=80.48734,
        dec=-69.49632,
        mag=12.31,
        rate=2.4e6,
        sx=0.95,
        sy=0.82,
        theta=0.35,
        x0=3.62,
        y0=3.41,
    ),
    "B": dict(
        gs_id="N13I000422",
        ra=80.61107,
        dec=-69.52119,
        mag=13.05,
        rate=1.1e6,
        sx=1.02,
        sy=0.88,
        theta=-0.4,
        x0=4.18,
        y0=3.77,
    ),
}


@dataclass
class SampleTruth:
    """What went into the sample program (per-frame arrays are in stitched order)."""

    time: np.ndarray  #: MJD of every frame
    params: np.ndarray  #: (N, 7) true Gaussian parameters (count rate units)
    periods: dict[str, float]  #: column -> injected oscillation period (s)
    amplitudes: dict[str, float]  #: column -> oscillation semi-amplitude (px)
    drift_per_hour: float  #: px/h in x_mean and y_mean
    jumps: pd.DataFrame  #: frame, time, column, size (px)
    dropouts: np.ndarray  #: frames with negative summed flux (star lost)
    all_nan: np.ndarray  #: frames whose pixels are all NaN
    nan_pixel_frames: np.ndarray  #: frames with a few NaN pixels (excluding the above)
    file_starts: np.ndarray  #: first frame of each file
    gs_changes: np.ndarray  #: first frame of each file that changes guide star
    hga_moves: list[tuple[float, float]]  #: (start, stop) MJD of each HGA move
    filter_moves: list[tuple[float, float]]  #: (start, stop) MJD of NIRISS filter wheel moves
    dq_flagged_files: list[int] = field(default_factory=list)  #: files with DO_NOT_USE pixels


@dataclass
class SampleProgram:
    """The sample program on disk.

    Attributes
    ----------
    directory : Path
        Root folder (the ``mastDownload`` tree is inside).
    paths : list of Path
        The ``_cal.fits`` files, in time order.
    truth : SampleTruth
    telemetry : dict
        mnemonic -> DataFrame (time MJD, utc, value, mnemonic), as the
        engineering database would return over the whole program.
    program : int
    """

    directory: Path
    paths: list[Path]
    truth: SampleTruth
    telemetry: dict[str, pd.DataFrame]
    program: int = PROGRAM


# -- the truth -------------------------------------------------------------
def _timeline(scale: int = 1) -> tuple[list[dict], np.ndarray]:
    """Per-file metadata and the stitched frame times (MJD)."""
    files, times = [], []
    t = Time(_START).mjd
    first = 0
    for index, (obs, visit, seg, guider, star, n, gap) in enumerate(_LAYOUT):
        n *= scale
        if index:
            t = times[-1][-1] + gap / 86400.0
        file_times = t + np.arange(n) * CADENCE / 86400.0
        files.append(
            dict(
                index=index,
                observation=obs,
                visit=visit,
                segment=seg,
                guider=guider,
                star=star,
                n=n,
                first=first,
            )
        )
        times.append(file_times)
        first += n
    return files, np.concatenate(times)


def _truth(seed: int, scale: int = 1) -> tuple[list[dict], SampleTruth]:
    rng = np.random.default_rng(seed)
    files, time = _timeline(scale)
    n = len(time)
    seconds = (time - time[0]) * 86400.0
    star_of = np.concatenate([[f["star"]] * f["n"] for f in files])
    params = np.empty((n, 7))
    for key, star in _STARS.items():
        sel = star_of == key
        params[sel, 0] = star["rate"] / (2 * np.pi * star["sx"] * star["sy"])
        params[sel, 1], params[sel, 2] = star["x0"], star["y0"]
        params[sel, 3], params[sel, 4] = star["sx"], star["sy"]
        params[sel, 5] = star["theta"]
    params[:, 6] = 20.0  # background, e-/s per pixel

    periods = {"x_mean": 37.5, "y_mean": 11.3}
    amplitudes = {"x_mean": 0.040, "y_mean": 0.025}
    drift = 0.15  # px/h
    hours = seconds / 3600.0
    jitter = rng.normal(0.0, 0.010, size=(n, 2))
    params[:, 1] += drift * hours + amplitudes["x_mean"] * np.sin(2 * np.pi * seconds / 37.5)
    params[:, 2] += drift * hours + amplitudes["y_mean"] * np.sin(2 * np.pi * seconds / 11.3 + 1)

    # HGA moves shake the telescope a little: jitter triples during them.
    hga_frames = [
        (files[1]["first"] + 1900, files[1]["first"] + 1900 + 960),
        (files[2]["first"] + 600, files[2]["first"] + 600 + 800),
    ]
    for a, b in hga_frames:
        jitter[a:b] *= 3.0
    params[:, 1:3] += jitter

    jumps = pd.DataFrame(
        {
            "frame": [files[0]["first"] + 2500, files[1]["first"] + 3100, files[2]["first"] + 2300],
            "column": ["x_mean", "y_mean", "x_mean"],
            "size": [0.12, -0.10, 0.08],
        }
    )
    for frame, column, size in jumps.itertuples(index=False):
        col = 1 if column == "x_mean" else 2
        file_end = next(
            f["first"] + f["n"] for f in files if f["first"] <= frame < f["first"] + f["n"]
        )
        params[frame:file_end, col] += size  # a tilt lasts until the next acquisition
    jumps["time"] = time[jumps["frame"].to_numpy()]

    dropouts = files[2]["first"] + 1500 + np.arange(6)
    all_nan = np.array([files[1]["first"] + 777])
    candidates = np.setdiff1d(np.arange(n), np.concatenate([dropouts, all_nan]))
    nan_pixel_frames = np.sort(rng.choice(candidates, size=25, replace=False))

    hga_moves = [(time[a], time[b]) for a, b in hga_frames]
    fw_start = files[3]["first"] + 700
    filter_moves = [(time[fw_start], time[fw_start + 128])]
    file_starts = np.array([f["first"] for f in files])
    gs_changes = np.array(
        [f["first"] for i, f in enumerate(files) if i and f["star"] != files[i - 1]["star"]]
    )
    truth = SampleTruth(
        time=time,
        params=params,
        periods=periods,
        amplitudes=amplitudes,
        drift_per_hour=drift,
        jumps=jumps,
        dropouts=dropouts,
        all_nan=all_nan,
        nan_pixel_frames=nan_pixel_frames,
        file_starts=file_starts,
        gs_changes=gs_changes,
        hga_moves=hga_moves,
        filter_moves=filter_moves,
        dq_flagged_files=[3],
    )
    return files, truth


def _telemetry(truth: SampleTruth) -> dict[str, pd.DataFrame]:
    """Engineering telemetry consistent with the truth, as the EDB returns it."""
    t0, t1 = truth.time[0] - 600 / 86400, truth.time[-1] + 600 / 86400
    hga_t = [t0]
    hga_v = ["FINISHED"]
    for start, stop in truth.hga_moves:
        hga_t += [start, stop]
        hga_v += ["MOVING", "FINISHED"]
    fw_t = np.arange(t0, t1, 1.0 / 86400)
    current = np.full(len(fw_t), 0.002)
    for start, stop in truth.filter_moves:
        current[(fw_t >= start) & (fw_t <= stop)] = 0.35
    current += np.random.default_rng(7).normal(0, 0.0005, len(fw_t))
    out = {}
    for name, times, values in (
        ("SA_ZHGAUPST", np.array(hga_t), np.array(hga_v, dtype=object)),
        ("INIS_FWMTRCURR", fw_t, current),
    ):
        out[name] = pd.DataFrame(
            {
                "time": times,
                "utc": Time(times, format="mjd").to_datetime(),
                "value": values,
                "mnemonic": name,
            }
        )
    return out


# -- writing ----------------------------------------------------------------
def _iso(mjd: float) -> str:
    return Time(mjd, format="mjd", scale="utc").isot


def _primary(
    meta: dict, star: dict, t_start: float, t_end: float, name: str, n: int
) -> fits.PrimaryHDU:
    hdr = fits.Header()
    start_iso, end_iso = _iso(t_start), _iso(t_end)
    cards = [
        ("DATE", start_iso, "UTC date file created"),
        ("ORIGIN", "STSCI", "institution responsible for creating FITS file"),
        ("TELESCOP", "JWST", "telescope used to acquire the data"),
        ("FILENAME", name, "name of the file"),
        ("DATAMODL", "GuiderCalModel", "type of data model"),
        ("INSTRUME", "FGS", "instrument used to acquire the data"),
        ("DETECTOR", f"GUIDER{meta['guider']}", "name of detector used to acquire the data"),
        ("EXP_TYPE", "FGS_FINEGUIDE", "type of data in the exposure"),
        ("PROGRAM", f"{PROGRAM:05d}", "program number"),
        ("OBSERVTN", f"{meta['observation']:03d}", "observation number"),
        ("VISIT", f"{meta['visit']:03d}", "visit number"),
        ("VISITGRP", "03", "visit group identifier"),
        ("SEQ_ID", "1", "parallel sequence identifier"),
        ("ACT_ID", "01", "activity identifier"),
        ("EXPOSURE", "00001", "exposure request number"),
        ("DATE-OBS", start_iso[:10], "UTC date at start of exposure"),
        ("TIME-OBS", start_iso[11:], "UTC time at start of exposure"),
        ("NINTS", n, "number of integrations in exposure"),
        ("GDSTARID", star["gs_id"], "guide star identifier"),
        ("GS_RA", star["ra"], "guide star right ascension (deg)"),
        ("GS_DEC", star["dec"], "guide star declination (deg)"),
        ("GS_URA", 1.2e-6, "guide star right ascension uncertainty (deg)"),
        ("GS_UDEC", 1.1e-6, "guide star declination uncertainty (deg)"),
        ("GS_MAG", star["mag"], "guide star magnitude in FGS detector"),
        ("GS_UMAG", 0.04, "guide star magnitude uncertainty"),
        ("GS_ORDER", 1, "index of guide star within list of selected guide stars"),
        ("GSSTRTTM", start_iso, "UTC time when guide star activity started"),
        ("GSENDTIM", end_iso, "UTC time when guide star activity completed"),
        ("GS_EPOCH", 2016.0, "guide star position epoch"),
        ("GS_MURA", 1.7e-6, "guide star ra proper motion (deg/yr)"),
        ("GS_MUDEC", 4.2e-7, "guide star dec proper motion (deg/yr)"),
        ("GS_PARA", 0.00031, "guide star parallax (arcsec)"),
        ("DATASTRT", t_start, "MJD start time of guider data within this file"),
        ("DATAEND", t_end, "MJD end time of guider data within this file"),
        ("GF_START", start_iso, "UTC start time of guider function"),
        ("GF_END", end_iso, "UTC end time of guider function"),
    ]
    for key, value, comment in cards:
        # keep every card to one 80-character line (astropy warns and truncates otherwise)
        room = 80 - 10 - max(20, len(str(value)) + 2) - 3
        hdr[key] = (value, comment[:room])
    return fits.PrimaryHDU(header=hdr)


def _tables(
    meta: dict,
    star: dict,
    time: np.ndarray,
    truth_params: np.ndarray,
    hga_moves: list[tuple[float, float]],
    rng: np.random.Generator,
) -> list[fits.BinTableHDU]:
    n = len(time)
    planned = Table(
        {
            "guide_star_order": [1, 1, 1],
            "reference_order": [0, 1, 2],
            "reference_star_id": [star["gs_id"], "N13I000511", "N13I000602"],
            "ra": [star["ra"], star["ra"] + 0.01, star["ra"] - 0.02],
            "dec": [star["dec"], star["dec"] - 0.01, star["dec"] + 0.015],
            "id_x": [12.1, -30.4, 41.7],
            "id_y": [-4.3, 22.9, -18.0],
            "fgs_mag": [star["mag"], 14.2, 14.9],
            "fgs_mag_uncert": [0.04, 0.06, 0.07],
            "count_rate": [star["rate"], 4.1e5, 2.2e5],
            "count_rate_uncert": [900.0, 400.0, 300.0],
        }
    )
    flight = Table(
        {
            "reference_star_id": planned["reference_star_id"][1:],
            "id_x": [-30.38, 41.69],
            "id_y": [22.94, -18.02],
            "count_rate": [4.07e5, 2.21e5],
        }
    )
    seconds = np.arange(time[0], time[-1], 1.0 / 86400)
    moving = np.zeros(len(seconds), dtype=bool)
    for start, stop in hga_moves:
        moving |= (seconds >= start) & (seconds < stop)
    zeros = np.zeros(len(seconds))
    pointing = Table(
        {
            "time": seconds,
            "jitter": rng.normal(1.0, 0.1, len(seconds)),
            "delta_ddc_ra": zeros,
            "delta_ddc_dec": zeros,
            "delta_aperture_pa": zeros,
            "delta_v1_ra": zeros,
            "delta_v1_dec": zeros,
            "delta_v3_pa": zeros,
            "delta_j1_ra": zeros,
            "delta_j1_dec": zeros,
            "delta_j3_pa": zeros,
            "HGA_motion": np.where(moving, "MOVING", "FINISHED"),
        }
    )
    iso = Time(time, format="mjd").isot
    x = truth_params[:, 1] + rng.normal(0, 0.004, n)
    y = truth_params[:, 2] + rng.normal(0, 0.004, n)
    no = np.full(n, "NO")
    centroids = Table(
        {
            "observatory_time": iso,
            "centroid_time": iso,
            "guide_star_position_x": (x - 3.5) * PIXEL_SCALE,
            "guide_star_position_y": (y - 3.5) * PIXEL_SCALE,
            "guide_star_instrument_counts_per_sec": np.full(n, star["rate"]),
            "signal_to_noise_current_frame": np.full(n, 420.0),
            "delta_signal": rng.normal(0, 800, n),
            "delta_noise": rng.normal(0, 20, n),
            "psf_width_x": np.full(n, 2.355 * star["sx"]),
            "psf_width_y": np.full(n, 2.355 * star["sy"]),
            "data_quality": np.zeros(n, dtype=np.int32),
            "bad_pixel_flag": no,
            "bad_centroid_dq_flag": no,
            "cosmic_ray_hit_flag": no,
            "sw_subwindow_loc_change_flag": no,
            "guide_star_at_detector_subwindow_boundary_flag": no,
            "subwindow_out_of_FOV_flag": no,
        }
    )
    track = Table(
        {
            "observatory_time": iso[:1],
            "x_corner": [1012],
            "y_corner": [987],
            "x_size": [8],
            "y_size": [8],
        }
    )
    asdf_tree = (
        "#ASDF 1.0.0\n%YAML 1.1\n--- !core/asdf-1.1.0\n"
        f"meta: {{exposure: {{type: FGS_FINEGUIDE}}, guidestar: {{gs_id: {star['gs_id']}}}, "
        f"observation: {{program_number: '{PROGRAM:05d}', observation_number: "
        f"'{meta['observation']:03d}', visit_number: '{meta['visit']:03d}'}}}}\n...\n"
    ).encode()
    asdf = fits.BinTableHDU.from_columns(
        [
            fits.Column(
                name="ASDF_METADATA",
                format=f"{len(asdf_tree)}B",
                array=np.frombuffer(asdf_tree, dtype=np.uint8)[None, :],
            )
        ],
        name="ASDF",
    )
    hdus = []
    for name, table in (
        ("Planned Reference Stars", planned),
        ("Flight Reference Stars", flight),
        ("Pointing", pointing),
        ("FGS Centroid Packet", centroids),
        ("Track subarray table", track),
    ):
        hdu = fits.table_to_hdu(table)
        hdu.name = name
        hdus.append(hdu)
    return [*hdus, asdf]


def write_sample_program(
    directory: str | os.PathLike, seed: int = 1534, scale: int = 1
) -> SampleProgram:
    """Write the sample program's files under ``directory/mastDownload/JWST/``.

    Parameters
    ----------
    directory : path
        Folder to write into (created if needed).  Existing sample files in it
        are overwritten.
    seed : int
        Seed of every random draw: the same seed gives byte-identical data.
    scale : int
        Multiplies every file's frame count (benchmarks use ~70 for 10^6 frames).

    Returns
    -------
    SampleProgram
    """
    directory = Path(directory)
    files, truth = _truth(seed, scale)
    noise = np.random.default_rng(seed + 1)
    paths = []
    for meta in files:
        a, b = meta["first"], meta["first"] + meta["n"]
        star = _STARS[meta["star"]]
        params = truth.params[a:b].copy()
        dropout = (truth.dropouts >= a) & (truth.dropouts < b)
        params[truth.dropouts[dropout] - a, 0] = 0.0
        params[truth.dropouts[dropout] - a, 6] = -150.0  # star lost, bias over-subtracted
        model_e = gaussian2d(params) * CADENCE
        electrons = noise.poisson(np.clip(model_e, 0, None)) + np.minimum(model_e, 0)
        electrons = electrons + noise.normal(0.0, READ_NOISE, model_e.shape)
        sci = (electrons / CADENCE).astype(np.float32)
        err = (np.sqrt(np.clip(electrons, 0, None) + READ_NOISE**2) / CADENCE).astype(np.float32)
        for frame in truth.nan_pixel_frames[
            (truth.nan_pixel_frames >= a) & (truth.nan_pixel_frames < b)
        ]:
            row, col = noise.integers(0, 8, size=2)
            sci[frame - a, row, col] = np.nan
            err[frame - a, row, col] = np.nan
        for frame in truth.all_nan[(truth.all_nan >= a) & (truth.all_nan < b)]:
            sci[frame - a] = np.nan
            err[frame - a] = np.nan
        dq = np.zeros((8, 8), dtype=np.uint32)
        if meta["index"] in truth.dq_flagged_files:
            dq[0, 7] = DO_NOT_USE
            sci[:, 0, 7] = np.nan
            err[:, 0, 7] = np.nan
        t_start, t_end = truth.time[a], truth.time[b - 1]
        start_dt = Time(t_start, format="mjd").to_datetime(timezone=UTC)
        start_dt = start_dt.replace(microsecond=0) + timedelta(seconds=0)
        name = file_name(PROGRAM, meta["observation"], meta["visit"], start_dt, meta["segment"])
        folder = folder_name(
            PROGRAM,
            meta["observation"],
            meta["visit"],
            3,
            1,
            "01",
            1,
            meta["guider"],
            meta["segment"],
        )
        hdul = fits.HDUList(
            [
                _primary(meta, star, t_start, t_end, name, meta["n"]),
                fits.ImageHDU(sci, name="SCI"),
                fits.ImageHDU(err, name="ERR"),
                fits.ImageHDU(dq, name="DQ"),
                *_tables(meta, star, truth.time[a:b], truth.params[a:b], truth.hga_moves, noise),
            ]
        )
        hdul["SCI"].header["BUNIT"] = "DN/s"
        hdul["ERR"].header["BUNIT"] = "DN/s"
        path = directory / "mastDownload" / "JWST" / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        hdul.writeto(path, overwrite=True)
        paths.append(path)
    return SampleProgram(directory=directory, paths=paths, truth=truth, telemetry=_telemetry(truth))


def _default_directory() -> Path:
    root = os.environ.get("FGS_CACHE_DIR") or Path.home() / ".cache" / "fgs_widgets"
    return Path(root) / f"sample-v{SAMPLE_VERSION}"


def sample_program(directory: str | os.PathLike | None = None) -> SampleProgram:
    """The sample program, written on first use and reused afterwards.

    Parameters
    ----------
    directory : path, optional
        Where the files live.  Default: ``$FGS_CACHE_DIR/sample-v<N>`` or
        ``~/.cache/fgs_widgets/sample-v<N>``.

    Returns
    -------
    SampleProgram
        Files on disk plus the truth and telemetry they were made from.

    Notes
    -----
    The files are written into a temporary sibling folder and moved into place
    only when complete, so an interrupted first call never leaves a
    half-written sample behind.  A ``manifest.json`` records names and sizes;
    a folder that doesn't match it is rewritten.
    """
    target = Path(directory) if directory is not None else _default_directory()
    manifest = target / "manifest.json"
    if manifest.exists():
        try:
            listed = json.loads(manifest.read_text())
            paths = [target / p for p in listed["files"]]
            if listed.get("version") == SAMPLE_VERSION and all(
                p.exists() and p.stat().st_size == size
                for p, size in zip(paths, listed["sizes"], strict=True)
            ):
                _, truth = _truth(listed["seed"])
                return SampleProgram(target, paths, truth, _telemetry(truth))
        except (ValueError, KeyError, OSError):
            pass  # unreadable manifest: rebuild below
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".sample-", dir=target.parent))
    try:
        written = write_sample_program(staging)
        relative = [str(p.relative_to(staging)) for p in written.paths]
        (staging / "manifest.json").write_text(
            json.dumps(
                {
                    "version": SAMPLE_VERSION,
                    "seed": 1534,
                    "files": relative,
                    "sizes": [p.stat().st_size for p in written.paths],
                },
                indent=1,
            )
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    paths = [target / p for p in relative]
    return SampleProgram(target, paths, written.truth, written.telemetry)


if __name__ == "__main__":  # `python -m fgs_widgets.archive.sample [DIR]`: write it, say where
    import sys

    program = sample_program(sys.argv[1] if len(sys.argv) > 1 else None)
    print(f"sample program {program.program}: {len(program.paths)} files in {program.directory}")
