"""read_fine_guide against the sample program's files, and every kind of bad input."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from fgs_widgets.archive import ReadError, read_fine_guide
from fgs_widgets.archive.reader import FGSReadWarning
from fgs_widgets.data import Quality


def test_stitched_in_time_order_whatever_the_input_order(sample, sample_data):
    shuffled = read_fine_guide(list(reversed(sample.paths)))
    np.testing.assert_array_equal(shuffled.time, sample_data.time)
    np.testing.assert_array_equal(shuffled.frames, sample_data.frames)
    assert list(shuffled.products["file_name"]) == [p.name for p in sample.paths]


def test_times_match_truth_and_cadence(sample, sample_data):
    assert len(sample_data) == len(sample.truth.time)
    # frames are 62.5 ms apart; a microsecond of error would shift periodograms
    np.testing.assert_allclose(sample_data.time, sample.truth.time, rtol=0, atol=1e-6 / 86400)
    assert sample_data.cadence == pytest.approx(0.0625, rel=1e-5)
    assert np.all(np.diff(sample_data.time) > 0)


def test_frames_never_dropped_and_flags_match_truth(sample, sample_data):
    truth = sample.truth
    q = sample_data.quality
    negative = np.flatnonzero(q & Quality.NEGATIVE_FLUX)
    np.testing.assert_array_equal(negative, truth.dropouts)
    assert np.all(sample_data.flux[truth.dropouts] < 0)
    np.testing.assert_array_equal(np.flatnonzero(q & Quality.ALL_NAN), truth.all_nan)
    assert np.isnan(sample_data.flux[truth.all_nan]).all()
    nan_frames = np.flatnonzero(q & Quality.NAN_PIXELS)
    assert set(truth.nan_pixel_frames) <= set(nan_frames)
    last = sample_data.products.iloc[-1]
    dq_frames = np.flatnonzero(q & Quality.DQ_FLAGGED)
    assert len(dq_frames) == last["n_frames"] and dq_frames[0] == last["first_frame"]
    np.testing.assert_array_equal(np.flatnonzero(q & Quality.FILE_START), truth.file_starts)
    # seg001 -> seg002 is contiguous; the two later files follow slews
    np.testing.assert_array_equal(np.flatnonzero(q & Quality.GAP_BEFORE), truth.file_starts[2:])
    assert (~sample_data.good).sum() == len(truth.dropouts) + len(truth.all_nan)


def test_flux_is_nan_ignoring_frame_sum(sample_data):
    frames = sample_data.frames[:500].astype(np.float64)
    np.testing.assert_allclose(sample_data.flux[:500], np.nansum(frames, axis=(1, 2)), rtol=1e-9)


def test_products_table(sample, sample_data):
    p = sample_data.products
    assert list(p["observation"]) == [1, 1, 2, 2]
    assert list(p["visit"]) == [1, 1, 1, 2]
    assert list(p["segment"].astype("float").fillna(0)) == [1, 2, 0, 0]
    assert list(p["guider"]) == [1, 1, 2, 2]
    assert p["gs_id"].nunique() == 2
    assert list(p["n_frames"]) == [4096, 4096, 4096, 2048]
    assert list(p["first_frame"]) == [0, 4096, 8192, 12288]
    assert set(p["visit_group"]) == {3} and set(p["exposure"]) == {1}
    assert p["gs_ra"].notna().all() and p["gs_mag"].between(10, 16).all()


def test_errors_and_dq_read(sample_data):
    assert sample_data.errors is not None
    finite = np.isfinite(sample_data.frames)
    assert np.all(sample_data.errors[finite] > 0)
    assert sample_data.dq.shape == (4, 8, 8)
    assert sample_data.dq[3, 0, 7] == 1 and sample_data.dq[:3].sum() == 0


def test_optional_tables(sample, sample_data):
    centroids = sample_data.tables["centroids"]
    assert len(centroids) == len(sample_data)
    np.testing.assert_allclose(centroids["time"], sample_data.time, atol=2e-3 / 86400)
    # positions stay FGS ideal-frame arcsec; the packet's zero rows are no position
    x = centroids["guide_star_position_x_arcsec"]
    assert x.abs().between(15, 30).sum() == len(centroids) - len(sample.truth.zero_centroid_rows)
    np.testing.assert_array_equal(np.flatnonzero(~centroids["position_valid"]),
                                  sample.truth.zero_centroid_rows)
    assert x[~centroids["position_valid"]].isna().all()
    pointing = sample_data.tables["pointing"]
    assert set(pointing["HGA_motion"]) == {0, 1}
    # the last file's Pointing HDU is header-only: absent, not an error
    assert set(pointing["file_index"]) == {0, 1, 2}
    assert not sample_data.problems
    # time is ms since DATASTRT, read as MJD inside the data, not at MJD ~0
    starts = sample_data.products["data_start"].to_numpy()[pointing["file_index"]]
    np.testing.assert_allclose(pointing["time"], starts + pointing["elapsed_ms"] / 86_400_000)
    assert pointing["time"].between(sample_data.time[0], sample_data.time[-1]).all()
    offsets = sample_data.products["centroid_time_offset"]
    assert offsets.abs().max() < 1e-3  # the packet's times agree with DATASTRT..DATAEND


@pytest.mark.parametrize(
    ("criteria", "files"),
    [
        (dict(observation=1), [0, 1]),
        (dict(observation="002", visit=2), [3]),
        (dict(guider=2), [2, 3]),
        (dict(segment=2), [1]),
        (dict(gs_id="N13I000422"), [2, 3]),
    ],
)
def test_filters_at_read_and_on_data_agree(sample, sample_data, criteria, files):
    read = read_fine_guide(sample.paths, **criteria)
    assert list(read.products["file_name"]) == [sample.paths[i].name for i in files]
    selected = sample_data.select(**criteria)
    np.testing.assert_array_equal(selected.time, read.time)
    np.testing.assert_array_equal(selected.segments, read.segments)
    assert read.segments.max() == len(files) - 1


def test_slicing_keeps_everything_consistent(sample_data):
    part = sample_data[4000:4200]
    assert len(part) == 200 and list(part.products["first_frame"]) == [0, 96]
    assert set(part.segments) == {0, 1}
    assert part.errors.shape == (200, 8, 8) and part.dq.shape == (2, 8, 8)
    assert set(part.tables["centroids"]["file_index"]) <= {0, 1}
    window = sample_data.between(sample_data.time[100], sample_data.time[199])
    assert len(window) == 100


def test_folder_and_glob_inputs(sample, sample_data):
    by_folder = read_fine_guide(sample.directory)
    by_glob = read_fine_guide(str(sample.directory / "mastDownload" / "**" / "*_cal.fits"))
    assert len(by_folder) == len(by_glob) == len(sample_data)


# -- bad input -----------------------------------------------------------------
@pytest.fixture
def bad_files(sample, tmp_path):
    good = tmp_path / sample.paths[3].name
    shutil.copy(sample.paths[3], good)
    out = {"good": good}
    truncated = tmp_path / "jw01534002002_gs-fg_2022340003013_cal.fits"
    truncated.write_bytes(good.read_bytes()[:200_000])
    out["truncated"] = truncated
    not_fits = tmp_path / "notes_cal.fits"
    not_fits.write_text("this is not FITS\n")
    out["not_fits"] = not_fits
    with fits.open(good) as hdul:
        hdul[0].header["EXP_TYPE"] = "FGS_TRACK"
        hdul.writeto(tmp_path / "track.fits")
        out["track"] = tmp_path / "track.fits"
    with fits.open(good) as hdul:
        hdul["SCI"].data = np.zeros((10, 16, 16), dtype=np.float32)
        hdul.writeto(tmp_path / "shape.fits")
        out["shape"] = tmp_path / "shape.fits"
    with fits.open(good) as hdul:
        del hdul[0].header["DATASTRT"]
        hdul.writeto(tmp_path / "nokey.fits")
        out["nokey"] = tmp_path / "nokey.fits"
    out["missing"] = tmp_path / "missing_cal.fits"
    return out


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("truncated", "truncated"),
        ("not_fits", "not a FITS file"),
        ("track", "FGS_TRACK"),
        ("shape", "(10, 16, 16)"),
        ("nokey", "DATASTRT"),
        ("missing", "does not exist"),
    ],
)
def test_each_bad_file_gets_a_clear_error(bad_files, kind, words):
    with pytest.raises(ReadError) as info:
        read_fine_guide(bad_files[kind], strict=True)
    message = str(info.value)
    assert str(bad_files[kind]) in message and words in message


def test_multi_file_read_keeps_good_files_and_lists_bad_ones(bad_files):
    paths = list(bad_files.values())
    with pytest.warns(FGSReadWarning, match="6 file"):
        data = read_fine_guide(paths)
    assert list(data.products["file_name"]) == [bad_files["good"].name]
    assert len(data) == 2048
    assert {p.path for p in data.problems} == {str(bad_files[k]) for k in bad_files if k != "good"}


def test_strict_mode_raises_on_first_bad_file(bad_files):
    with pytest.raises(ReadError, match="truncated"):
        read_fine_guide([bad_files["good"], bad_files["truncated"]], strict=True)


def test_nothing_readable_lists_every_reason(bad_files):
    with pytest.raises(ReadError) as info:
        read_fine_guide([bad_files["not_fits"], bad_files["track"]])
    assert len(info.value.problems) == 2
    assert "not a FITS file" in str(info.value) and "FGS_TRACK" in str(info.value)


def test_no_warning_for_clean_read(sample):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_fine_guide(sample.paths[:2])


def test_iso_times_to_mjd_match_astropy():
    from astropy.time import Time

    from fgs_widgets.archive.guider_tables import iso_to_mjd as _iso_to_mjd

    text = ["2022-12-06T00:08:25.123456", "2024-02-29T23:59:59.9999", "2023-01-01T00:00:00"]
    padded = np.array([t.encode() + b"   " for t in text], dtype="S30")
    np.testing.assert_allclose(_iso_to_mjd(padded), Time(text, scale="utc").mjd,
                               rtol=0, atol=1e-6 / 86400)
    # what numpy's cast rejects goes through pandas; unparsable entries are NaN, not errors
    mixed = np.array([b"2022-12-06T00:08:25Z", b"not a time", b""], dtype="S20")
    out = _iso_to_mjd(mixed)
    assert out[0] == pytest.approx(Time("2022-12-06T00:08:25").mjd, abs=1e-9)
    assert np.isnan(out[1:]).all()
    # the centroid packet is seen with a space between date and time
    spaced = np.array([t.replace("T", " ").encode() for t in text], dtype="S30")
    np.testing.assert_allclose(_iso_to_mjd(spaced), Time(text, scale="utc").mjd,
                               rtol=0, atol=1e-6 / 86400)


def test_tables_of_all_files_stack_with_flags_kept_categorical(sample):
    data = read_fine_guide(sample.paths)
    centroids = data.tables["centroids"]
    assert sorted(centroids["file_index"].unique()) == list(range(len(sample.paths)))
    text = [c for c in centroids.columns if isinstance(centroids[c].dtype, pd.CategoricalDtype)]
    assert text, "the packet's text flags should be categorical"
    for path_index, path in enumerate(sample.paths):
        one = read_fine_guide(path).tables["centroids"]
        rows = centroids[centroids["file_index"] == path_index].reset_index(drop=True)
        for column in one.columns.drop("file_index"):
            np.testing.assert_array_equal(rows[column].astype(str if column in text else float),
                                          one[column].astype(str if column in text else float))
