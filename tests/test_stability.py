"""Per-visit statistics: stability, jitter, PSF width and events against known answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from baselines import frozen

from fgs_widgets.data import BAD_QUALITY, GuideStarData, Quality
from fgs_widgets.engine.quickfit import quick_fit
from fgs_widgets.engine.stability import (
    PLATE_SCALE_MAS,
    STABILITY_WINDOW_S,
    STATISTICS,
    _ngroup,
    visit_statistics,
)
from fgs_widgets.runtime.fit import fit_gaussians

CADENCE = 0.0625  # s
PER_WINDOW = int(STABILITY_WINDOW_S / CADENCE)  # 240 frames


def synthetic(x: np.ndarray, y: np.ndarray, *, files: list[dict] | None = None,
              width: np.ndarray | float = 0.7, quality: np.ndarray | None = None,
              gap_s: float = 0.0, pointing: pd.DataFrame | None = None
              ) -> tuple[GuideStarData, pd.DataFrame]:
    """GuideStarData with given centroids (px), and its "fit".

    `files`: one dict per file (``n`` frames, ``observation``, ``visit``, ``gs_id``);
    default one file of every frame.  Frames are 16 Hz within a file, `gap_s` between.
    The pixels are zeros (only their shape is checked): no fit is run here.
    """
    n = len(x)
    files = files or [dict(n=n, observation=1, visit=1, gs_id="A")]
    assert sum(f["n"] for f in files) == n
    segments = np.repeat(np.arange(len(files)), [f["n"] for f in files]).astype(np.int32)
    steps = np.full(n, CADENCE)
    steps[0] = 0.0
    starts = np.cumsum([f["n"] for f in files])[:-1]
    steps[starts] += gap_s
    seconds = np.cumsum(steps)
    products = pd.DataFrame({"program": 1534, "guider": 1,
                             **{k: [f[k] for f in files] for k in ("observation", "visit",
                                                                   "gs_id")}})
    data = GuideStarData(
        frames=np.broadcast_to(np.zeros((1, 8, 8), np.float32), (n, 8, 8)),
        time=59900.0 + seconds / 86400.0, flux=np.ones(n),
        quality=np.zeros(n, np.uint16) if quality is None else quality,
        segments=segments, products=products,
        tables={} if pointing is None else {"pointing": pointing})
    width = np.broadcast_to(np.asarray(width, dtype=np.float64), (n,))
    fit = pd.DataFrame({"x_mean": x, "y_mean": y, "x_stddev": width, "y_stddev": width})
    return data, fit


def window_means(values: np.ndarray) -> np.ndarray:
    """Means of consecutive full 240-frame windows (the number of frames is a multiple)."""
    return values.reshape(-1, PER_WINDOW).mean(axis=1)


def test_slow_sinusoid_gives_its_rms_and_white_noise_gives_its_jitter():
    rng = np.random.default_rng(1)
    seconds = np.arange(120 * PER_WINDOW) * CADENCE  # 30 min: three periods of 600 s
    amplitude, sigma = 0.05, 0.01  # px
    x = 3.0 + amplitude * np.sin(2 * np.pi * seconds / 600.0) + rng.normal(0, sigma, len(seconds))
    y = 2.8 + amplitude * np.cos(2 * np.pi * seconds / 600.0) + rng.normal(0, sigma, len(seconds))
    row = visit_statistics(*synthetic(x, y)).iloc[0]
    assert row["n_windows"] == 120 and row["n_good"] == len(seconds)
    # independently: window means by reshaping, about the mean of all frames
    mx, my = (window_means(v * PLATE_SCALE_MAS) - (v * PLATE_SCALE_MAS).mean() for v in (x, y))
    assert row["stability_x_mas"] == pytest.approx(np.sqrt(np.mean(mx**2)), rel=1e-9)
    assert row["stability_mas"] == pytest.approx(np.sqrt(np.mean(mx**2 + my**2)), rel=1e-9)
    # analytically: A/sqrt(2) per axis, A radial (the 15 s mean of a 600 s wave is 0.999 A)
    a_mas = amplitude * PLATE_SCALE_MAS
    assert row["stability_x_mas"] == pytest.approx(a_mas / np.sqrt(2), rel=0.02)
    assert row["stability_y_mas"] == pytest.approx(a_mas / np.sqrt(2), rel=0.02)
    assert row["stability_mas"] == pytest.approx(a_mas, rel=0.02)
    # within 15 s the wave moves by < 0.02 A: the jitter is the white noise, sqrt(2) sigma
    assert row["jitter_15s_mas"] == pytest.approx(np.sqrt(2) * sigma * PLATE_SCALE_MAS, rel=0.02)
    assert row["jitter_15s_x_mas"] == pytest.approx(sigma * PLATE_SCALE_MAS, rel=0.02)

    # white noise alone: jitter sqrt(2) sigma, stability only the noise of a window mean
    noise = visit_statistics(*synthetic(3.0 + rng.normal(0, sigma, len(x)),
                                        2.8 + rng.normal(0, sigma, len(y)))).iloc[0]
    assert noise["jitter_15s_mas"] == pytest.approx(np.sqrt(2) * sigma * PLATE_SCALE_MAS,
                                                    rel=0.02)
    expected = sigma * PLATE_SCALE_MAS * np.sqrt(2 / PER_WINDOW)  # 0.063 mas
    assert noise["stability_mas"] == pytest.approx(expected, rel=0.2)
    assert noise["stability_mas"] < 0.02 * row["stability_mas"]


def test_partial_windows_and_width_drift():
    seconds = np.arange(60 * PER_WINDOW + 100) * CADENCE  # 60 full windows + 100 frames
    x = 3.0 + 0.2 * seconds / 3600.0  # a linear drift of 0.2 px/h
    width = 0.70 + 0.03 * seconds / 3600.0  # the PSF widens by 0.03 px/h
    row = visit_statistics(*synthetic(x, np.full(len(x), 3.0), width=width)).iloc[0]
    # the last 100 frames are fewer than half a window: left out
    assert row["n_windows"] == 60
    assert row["duration_s"] == pytest.approx(seconds[-1], abs=1e-3)
    assert row["psf_width_drift_px_per_h"] == pytest.approx(0.03, rel=1e-6)
    medians = window_means(width[: 60 * PER_WINDOW])  # linear: median = mean
    p5, p95 = np.percentile(medians, [5, 95])
    assert row["psf_width_range_px"] == pytest.approx(p95 - p5, rel=1e-6)
    assert row["psf_width_px"] == pytest.approx(np.median(width), rel=1e-9)
    # a ramp of total size D: window means about the mean of all frames, rms ~ D / sqrt(12)
    drift = 0.2 * seconds[-1] / 3600.0 * PLATE_SCALE_MAS
    assert row["stability_mas"] == pytest.approx(drift / np.sqrt(12), rel=0.03)
    assert row["stability_y_mas"] == pytest.approx(0.0, abs=1e-9)


def test_acquisition_offset_between_guide_star_runs_is_not_instability():
    rng = np.random.default_rng(2)
    n = 40 * PER_WINDOW
    x, y = 3.0 + rng.normal(0, 0.01, 2 * n), 2.9 + rng.normal(0, 0.01, 2 * n)
    shifted_x, shifted_y = x.copy(), y.copy()
    shifted_x[n:] += 0.5  # the second star lands 0.5 px / -0.3 px away: 40 mas
    shifted_y[n:] -= 0.3
    two_stars = [dict(n=n, observation=1, visit=1, gs_id="A"),
                 dict(n=n, observation=1, visit=1, gs_id="B")]
    same_star = [dict(f, gs_id="A") for f in two_stars]
    steady = visit_statistics(*synthetic(x, y, files=two_stars, gap_s=120.0)).iloc[0]
    offset = visit_statistics(*synthetic(shifted_x, shifted_y, files=two_stars,
                                         gap_s=120.0)).iloc[0]
    assert offset["gs_id"] == "A+B" and offset["n_files"] == 2
    assert offset["stability_mas"] == pytest.approx(steady["stability_mas"], rel=1e-6)
    assert offset["stability_mas"] < 0.2  # mas: noise only
    assert offset["jitter_15s_mas"] == pytest.approx(steady["jitter_15s_mas"], rel=1e-6)
    assert offset["n_tilts"] == 0  # a step between files is not a tilt
    # the same offset with one guide star is a pointing change: half the step, rms
    moved = visit_statistics(*synthetic(shifted_x, shifted_y, files=same_star,
                                        gap_s=120.0)).iloc[0]
    step = np.hypot(0.5, 0.3) * PLATE_SCALE_MAS
    assert moved["gs_id"] == "A"
    assert moved["stability_mas"] == pytest.approx(step / 2, rel=0.02)
    # back to the first star later: still one name per star, runs referred separately
    three = [*two_stars, dict(n=n, observation=1, visit=1, gs_id="A")]
    back = visit_statistics(*synthetic(np.concatenate([shifted_x, x[:n] + 0.2]),
                                       np.concatenate([shifted_y, y[:n]]), files=three,
                                       gap_s=60.0)).iloc[0]
    assert back["gs_id"] == "A+B" and back["stability_mas"] < 0.2


def test_visits_flags_fit_failures_tilts_and_pointing():
    rng = np.random.default_rng(3)
    n = 30 * PER_WINDOW
    files = [dict(n=n, observation=1, visit=1, gs_id="A"),
             dict(n=n, observation=1, visit=2, gs_id="A"),
             dict(n=n, observation=2, visit=1, gs_id="C")]
    x, y = 3.0 + rng.normal(0, 0.01, 3 * n), 3.0 + rng.normal(0, 0.01, 3 * n)
    x[1000:n] += 0.1  # a tilt seen in x and y at once: one tilt
    y[1008:n] -= 0.1
    x[n + 4000:2 * n] += 0.1  # a tilt in x only, in visit 2
    quality = np.zeros(3 * n, np.uint16)
    quality[[10, 11, 12]] = Quality.NEGATIVE_FLUX
    quality[13] = Quality.ALL_NAN
    quality[14] = Quality.NAN_PIXELS | Quality.FILE_START  # not BAD_QUALITY: still used
    data_t0 = 59900.0
    seconds_per_file = n * CADENCE
    # Pointing: 1 Hz rows for files 0 and 1 (file 2 has none: a header-only HDU);
    # an HGA move from 100 s to 160 s into file 1
    rows = []
    for file in (0, 1):
        elapsed = np.arange(0.0, seconds_per_file, 1.0)
        moving = (file == 1) & (elapsed >= 100) & (elapsed < 160)
        rows.append(pd.DataFrame({"file_index": file,
                                  "time": data_t0 + (file * seconds_per_file + elapsed) / 86400,
                                  "jitter": np.full(len(elapsed), 1.0 + file),
                                  "HGA_motion": np.where(moving, 0, 1).astype(np.int8)}))
    pointing = pd.concat(rows, ignore_index=True)
    pointing.loc[5, "jitter"] = 4.0
    data, fit = synthetic(x, y, files=files, quality=quality, pointing=pointing)
    status = np.array(["converged"] * (3 * n), dtype=object)
    status[[10, 13]] = "bad_input"  # flagged: not a fit failure
    status[[20, 21, n + 5]] = ["max_iter", "failed", "bad_input"]
    fit["status"] = pd.Categorical(status, categories=["converged", "max_iter", "failed",
                                                       "bad_input", "cancelled"])
    fit.loc[30, "x_mean"] = np.nan
    table = visit_statistics(data, fit)
    assert list(zip(table["observation"], table["visit"], strict=True)) == [(1, 1), (1, 2),
                                                                            (2, 1)]
    assert list(table["n_flagged"]) == [4, 0, 0]
    assert list(table["n_fit_failed"]) == [3, 1, 0]
    assert table["fit_failure_rate"].iloc[0] == pytest.approx(3 / (n - 4))
    assert list(table["n_good"]) == [n - 7, n - 1, n]
    assert table["flagged_fraction"].iloc[0] == pytest.approx(4 / n)
    assert list(table["n_tilts"]) == [1, 1, 0]
    assert list(table["n_hga_moves"]) == [0, 1, 0]
    assert table["pointing_jitter_mean_mas"].iloc[0] == pytest.approx(
        (1.0 * (len(pointing) // 2 - 1) + 4.0) / (len(pointing) // 2))
    assert list(table["pointing_jitter_max_mas"].iloc[:2]) == [4.0, 2.0]
    assert table[["pointing_jitter_mean_mas", "pointing_jitter_max_mas"]].iloc[2].isna().all()
    # integer status codes (0 converged) mean the same as the names
    coded = fit.assign(status=fit["status"].cat.codes.astype(np.int8))
    pd.testing.assert_frame_equal(visit_statistics(data, coded), table)


def test_wrong_fit_is_a_clear_error():
    data, fit = synthetic(np.full(500, 3.0), np.full(500, 3.0))
    with pytest.raises(ValueError, match=r"fit has 499 rows but data has 500 frames.*quick_fit"):
        visit_statistics(data, fit.iloc[1:])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['y_stddev'\]"):
        visit_statistics(data, fit.drop(columns="y_stddev"))
    with pytest.raises(ValueError, match="positive"):
        visit_statistics(data, fit, window=0)


def test_every_column_is_defined():
    data, fit = synthetic(np.full(500, 3.0), np.full(500, 3.0))
    table = visit_statistics(data, fit)
    assert list(table.columns) == list(STATISTICS)
    for name, (unit, definition) in STATISTICS.items():
        assert isinstance(unit, str) and len(definition) > 10, name
    assert {"mas", "px", "px/h", "s", "MJD (UTC)"} <= {u for u, _ in STATISTICS.values()}
    assert table.attrs == {"window_s": STABILITY_WINDOW_S, "plate_scale_mas": PLATE_SCALE_MAS}


def in_visit(table: pd.DataFrame, times) -> list[int]:
    """How many of `times` fall in each row's [start_mjd, end_mjd]."""
    times = np.asarray(times)
    return [int(((times >= a) & (times <= b)).sum())
            for a, b in zip(table["start_mjd"], table["end_mjd"], strict=True)]


