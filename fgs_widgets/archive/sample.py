"""The bundled sample program: realistic ``gs-fg`` cal files made on demand.

`sample_program()` writes (once, then reuses) four fine-guide files of a
made-up visit sequence of program 1534 through the official JWST data model
(`stdatamodels` ``GuiderCalModel``, as the pipeline writes them), in
MAST-style folders, generated deterministically from a seed, and returns them
with the truth that went into them, so the demo works offline and tests can
check what is recovered.

What is in it (`SampleTruth` has the numbers):

* observation 1 visit 1 split in two segments (guider 1, guide star A), then a
  6-minute gap, observation 2 visits 1 and 2 (guider 2, guide star B): a
  guide-star change, a segment split, file boundaries, gaps, and a step in
  the centroid between the two visits of star B (re-acquisition);
* guide stars as real ones look (reference tool's figures of PIDs 2079 and
  1541): undersampled PSF (sigma 0.64–0.73 px, nearly round), peak
  2–3×10^5 DN/s, background ~3,000 DN/s, centroid near 2.6–3.0 px;
* centroid: white jitter, a slow drift, two sinusoidal oscillations (x at
  37.5 s, y at 11.3 s) and three tilt-like jumps; isolated spikes
  (cosmic-ray hits on one pixel of one frame);
* photon (Poisson, gain 2 e-/DN) and read noise, ERR as the pipeline's
  ``guider_cds`` computes it (the engine's noise model,
  `fgs_widgets.engine.simulate.simulate_count_rates`); scattered NaN pixels,
  one all-NaN frame, six drop-out frames with negative summed flux, a
  DO_NOT_USE (NaN) pixel in the last file's DQ;
* per-frame FGS Centroid Packet rows (ISO times, FGS ideal-frame positions in
  arcsec, a few zero-position rows), a 1 Hz Pointing table (``time`` in ms
  since DATASTRT, ``HGA_motion`` codes 0 moving / 1 finished) whose HGA moves
  match the engineering telemetry (``SA_ZHGAUPST``, ``INIS_FWMTRCURR``) served
  by the loopback engineering database; the last file's Pointing HDU is
  header-only, as the pipeline leaves it when a table has no rows;
* file names stamped with the end of their data, as the pipeline does;
* ``science_lightcurve.dat``: a science white-light curve taken during
  observation 1 (4 s integrations, BJD_TDB toward a target ~1′ from guide
  star A, as light curves are published) whose flux follows the guide star's
  x_mean (`SCIENCE_COUPLING` per px: its 37.5 s oscillation, its drift and the
  first tilt-like jump) plus white noise, so the decorrelation workflow has
  a known answer.

Writing goes through ``stdatamodels`` (a core dependency: a plain ``pip install``
writes the sample); reading the files does not need it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.time import Time

from ..atomic import atomic_directory
from ..data import HGAMotion
from ..engine.simulate import simulate_count_rates
from ..engine.timesystems import utc_to_bjd_tdb
from .config import conf
from .names import file_name, folder_name

__all__ = ["SampleProgram", "SampleTruth", "sample_program", "write_sample_program"]

SAMPLE_VERSION = "4"
PROGRAM = 1534
CADENCE = 0.0625  # s, fine guide at 16 Hz
GAIN = 2.0  # e-/DN (the pipeline's fallback is 1.97)
READ_NOISE = 12.0  # DN per read (a frame is the difference of two reads: sqrt(2) x this)
PIXEL_SCALE = 0.069  # arcsec per FGS pixel, for the on-board centroid table
DO_NOT_USE = 1  # JWST DQ bit 0

#: the files: (observation, visit, segment, guider, guide star, frames, gap before in s,
#: centroid step at the file's start in px)
_LAYOUT = (
    (1, 1, 1, 1, "A", 4096, 0.0, 0.0),
    (1, 1, 2, 1, "A", 4096, CADENCE, 0.0),
    (2, 1, None, 2, "B", 4096, 360.0, 0.0),
    (2, 2, None, 2, "B", 2048, 180.0, 0.06),
)
_HEADER_ONLY_POINTING = (3,)  # files whose Pointing table has no rows
#: the science light curve: during observation 1 (files 0 and 1, guide star A)
SCIENCE_FILE = "science_lightcurve.dat"
SCIENCE_TARGET = (80.52061, -69.48217)  # ra, dec (deg) of the made-up target
SCIENCE_INTEGRATION = 4.0  # s: 64 fine-guide frames
SCIENCE_COUPLING = 2.0e-3  # relative flux per px of guide-star x_mean
SCIENCE_NOISE = 30e-6  # relative flux per integration (white)
_START = Time("2022-12-06T00:08:25", scale="utc").mjd

_STARS = {
    # GSC id, ra, dec, FGS magnitude, peak (DN/s), sigma x/y (px), theta, x0, y0 (px),
    # background (DN/s), FGS ideal-frame position of the window's centre (arcsec)
    "A": dict(gs_id="N13I000018", ra=80.48734, dec=-69.49632, mag=12.31, peak=2.6e5,
              sx=0.70, sy=0.67, theta=0.35, x0=2.83, y0=2.71, background=3050.0,
              ideal=(-21.84, 13.37)),
    "B": dict(gs_id="N13I000422", ra=80.61107, dec=-69.52119, mag=12.74, peak=2.2e5,
              sx=0.68, sy=0.66, theta=-0.4, x0=2.64, y0=2.92, background=2780.0,
              ideal=(24.51, -8.02)),
}


@dataclass
class SampleTruth:
    """What went into the sample program (per-frame arrays are in stitched order)."""

    time: np.ndarray  #: MJD of every frame
    params: np.ndarray  #: (N, 7) true Gaussian parameters (DN/s)
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
    spikes: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  #: cosmic-ray frames
    zero_centroid_rows: np.ndarray = field(
        default_factory=lambda: np.zeros(0, int))  #: frames whose packet row has no position
    header_only_pointing: list[int] = field(default_factory=list)  #: files without Pointing rows
    #: the science light curve: mid (MJD UTC at the observatory), start, end, flux,
    #: error, bjd_tdb, and the true x_mean averaged over each integration
    science: pd.DataFrame | None = None
    science_coupling: float = SCIENCE_COUPLING  #: relative flux per px of x_mean


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
    science_path : Path or None
        The science light curve (`SCIENCE_FILE`), BJD_TDB.
    """

    directory: Path
    paths: list[Path]
    truth: SampleTruth
    telemetry: dict[str, pd.DataFrame]
    program: int = PROGRAM
    science_path: Path | None = None


