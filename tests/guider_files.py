"""Guider products written through the official JWST data model (stdatamodels).

`stdatamodels` writes files exactly as the pipeline does (HDU order, types,
BZERO DQ, header-only tables, the ASDF extension), so these are the closest
thing to real MAST files the tests can have.  Each helper writes one file and
returns its path; options cover what the pipeline can write.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time

from fgs_widgets.archive.names import file_name
from fgs_widgets.engine.psf import gaussian2d

DATA_START = Time("2023-07-14T10:00:00", scale="utc").mjd
CADENCE = 0.0625  # s
TRUE_PARAMS = (2.5e5, 2.8, 2.7, 0.70, 0.67, 0.3, 3000.0)  # a real-like guide star, DN/s

_POINTING = [("time", "f8"), *[(c, "f8") for c in (
    "jitter", "delta_ddc_ra", "delta_ddc_dec", "delta_aperture_pa", "delta_v1_ra",
    "delta_v1_dec", "delta_v3_pa", "delta_j1_ra", "delta_j1_dec", "delta_j3_pa")],
    ("HGA_motion", "S16")]
_CENTROID = [("observatory_time", "S23"), ("centroid_time", "S23"), *[(c, "f8") for c in (
    "guide_star_position_x", "guide_star_position_y", "guide_star_instrument_counts_per_sec",
    "signal_to_noise_current_frame", "delta_signal", "delta_noise")],
    ("psf_width_x", "i4"), ("psf_width_y", "i4"), ("data_quality", "i4"),
    ("bad_pixel_flag", "S4"), ("bad_centroid_dq_flag", "S12"),
    *[(c, "S5") for c in ("cosmic_ray_hit_flag", "sw_subwindow_loc_change_flag",
                          "guide_star_at_detector_subwindow_boundary_flag",
                          "subwindow_out_of_FOV_flag")]]

_PLANNED = [("guide_star_order", "i4"), ("reference_order", "i4"),
            ("reference_star_id", "S12"), *[(c, "f8") for c in (
                "ra", "dec", "id_x", "id_y", "fgs_mag", "fgs_mag_uncert", "count_rate",
                "count_rate_uncert")]]
_TRACK = [("observatory_time", "S23"), ("x_corner", "f8"), ("y_corner", "f8"),
          ("x_size", "i4"), ("y_size", "i4")]


def datamodels():
    from stdatamodels.jwst import datamodels  # a core dependency: never skipped

    return datamodels


def frame_times(n: int, start: float = DATA_START) -> np.ndarray:
    return start + np.arange(n) * CADENCE / 86400.0


def star_frames(n: int, rng: np.random.Generator) -> np.ndarray:
    """Noisy count-rate frames of `TRUE_PARAMS` (DN/s)."""
    model = gaussian2d(np.tile(TRUE_PARAMS, (n, 1)))
    electrons = rng.poisson(model * CADENCE * 2.0)
    return (electrons / 2.0 / CADENCE + rng.normal(0, 270, model.shape)).astype(np.float32)


def pointing_rows(seconds: float, moving: tuple[float, float] | None = None,
                  codes_as: str = "text") -> np.ndarray:
    """1 Hz rows, ``time`` in ms since the file's start; HGA codes 0 moving, 1 finished."""
    elapsed = np.arange(0.0, seconds, 1.0)
    rows = np.zeros(len(elapsed), dtype=_POINTING)
    rows["time"] = elapsed * 1000.0
    code = np.ones(len(elapsed), dtype=int)
    if moving is not None:
        code[(elapsed >= moving[0]) & (elapsed < moving[1])] = 0
    rows["HGA_motion"] = code.astype(str) if codes_as == "text" else code
    return rows


def centroid_rows(time: np.ndarray, separator: str = "T", zero_rows=()) -> np.ndarray:
    rows = np.zeros(len(time), dtype=_CENTROID)
    iso = Time(time, format="mjd", scale="utc").isot
    rows["observatory_time"] = iso
    rows["centroid_time"] = np.char.replace(iso, "T", separator)
    rows["guide_star_position_x"] = -21.84 + np.linspace(0, 0.01, len(time))
    rows["guide_star_position_y"] = 13.37
    rows["guide_star_position_x"][list(zero_rows)] = 0.0
    rows["guide_star_position_y"][list(zero_rows)] = 0.0
    for flag in ("bad_pixel_flag", "bad_centroid_dq_flag", "cosmic_ray_hit_flag",
                 "sw_subwindow_loc_change_flag", "subwindow_out_of_FOV_flag",
                 "guide_star_at_detector_subwindow_boundary_flag"):
        rows[flag] = "NO"
    return rows