@pytest.mark.parametrize("method", ["quick", "gaussian"])
def test_the_sample_program(sample, sample_data, method):
    data, truth = sample_data, sample.truth
    fit = (quick_fit(data.frames) if method == "quick"
           else fit_gaussians(data.frames, data.errors, executor="serial"))
    table = visit_statistics(data, fit)
    assert list(zip(table["observation"], table["visit"], strict=True)) == [(1, 1), (2, 1),
                                                                            (2, 2)]
    assert list(table["program"]) == [1534] * 3
    assert list(table["n_files"]) == [2, 1, 1]
    assert list(table["n_frames"]) == [8192, 4096, 2048]
    assert list(table["gs_id"]) == ["N13I000018", "N13I000422", "N13I000422"]
    visit_of_frame = np.array([0, 0, 1, 2])[data.segments]  # files -> visits
    flagged = (data.quality & int(BAD_QUALITY)) != 0
    assert list(table["n_flagged"]) == [int(flagged[visit_of_frame == v].sum()) for v in range(3)]
    assert list(table["n_flagged"]) == [1, 6, 0]  # the all-NaN frame; the six drop-outs
    assert (table["fit_failure_rate"] < 0.001).all()
    assert list(table["n_hga_moves"]) == in_visit(table, [a for a, _ in truth.hga_moves])
    assert list(table["n_hga_moves"]) == [1, 1, 0]
    jumps = in_visit(table, truth.jumps["time"])
    assert jumps == [2, 1, 0]
    # every injected jump is found; the HGA move's tripled jitter on top of the 11 s
    # oscillation may add one more
    assert all(j <= t <= j + 1 for j, t in zip(jumps, table["n_tilts"], strict=True))
    # the Pointing table's jitter is N(1, 0.1) mas; the last file's table is header-only
    assert table["pointing_jitter_mean_mas"].iloc[:2].to_numpy() == pytest.approx(1.0, abs=0.03)
    assert np.isnan(table["pointing_jitter_mean_mas"].iloc[2])
    # the fit's stability is the true centroids' (fit noise ~0.005 px adds little to means)
    true_fit = pd.DataFrame(truth.params[:, 1:5], columns=["x_mean", "y_mean", "x_stddev",
                                                           "y_stddev"])
    true = visit_statistics(data, true_fit)
    np.testing.assert_allclose(table["stability_mas"], true["stability_mas"], rtol=0.03)
    assert (table["stability_mas"] > 1.0).all() and (table["stability_mas"] < 6.0).all()
    if method == "gaussian":  # the full fit's widths are unbiased: sqrt(sx sy) of the stars
        np.testing.assert_allclose(table["psf_width_px"], [np.sqrt(0.70 * 0.67)]
                                   + [np.sqrt(0.68 * 0.66)] * 2, atol=0.005)
        np.testing.assert_allclose(table["jitter_15s_mas"], true["jitter_15s_mas"], rtol=0.15)