# -- the truth -------------------------------------------------------------
def _timeline(scale: int = 1, start: float = _START) -> tuple[list[dict], np.ndarray]:
    """Per-file metadata and the stitched frame times (MJD)."""
    files, times = [], []
    t = start
    first = 0
    for index, (obs, visit, seg, guider, star, n, gap, step) in enumerate(_LAYOUT):
        n *= scale
        if index:
            t = times[-1][-1] + gap / 86400.0
        times.append(t + np.arange(n) * CADENCE / 86400.0)
        files.append(dict(index=index, observation=obs, visit=visit, segment=seg,
                          guider=guider, star=star, n=n, first=first, step=step))
        first += n
    return files, np.concatenate(times)


def _star_parameters(files: list[dict], seconds: np.ndarray) -> np.ndarray:
    """(N, 7) parameters of the still star: each file's guide star, breathing, its step."""
    star_of = np.concatenate([[f["star"]] * f["n"] for f in files])
    params = np.empty((len(seconds), 7))
    for key, star in _STARS.items():
        sel = star_of == key
        params[sel, 0] = star["peak"]
        params[sel, 1], params[sel, 2] = star["x0"], star["y0"]
        params[sel, 3], params[sel, 4] = star["sx"], star["sy"]
        params[sel, 5] = star["theta"]
        params[sel, 6] = star["background"]
    # the star breathes a little: a slow 0.5% flux wave
    params[:, 0] *= 1.0 + 0.005 * np.sin(2 * np.pi * seconds / 1800.0)
    for f in files:
        params[f["first"] : f["first"] + f["n"], 1:3] += f["step"]
    return params