def write_guider(
    folder: Path,
    *,
    n: int = 320,
    start: float = DATA_START,
    exp_type: str = "FGS_FINEGUIDE",
    function: str = "fg",
    observation: int = 1,
    visit: int = 1,
    gs_id: str = "N13I000018",
    gsc_version: str | None = None,
    pointing: np.ndarray | str | None = "default",
    header_only_pointing: bool = False,
    centroids: np.ndarray | str | None = "default",
    reference_tables: bool = False,
    dq: np.ndarray | None = None,
    raw_reads: int | None = None,
    group_time: float = CADENCE,
    seed: int = 0,
) -> Path:
    """One guider product written through ``GuiderCalModel`` (or ``GuiderRawModel``).

    ``pointing``/``centroids``: "default" rows, None for no table, or rows;
    ``header_only_pointing`` sets the Pointing header keywords without rows
    (the pipeline's header-only HDU, written before SCI); ``raw_reads`` writes
    a raw ``_uncal`` file with that many Fowler reads per integration, a
    linear ramp of the same star; ``gsc_version`` is the header's ``GSC_VER``.
    """
    dm = datamodels()
    rng = np.random.default_rng(seed)
    times = frame_times(n, start)
    end = times[-1] if n else start
    level = "cal" if raw_reads is None else "uncal"
    stamp = Time(end, format="mjd").to_datetime()
    name = file_name(1534, observation, visit, stamp, level=level, function=function)
    cls = dm.GuiderCalModel if raw_reads is None else dm.GuiderRawModel
    with cls() as model:
        rates = star_frames(n, rng)
        if raw_reads is None:
            model.data = rates
            model.err = np.full_like(rates, 300.0)
        else:
            ramp = np.arange(raw_reads, dtype=np.float32)[None, :, None, None] * group_time
            model.data = (1000.0 + rates[:, None] * ramp).astype(np.float32)
        model.dq = np.zeros((8, 8), np.uint32) if dq is None else dq
        m = model.meta
        m.filename = name
        m.instrument.name, m.instrument.detector = "FGS", "GUIDER1"
        m.exposure.type = exp_type
        m.exposure.nints = n
        m.exposure.group_time = group_time
        m.exposure.ngroups = raw_reads or 1
        m.observation.program_number = "01534"
        m.observation.observation_number = f"{observation:03d}"
        m.observation.visit_number = f"{visit:03d}"
        m.guidestar.gs_id = gs_id
        if gsc_version is not None:
            m.guide_star_catalog_version = gsc_version  # GSC_VER
        m.guidestar.gs_ra, m.guidestar.gs_dec, m.guidestar.gs_mag = 80.49, -69.50, 12.3
        m.guidestar.data_start, m.guidestar.data_end = start, end
        if isinstance(pointing, str):
            pointing = pointing_rows(n * CADENCE)
        if header_only_pointing:
            m.pointing_time = Time(start, format="mjd").isot
        elif pointing is not None:
            model.pointing_table = pointing
        if isinstance(centroids, str):
            centroids = centroid_rows(times)
        if centroids is not None:
            model.centroid_table = centroids
        if reference_tables:  # ID and track products carry these; a reader must tolerate them
            planned = np.zeros(2, dtype=_PLANNED)
            planned["reference_star_id"] = [b"N13I000511", b"N13I000602"]
            model.planned_star_table = planned
            track = np.zeros(3, dtype=_TRACK)
            track["x_size"] = track["y_size"] = 8
            model.track_sub_table = track
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    return path


def rewrite(path: Path, edit) -> Path:
    """Apply ``edit(hdul)`` to a written file with astropy (forms the data model does not
    write, e.g. the docs' int32 HGA codes) and save it in place."""
    with fits.open(path) as hdul:
        hdul = fits.HDUList([hdu.copy() for hdu in hdul])
    edit(hdul)
    hdul.writeto(path, overwrite=True)
    return path