# -- the same numbers as before issue 27 (benchmarks/stability_baseline.py, a frozen copy) --
@pytest.fixture(scope="module")
def baseline():
    """The frozen copy of the statistics as they were before they were made faster."""
    with frozen("stability_baseline") as module:
        yield module


def assert_identical(baseline, data: GuideStarData, fit: pd.DataFrame, **options) -> pd.DataFrame:
    """visit_statistics equals the frozen baseline's, bit for bit (attrs too)."""
    table = visit_statistics(data, fit, **options)
    pd.testing.assert_frame_equal(table, baseline.visit_statistics(data, fit, **options),
                                  check_exact=True)
    assert table.attrs == baseline.visit_statistics(data, fit, **options).attrs
    return table


def awkward(seed: int) -> tuple[GuideStarData, pd.DataFrame]:
    """Files of random lengths (some shorter than the jump detector's 125 frames, one of a
    single frame, one all flagged), visits, star changes, gaps, steps, NaN and failed fits,
    and a Pointing table with HGA moves, NaN jitter and rows outside every file."""
    rng = np.random.default_rng(seed)
    sizes = [int(rng.choice([1, 60, 124, 125, 300, 2000, 5000])) for _ in range(7)]
    stars, visits = rng.choice(["A", "B"], 7), np.sort(rng.integers(1, 4, 7))
    files = [dict(n=k, observation=1 + int(v > 2), visit=int(v), gs_id=str(g))
             for k, v, g in zip(sizes, visits, stars, strict=True)]
    n = sum(sizes)
    x = 3.0 + np.cumsum(rng.normal(0, 0.002, n)) + rng.normal(0, 0.01, n)
    y = 2.8 + 0.05 * np.sin(np.arange(n) / 40.0) + rng.normal(0, 0.01, n)
    for _ in range(6):  # steps, some in x and y together
        at = rng.integers(0, n)
        x[at:] += rng.normal(0, 0.2)
        if rng.random() < 0.5:
            y[at + rng.integers(0, 20):] -= 0.1
    quality = np.zeros(n, np.uint16)
    quality[rng.random(n) < 0.01] = Quality.NEGATIVE_FLUX
    quality[rng.random(n) < 0.01] = Quality.NAN_PIXELS  # not BAD_QUALITY: still used
    first = np.cumsum([0, *sizes])
    quality[first[3]:first[4]] = Quality.ALL_NAN  # a file with no good frame
    width = 0.7 + rng.normal(0, 0.005, n)
    seconds = np.arange(0.0, n * CADENCE + 600, 1.0)
    pointing = pd.DataFrame({"file_index": rng.integers(-1, 9, len(seconds)),
                             "time": 59900.0 + seconds / 86400.0,
                             "jitter": rng.normal(1.0, 0.1, len(seconds)),
                             "HGA_motion": (rng.random(len(seconds)) < 0.9).astype(np.int8)})
    pointing.loc[rng.random(len(seconds)) < 0.05, "jitter"] = np.nan
    data, fit = synthetic(x, y, files=files, width=width, quality=quality,
                          gap_s=float(rng.choice([0.0, 7.0, 400.0])), pointing=pointing)
    fit.loc[rng.random(n) < 0.01, "x_mean"] = np.nan
    status = np.where(rng.random(n) < 0.01, "max_iter", "converged")
    fit["status"] = pd.Categorical(status, categories=["converged", "max_iter", "failed"])
    return data, fit