def _move(params: np.ndarray, seconds: np.ndarray, hga_frames: list[tuple[int, int]],
          periods: dict[str, float], amplitudes: dict[str, float], drift: float,
          rng: np.random.Generator) -> None:
    """Add drift, oscillations and white jitter (tripled during HGA moves) to the centroid."""
    hours = seconds / 3600.0
    jitter = rng.normal(0.0, 0.010, size=(len(seconds), 2))
    params[:, 1] += drift * hours + amplitudes["x_mean"] * np.sin(
        2 * np.pi * seconds / periods["x_mean"])
    params[:, 2] += drift * hours + amplitudes["y_mean"] * np.sin(
        2 * np.pi * seconds / periods["y_mean"] + 1)
    # HGA moves shake the telescope a little: jitter triples during them.
    for a, b in hga_frames:
        jitter[a:b] *= 3.0
    params[:, 1:3] += jitter


def _jump(params: np.ndarray, files: list[dict], time: np.ndarray,
          scale: int) -> pd.DataFrame:
    """Add three tilt-like jumps to the centroid (each lasts to its file's end); list them."""
    jumps = pd.DataFrame(
        {
            "frame": [files[0]["first"] + 2500 * scale, files[1]["first"] + 3100 * scale,
                      files[2]["first"] + 2300 * scale],
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
    return jumps


def _bad_frames(files: list[dict], n: int, scale: int,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Frames with something wrong: drop-outs, all-NaN, NaN pixels, spikes, zero packet rows."""
    dropouts = files[2]["first"] + 1500 * scale + np.arange(6)
    all_nan = np.array([files[1]["first"] + 777 * scale])
    special = np.concatenate([dropouts, all_nan])
    candidates = np.setdiff1d(np.arange(n), special)
    nan_pixel_frames = np.sort(rng.choice(candidates, size=25 * scale, replace=False))
    candidates = np.setdiff1d(candidates, nan_pixel_frames)
    spikes = np.sort(rng.choice(candidates, size=12 * scale, replace=False))
    zero_rows = np.sort(rng.choice(np.arange(n), size=5 * scale, replace=False))
    return dict(dropouts=dropouts, all_nan=all_nan, nan_pixel_frames=nan_pixel_frames,
                spikes=spikes, zero_centroid_rows=zero_rows)


def _truth(seed: int, scale: int = 1, start: float = _START) -> tuple[list[dict], SampleTruth]:
    rng = np.random.default_rng(seed)
    files, time = _timeline(scale, start)
    seconds = (time - time[0]) * 86400.0
    params = _star_parameters(files, seconds)
    periods = {"x_mean": 37.5, "y_mean": 11.3}
    amplitudes = {"x_mean": 0.040, "y_mean": 0.025}
    drift = 0.15  # px/h
    hga_frames = [
        (files[1]["first"] + 1900 * scale, files[1]["first"] + (1900 + 960) * scale),
        (files[2]["first"] + 600 * scale, files[2]["first"] + (600 + 800) * scale),
    ]
    _move(params, seconds, hga_frames, periods, amplitudes, drift, rng)
    jumps = _jump(params, files, time, scale)
    fw_start = files[3]["first"] + 700 * scale
    truth = SampleTruth(
        time=time,
        params=params,
        periods=periods,
        amplitudes=amplitudes,
        drift_per_hour=drift,
        jumps=jumps,
        file_starts=np.array([f["first"] for f in files]),
        gs_changes=np.array(
            [f["first"] for i, f in enumerate(files) if i and f["star"] != files[i - 1]["star"]]
        ),
        hga_moves=[(time[a], time[b]) for a, b in hga_frames],
        filter_moves=[(time[fw_start], time[fw_start + 128])],
        dq_flagged_files=[3],
        header_only_pointing=list(_HEADER_ONLY_POINTING),
        **_bad_frames(files, len(time), scale, rng),
    )
    truth.science = _science(truth, files, np.random.default_rng(seed + 2))
    return files, truth


def _science(truth: SampleTruth, files: list[dict], rng: np.random.Generator) -> pd.DataFrame:
    """Integrations over observation 1 whose flux follows the true x_mean (its mean per
    integration) by `SCIENCE_COUPLING`, plus white noise."""
    first, last = files[0]["first"], files[1]["first"] + files[1]["n"]
    t0, t1 = truth.time[first], truth.time[last - 1]
    length = SCIENCE_INTEGRATION / 86400.0
    start = t0 + np.arange(int((t1 - t0) / length)) * length
    end = start + length
    lo, hi = np.searchsorted(truth.time, start), np.searchsorted(truth.time, end)
    total = np.concatenate([[0.0], np.cumsum(truth.params[:, 1])])
    x_mean = (total[hi] - total[lo]) / (hi - lo)
    flux = 1.0 + SCIENCE_COUPLING * (x_mean - x_mean.mean())
    flux += rng.normal(0.0, SCIENCE_NOISE, len(flux))
    mid = 0.5 * (start + end)
    return pd.DataFrame({"mid": mid, "start": start, "end": end, "flux": flux,
                         "error": np.full(len(flux), SCIENCE_NOISE),
                         "bjd_tdb": utc_to_bjd_tdb(mid, *SCIENCE_TARGET), "x_mean": x_mean})


def _write_science(truth: SampleTruth, path: Path) -> None:
    """The light curve as observers publish them: a whitespace table, BJD_TDB."""
    science = truth.science
    lines = [
        f"# Synthetic white-light curve, fgs_widgets sample program {PROGRAM} observation 1",
        f"# flux = 1 + {SCIENCE_COUPLING:g} x (guide-star x_mean - its mean) + noise "
        f"({SCIENCE_NOISE * 1e6:.0f} ppm)",
        f"# target RA {SCIENCE_TARGET[0]} deg, Dec {SCIENCE_TARGET[1]} deg; "
        f"{SCIENCE_INTEGRATION:g} s integrations; times BJD_TDB (geocentric)",
        "bjd_tdb flux flux_err",
    ]
    lines += [f"{b:.10f} {f:.10f} {e:.10f}" for b, f, e in
              science[["bjd_tdb", "flux", "error"]].itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n")


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
def _iso(mjd: np.ndarray | float) -> np.ndarray | str:
    return Time(mjd, format="mjd", scale="utc").isot


def _records(columns: dict[str, np.ndarray], dtypes: dict[str, str]) -> np.ndarray:
    """A structured array with the schema's column types."""
    n = len(next(iter(columns.values())))
    out = np.zeros(n, dtype=[(name, dtypes[name]) for name in columns])
    for name, values in columns.items():
        out[name] = values
    return out


_POINTING_TYPES = {"time": "f8", "HGA_motion": "S16", **{name: "f8" for name in (
    "jitter", "delta_ddc_ra", "delta_ddc_dec", "delta_aperture_pa", "delta_v1_ra",
    "delta_v1_dec", "delta_v3_pa", "delta_j1_ra", "delta_j1_dec", "delta_j3_pa")}}
_CENTROID_TYPES = {
    "observatory_time": "S23", "centroid_time": "S23", "guide_star_position_x": "f8",
    "guide_star_position_y": "f8", "guide_star_instrument_counts_per_sec": "f8",
    "signal_to_noise_current_frame": "f8", "delta_signal": "f8", "delta_noise": "f8",
    "psf_width_x": "i4", "psf_width_y": "i4", "data_quality": "i4", "bad_pixel_flag": "S4",
    "bad_centroid_dq_flag": "S12", "cosmic_ray_hit_flag": "S5",
    "sw_subwindow_loc_change_flag": "S5", "guide_star_at_detector_subwindow_boundary_flag": "S5",
    "subwindow_out_of_FOV_flag": "S5",
}


def _pointing(time: np.ndarray, hga_moves: list[tuple[float, float]],
              rng: np.random.Generator) -> np.ndarray:
    """1 Hz Pointing rows: ``time`` in ms since the file's first frame, HGA codes as text."""
    elapsed_s = np.arange(0.0, (time[-1] - time[0]) * 86400.0, 1.0)
    mjd = time[0] + elapsed_s / 86400.0
    moving = np.zeros(len(mjd), dtype=bool)
    for start, stop in hga_moves:
        moving |= (mjd >= start) & (mjd < stop)
    jitter = rng.normal(1.0, 0.1, len(mjd))
    zeros = np.zeros(len(mjd))
    columns = {"time": elapsed_s * 1000.0, "jitter": jitter,
               **{name: zeros for name in _POINTING_TYPES if name.startswith("delta_")},
               # the schema stores the codes as text
               "HGA_motion": np.where(moving, str(int(HGAMotion.MOVING)),
                                      str(int(HGAMotion.FINISHED)))}
    return _records(columns, _POINTING_TYPES)


def _centroids(star: dict, time: np.ndarray, params: np.ndarray, zero_rows: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """A packet row per frame: on-board centroids in the FGS ideal frame (arcsec)."""
    n = len(time)
    iso = _iso(time)
    # the packet is seen with a space between date and time
    centroid_time = np.char.replace(iso.astype("S23"), b"T", b" ")
    x = star["ideal"][0] + (params[:, 1] - 3.5 + rng.normal(0, 0.004, n)) * PIXEL_SCALE
    y = star["ideal"][1] + (params[:, 2] - 3.5 + rng.normal(0, 0.004, n)) * PIXEL_SCALE
    x[zero_rows] = y[zero_rows] = 0.0
    total = params[:, 0] * 2 * np.pi * params[:, 3] * params[:, 4]
    no = np.full(n, "NO")
    columns = {
        "observatory_time": iso, "centroid_time": centroid_time,
        "guide_star_position_x": x, "guide_star_position_y": y,
        "guide_star_instrument_counts_per_sec": total,
        "signal_to_noise_current_frame": np.full(n, 310.0),
        "delta_signal": rng.normal(0, 800, n), "delta_noise": rng.normal(0, 20, n),
        "psf_width_x": np.full(n, 2), "psf_width_y": np.full(n, 2),
        "data_quality": np.zeros(n, dtype=np.int32), "bad_pixel_flag": no,
        "bad_centroid_dq_flag": no, "cosmic_ray_hit_flag": no,
        "sw_subwindow_loc_change_flag": no,
        "guide_star_at_detector_subwindow_boundary_flag": no, "subwindow_out_of_FOV_flag": no,
    }
    return _records(columns, _CENTROID_TYPES)


def _set_meta(model, meta: dict, star: dict, t_start: float, t_end: float, name: str,
              n: int) -> None:
    """Primary-header metadata, through the data model's own names."""
    start_iso, end_iso = _iso(t_start), _iso(t_end)
    m = model.meta
    m.filename = name
    m.telescope = "JWST"
    m.origin = "STSCI"
    m.instrument.name = "FGS"
    m.instrument.detector = f"GUIDER{meta['guider']}"
    m.exposure.type = "FGS_FINEGUIDE"
    m.exposure.nints = n
    m.exposure.ngroups = 8
    # guider_cds divides the Fowler difference by TGROUP: the interval it stands for
    m.exposure.group_time = CADENCE
    m.exposure.start_time = t_start
    m.exposure.end_time = t_end
    m.observation.program_number = f"{meta.get('program', PROGRAM):05d}"
    m.observation.observation_number = f"{meta['observation']:03d}"
    m.observation.visit_number = f"{meta['visit']:03d}"
    m.observation.visit_group = "03"
    m.observation.sequence_id = "1"
    m.observation.activity_id = "01"
    m.observation.exposure_number = "00001"
    m.observation.date = start_iso[:10]
    m.observation.time = start_iso[11:]
    g = m.guidestar
    g.gs_id = star["gs_id"]
    g.gs_ra, g.gs_dec = star["ra"], star["dec"]
    g.gs_ura, g.gs_udec = 1.2e-6, 1.1e-6
    g.gs_mag, g.gs_umag = star["mag"], 0.04
    g.gs_order = 1
    g.gs_start_time, g.gs_stop_time = start_iso, end_iso
    g.gs_function_start_time, g.gs_function_end_time = start_iso, end_iso
    g.gs_epoch = "2016.0"
    g.gs_mura, g.gs_mudec, g.gs_para = 1.7e-6, 4.2e-7, 0.00031
    g.data_start, g.data_end = t_start, t_end
    m.pointing_time = start_iso
    m.bunit_data = m.bunit_err = "DN/s"


def _cosmic_rays(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hit on one random pixel of each of ``frames``: rows of (frame, row, column, DN/s)."""
    hits = np.empty((len(frames), 4))
    for i, frame in enumerate(frames):
        row, col = rng.integers(0, 8, size=2)
        hits[i] = frame, row, col, rng.uniform(2e4, 8e4)
    return hits


def _data_model():
    try:
        from stdatamodels.jwst.datamodels import GuiderCalModel
    except ImportError as exc:
        raise ImportError(
            "writing the sample program needs the JWST data model (stdatamodels), a "
            f"dependency of fgs-widgets that does not import here ({exc}): reinstall it "
            "(pip install --force-reinstall stdatamodels)"
        ) from exc
    return GuiderCalModel


def write_sample_program(
    directory: str | os.PathLike, seed: int = 1534, scale: int = 1, *,
    program: int = PROGRAM, start: float = _START
) -> SampleProgram:
    """Write the sample program's files under ``directory/mastDownload/JWST/``.

    Parameters
    ----------
    directory : path
        Folder to write into (created if needed).  Existing sample files in it
        are overwritten.
    seed : int
        Seed of every random draw: the same seed gives the same data (the
        files differ only in the DATE the data model stamps them with).
    scale : int
        Multiplies every file's frame count (benchmarks use ~70 for 10^6 frames).
    program : int
        Program id in the headers and names (surveys of many programs use others).
    start : float
        MJD (UTC) of the first frame.

    Returns
    -------
    SampleProgram
    """
    guider_cal_model = _data_model()
    directory = Path(directory)
    files, truth = _truth(seed, scale, start)
    noise = np.random.default_rng(seed + 1)
    paths = []
    for meta in files:
        a, b = meta["first"], meta["first"] + meta["n"]
        star = _STARS[meta["star"]]
        params = truth.params[a:b].copy()
        dropout = (truth.dropouts >= a) & (truth.dropouts < b)
        params[truth.dropouts[dropout] - a, 0] = 0.0
        params[truth.dropouts[dropout] - a, 6] = -150.0  # star lost, bias over-subtracted
        hits = _cosmic_rays(truth.spikes[(truth.spikes >= a) & (truth.spikes < b)] - a, noise)
        # the engine's noise model; ERR as guider_cds computes it, over the hits too
        sci, err = simulate_count_rates(params, gain=GAIN, read_noise=READ_NOISE,
                                        frame_time=CADENCE, seed=noise, hits=hits)
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
        end_dt = Time(t_end, format="mjd").to_datetime(timezone=UTC).replace(microsecond=0)
        name = file_name(program, meta["observation"], meta["visit"], end_dt, meta["segment"])
        folder = folder_name(program, meta["observation"], meta["visit"], 3, 1, "01", 1,
                             meta["guider"], meta["segment"])
        zero_rows = truth.zero_centroid_rows[
            (truth.zero_centroid_rows >= a) & (truth.zero_centroid_rows < b)] - a
        with guider_cal_model() as model:
            model.data, model.err, model.dq = sci, err, dq
            _set_meta(model, {**meta, "program": program}, star, t_start, t_end, name,
                      meta["n"])
            if meta["index"] not in truth.header_only_pointing:
                model.pointing_table = _pointing(truth.time[a:b], truth.hga_moves, noise)
            model.centroid_table = _centroids(star, truth.time[a:b], truth.params[a:b],
                                              zero_rows, noise)
            path = directory / "mastDownload" / "JWST" / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            model.save(path)
        paths.append(path)
    science_path = directory / SCIENCE_FILE
    _write_science(truth, science_path)
    return SampleProgram(directory=directory, paths=paths, truth=truth,
                         telemetry=_telemetry(truth), program=program,
                         science_path=science_path)


def _default_directory() -> Path:
    return conf.cache_dir / f"sample-v{SAMPLE_VERSION}"


def _complete(target: Path) -> SampleProgram | None:
    """The sample at ``target`` if its manifest says it is this version and whole, else None."""
    manifest = target / "manifest.json"
    if not manifest.exists():
        return None
    try:
        listed = json.loads(manifest.read_text())
        paths = [target / p for p in listed["files"]]
        science = target / SCIENCE_FILE
        if listed.get("version") == SAMPLE_VERSION and all(
            p.exists() and p.stat().st_size == size
            for p, size in zip([*paths, science], [*listed["sizes"], listed["science_size"]],
                               strict=True)
        ):
            _, truth = _truth(listed["seed"])
            return SampleProgram(target, paths, truth, _telemetry(truth), science_path=science)
    except (ValueError, KeyError, OSError):
        pass  # unreadable manifest: rebuilt
    return None


class _WrittenElsewhere(Exception):
    """Another process completed the same sample while this one wrote it: keep theirs."""

    def __init__(self, program: SampleProgram):
        super().__init__(str(program.directory))
        self.program = program


def sample_program(directory: str | os.PathLike | None = None) -> SampleProgram:
    """The sample program, written on first use and reused afterwards.

    Parameters
    ----------
    directory : path, optional
        Where the files live.  Default: ``<conf.cache_dir>/sample-v<N>``
        (``conf.cache_dir`` is ``$FGS_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/fgs_widgets`` or ``~/.cache/fgs_widgets``).

    Returns
    -------
    SampleProgram
        Files on disk plus the truth and telemetry they were made from.

    Notes
    -----
    The files are written into a temporary sibling folder and moved into place
    only when complete (`fgs_widgets.atomic.atomic_directory`), so an
    interrupted first call never leaves a half-written sample behind.  A
    ``manifest.json`` records names and sizes; a folder that doesn't match it
    is rewritten.  If another process completes the same sample meanwhile,
    its copy is kept and this one discarded.
    """
    target = Path(directory) if directory is not None else _default_directory()
    if (ready := _complete(target)) is not None:
        return ready
    try:
        with atomic_directory(target) as staging:
            written = write_sample_program(staging)
            relative = [str(p.relative_to(staging)) for p in written.paths]
            (staging / "manifest.json").write_text(
                json.dumps(
                    {
                        "version": SAMPLE_VERSION,
                        "seed": 1534,
                        "files": relative,
                        "sizes": [p.stat().st_size for p in written.paths],
                        "science_size": written.science_path.stat().st_size,
                    },
                    indent=1,
                )
            )
            if (ready := _complete(target)) is not None:
                raise _WrittenElsewhere(ready)  # not swapped in: staging is removed
    except _WrittenElsewhere as elsewhere:
        return elsewhere.program
    except OSError:
        # the swap can lose a race with another process putting the same sample in place
        if (ready := _complete(target)) is not None:
            return ready
        raise
    paths = [target / p for p in relative]
    return SampleProgram(target, paths, written.truth, written.telemetry,
                         science_path=target / SCIENCE_FILE)


if __name__ == "__main__":  # `python -m fgs_widgets.archive.sample [DIR]`: write it, say where
    import sys

    program = sample_program(sys.argv[1] if len(sys.argv) > 1 else None)
    print(f"sample program {program.program}: {len(program.paths)} files in {program.directory}")