@pytest.mark.parametrize("seed", range(8))
def test_identical_to_the_frozen_baseline_on_awkward_series(baseline, seed):
    data, fit = awkward(seed)
    table = assert_identical(baseline, data, fit)
    assert table["n_good"].sum() > 0
    assert_identical(baseline, data, fit, window=10.0, plate_scale_mas=70.0)
    coded = fit.assign(status=fit["status"].cat.codes.astype(np.int8))
    assert_identical(baseline, data, coded.drop(columns="status"))
    # products without program and guider; a Pointing table without HGA_motion
    bare = replace(data, products=data.products.drop(columns=["program", "guider"]),
                   tables={"pointing": data.tables["pointing"].drop(columns="HGA_motion")})
    assert_identical(baseline, bare, fit)


def test_identical_to_the_frozen_baseline_on_the_sample(baseline, sample, sample_data):
    fit = quick_fit(sample_data.frames)
    table = assert_identical(baseline, sample_data, fit)
    assert table["n_tilts"].sum() >= 3  # the detector ran and found the injected jumps
    true_fit = pd.DataFrame(sample.truth.params[:, 1:5],
                            columns=["x_mean", "y_mean", "x_stddev", "y_stddev"])
    assert_identical(baseline, sample_data, true_fit)


def test_visits_numbered_as_groupby_numbers_them():
    rng = np.random.default_rng(4)
    keys = ["program", "observation", "visit"]
    for _ in range(200):
        n = int(rng.integers(0, 12))
        values = rng.integers(0, 3, (3, n)).astype(object)
        values[rng.random((3, n)) < 0.2] = pd.NA
        table = pd.DataFrame({"program": pd.array(values[0], dtype="Int64"),
                              "observation": pd.Series(values[1], dtype=object),
                              "visit": pd.to_numeric(pd.Series(values[2]), errors="coerce")})
        expected = table.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
        np.testing.assert_array_equal(_ngroup(table, keys), expected)
        assert _ngroup(table, keys).dtype == np.int64
