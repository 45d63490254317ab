"""The reader on what the pipeline can write: files made through the official data model.

Every fixture is written by stdatamodels' ``GuiderCalModel`` / ``GuiderRawModel``
(`guider_files`), then, where the docs allow a form the data model does not
write (int32 HGA codes), edited with astropy.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from guider_files import (
    CADENCE,
    DATA_START,
    TRUE_PARAMS,
    centroid_rows,
    frame_times,
    pointing_rows,
    rewrite,
    write_guider,
)

from fgs_widgets.archive import ReadError, read_fine_guide
from fgs_widgets.archive.reader import FGSReadWarning
from fgs_widgets.data import Quality
from fgs_widgets.engine.events import hga_from_pointing


def read_quietly(paths, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean file reads without any warning
        return read_fine_guide(paths, **kwargs)


def test_header_only_pointing_before_sci_is_absent_not_a_crash(tmp_path):
    path = write_guider(tmp_path, header_only_pointing=True)
    with fits.open(path) as hdul:  # the layout the data model writes
        names = [hdu.name for hdu in hdul]
        assert names.index("POINTING") < names.index("SCI")
        assert hdul["POINTING"].header["NAXIS"] == 0
    data = read_quietly(path, strict=True)
    assert len(data) == 320 and "pointing" not in data.tables and not data.problems
    assert "centroids" in data.tables


def test_missing_tables_and_reference_star_tables_are_tolerated(tmp_path):
    bare = write_guider(tmp_path / "a", pointing=None, centroids=None)
    extra = write_guider(tmp_path / "b", reference_tables=True, start=DATA_START + 0.01)
    with fits.open(extra) as hdul:
        assert {"PLANNED REFERENCE STARS", "TRACK SUBARRAY TABLE"} <= {h.name for h in hdul}
    data = read_quietly([bare, extra], strict=True)
    assert len(data) == 640
    assert set(data.tables["pointing"]["file_index"]) == {1}
    assert np.isnan(data.products["centroid_time_offset"].iloc[0])


def test_empty_cube_is_a_problem_and_good_files_still_load(tmp_path):
    empty = write_guider(tmp_path / "e", n=0, pointing=None, centroids=None)
    good = write_guider(tmp_path / "g", start=DATA_START + 0.01)
    with pytest.warns(FGSReadWarning, match="1 file"):
        data = read_fine_guide([empty, good])
    assert len(data) == 320 and list(data.products["file_name"]) == [good.name]
    (problem,) = data.problems
    assert problem.path == str(empty) and "no frames" in problem.reason
    with pytest.raises(ReadError, match="no frames") as info:
        read_fine_guide(empty, strict=True)
    assert str(empty) in str(info.value)


@pytest.mark.parametrize("form", ["text", "int32"])
def test_pointing_time_is_ms_since_data_start_and_hga_codes_in_both_forms(tmp_path, form):
    rows = pointing_rows(20.0, moving=(5.0, 9.0))
    path = write_guider(tmp_path, pointing=rows)
    if form == "int32":
        def as_int(hdul):
            table = hdul["POINTING"]
            cols = [c if c.name != "HGA_motion" else fits.Column(
                name="HGA_motion", format="J",
                array=np.asarray(table.data["HGA_motion"]).astype("U16").astype(int))
                for c in table.columns]
            new = fits.BinTableHDU.from_columns(cols, header=table.header)
            hdul[hdul.index_of("POINTING")] = new
        rewrite(path, as_int)
        with fits.open(path) as hdul:
            assert hdul["POINTING"].columns["HGA_motion"].format == "J"
    data = read_quietly(path, strict=True)
    pointing = data.tables["pointing"]
    np.testing.assert_allclose(pointing["time"], DATA_START + np.arange(20) / 86400.0,
                               rtol=0, atol=1e-9)
    assert pointing["HGA_motion"].tolist() == [1] * 5 + [0] * 4 + [1] * 11
    moves = hga_from_pointing(pointing)
    assert len(moves) == 1
    assert moves["time"].iloc[0] == pytest.approx(DATA_START + 5 / 86400, abs=1e-9)
    assert moves["end"].iloc[0] == pytest.approx(DATA_START + 9 / 86400, abs=1e-9)
    assert data.time[0] <= moves["time"].iloc[0] <= data.time[-1]  # inside the data


def test_finished_and_offline_codes_are_not_moves(tmp_path):
    rows = pointing_rows(10.0)
    rows["HGA_motion"] = np.array(["1", "2"] * 5)
    data = read_quietly(write_guider(tmp_path, pointing=rows))
    assert len(hga_from_pointing(data.tables["pointing"])) == 0


@pytest.mark.parametrize("separator", ["T", " "])
def test_centroid_packet_times_either_separator_and_zero_positions(tmp_path, separator):
    time = frame_times(320)
    path = write_guider(tmp_path, centroids=centroid_rows(time, separator, zero_rows=(3, 200)))
    data = read_quietly(path)
    packet = data.tables["centroids"]
    np.testing.assert_allclose(packet["time"], data.time, rtol=0, atol=1e-3 / 86400)
    assert abs(data.products["centroid_time_offset"].iloc[0]) < 1e-3
    assert len(packet) == 320  # no row is removed
    assert packet["position_valid"].tolist().count(False) == 2
    assert packet["guide_star_position_x_arcsec"].iloc[[3, 200]].isna().all()
    assert packet["guide_star_position_x_arcsec"].iloc[0] == pytest.approx(-21.84)
    for column in ("guide_star_position_y_arcsec", "psf_width_x", "data_quality"):
        assert packet[column].dtype.isnative  # FITS stores big-endian
    assert isinstance(packet["bad_pixel_flag"].dtype, pd.CategoricalDtype)


def test_frame_times_checked_against_the_packet(tmp_path):
    shifted = centroid_rows(frame_times(320, DATA_START + 3.0 / 86400))
    path = write_guider(tmp_path, centroids=shifted)
    with pytest.warns(FGSReadWarning, match=r"disagree by more than 1 s.*\+3\.000 s"):
        data = read_fine_guide(path)
    assert data.products["centroid_time_offset"].iloc[0] == pytest.approx(3.0, abs=1e-3)
    # frame times stay DATASTRT..DATAEND, as the reference tool computes them
    np.testing.assert_allclose(data.time, frame_times(320), rtol=0, atol=1e-9)


def test_bzero_dq_with_high_bits(tmp_path):
    dq = np.zeros((8, 8), np.uint32)
    dq[0, 0] = 1 | (1 << 31)
    dq[1, 1] = 2
    path = write_guider(tmp_path, dq=dq)
    with fits.open(path) as hdul:
        assert hdul["DQ"].header["BZERO"] == 2**31
    data = read_quietly(path)
    np.testing.assert_array_equal(data.dq[0], dq)
    assert np.all(data.quality & Quality.DQ_FLAGGED) and np.all(data.quality & Quality.SATURATED)


def test_raw_uncal_file_is_turned_into_count_rates_as_the_pipeline_does(tmp_path):
    cal = write_guider(tmp_path / "cal", seed=4)
    raw = write_guider(tmp_path / "raw", raw_reads=8, group_time=CADENCE, seed=4)
    with fits.open(raw) as hdul:
        assert hdul["SCI"].shape == (320, 8, 8, 8)
    data = read_quietly(raw, strict=True)
    # a linear ramp at `rate`: (mean of reads 4..7 - mean of reads 0..3) / TGROUP = 4 x rate
    expected = read_quietly(cal).frames * 4
    np.testing.assert_allclose(data.frames, expected, rtol=1e-4, atol=1.0)
    assert data.products["level"].tolist() == ["uncal"]
    assert np.all(data.quality & Quality.FROM_RAW) and data.good.all()
    assert data.errors is not None and np.all(data.errors > 0)


def test_raw_file_stored_as_uint16_and_its_cal_twin(tmp_path):
    raw = write_guider(tmp_path, raw_reads=8, seed=1)

    def as_uint16(hdul):
        hdul["SCI"].data = np.round(hdul["SCI"].data).astype(np.uint16)
    rewrite(raw, as_uint16)
    with fits.open(raw, do_not_scale_image_data=True) as hdul:
        assert hdul["SCI"].header["BZERO"] == 32768
    data = read_quietly(raw)
    assert np.isfinite(data.frames).all() and data.frames.mean() > 0
    cal = write_guider(tmp_path, seed=1)
    assert cal.name == raw.name.replace("_uncal", "_cal")
    with pytest.warns(FGSReadWarning, match="1 file"):
        both = read_fine_guide([raw, cal])
    assert both.products["level"].tolist() == ["cal"] and len(both) == 320
    assert "calibrated file" in both.problems[0].reason


def test_raw_file_without_tgroup_or_with_too_few_reads(tmp_path):
    few = write_guider(tmp_path / "few", raw_reads=4)
    with pytest.raises(ReadError, match="4 reads") as info:
        read_fine_guide(few, strict=True)
    assert "'_cal' file" in str(info.value)
    raw = write_guider(tmp_path / "notg", raw_reads=8)
    rewrite(raw, lambda hdul: hdul[0].header.remove("TGROUP"))
    with pytest.raises(ReadError, match="TGROUP"):
        read_fine_guide(raw, strict=True)


def test_other_guider_functions_mixed_into_a_folder(tmp_path):
    fine = write_guider(tmp_path / "fg")
    others = [
        write_guider(tmp_path / "track", exp_type="FGS_TRACK", function="track"),
        write_guider(tmp_path / "acq1", exp_type="FGS_ACQ1", function="acq1"),
        write_guider(tmp_path / "acq2", exp_type="FGS_ACQ2", function="acq2"),
    ]
    ident = write_guider(tmp_path / "id", exp_type="FGS_ID-IMAGE", function="fg")
    ident = ident.rename(ident.with_name("jw01534001001_gs-id_1_image_cal.fits"))
    raw = write_guider(tmp_path / "fg", raw_reads=8)  # the folder read takes _cal only
    data = read_quietly(tmp_path)
    assert list(data.products["file_name"]) == [fine.name] and not data.problems
    with pytest.warns(FGSReadWarning, match="5 file"):
        listed = read_fine_guide([fine, *others, ident, raw])
    assert len(listed) == 320 and list(listed.products["file_name"]) == [fine.name]
    reasons = {p.path: p.reason for p in listed.problems}
    assert "calibrated file" in reasons[str(raw)]
    for path, exp_type in zip([*others, ident], ["FGS_TRACK", "FGS_ACQ1", "FGS_ACQ2",
                                                 "FGS_ID-IMAGE"], strict=True):
        assert exp_type in reasons[str(path)] and "fine-guide" in reasons[str(path)]


def test_an_unreadable_table_costs_the_table_not_the_frames(tmp_path):
    path = write_guider(tmp_path)

    def break_times(hdul):
        hdul["FGS CENTROID PACKET"].data["centroid_time"] = "not a time"
    rewrite(path, break_times)
    data = read_quietly(path)  # unparsable times are NaN, not an error
    assert np.isnan(data.tables["centroids"]["time"]).all() and len(data) == 320

    def wrong_shape(hdul):  # a Pointing table whose time column is not a number or a time
        table = hdul["POINTING"]
        cols = [fits.Column(name="time", format="2D", array=np.zeros((len(table.data), 2)))]
        hdul[hdul.index_of("POINTING")] = fits.BinTableHDU.from_columns(
            cols, header=fits.Header([("EXTNAME", "POINTING")]))
    rewrite(path, wrong_shape)
    with pytest.warns(FGSReadWarning, match="0 file.*skipped, 1 read in part"):
        data = read_fine_guide(path)
    assert len(data) == 320 and "pointing" not in data.tables
    (problem,) = data.problems
    assert not problem.skipped and "POINTING" in problem.reason
    with pytest.raises(ReadError, match="POINTING"):
        read_fine_guide(path, strict=True)


def test_a_file_that_breaks_after_its_header_was_read_is_that_files_problem(
        tmp_path, monkeypatch):
    """A file truncated between the header pass and the pixel pass (say, a download that
    overwrites it meanwhile): its frames go, the others stay whole and consistent."""
    from fgs_widgets.archive import reader

    paths = [write_guider(tmp_path / str(i), start=DATA_START + 0.01 * i, seed=i,
                          observation=i + 1) for i in range(3)]
    alone = [read_quietly(p) for p in paths]
    real_header = reader._read_header

    def header_then_truncate(path):
        header = real_header(path)
        if path == paths[1]:
            path.write_bytes(path.read_bytes()[:40_000])
        return header

    monkeypatch.setattr(reader, "_read_header", header_then_truncate)
    with pytest.warns(FGSReadWarning, match="1 file"):
        data = read_fine_guide(paths)
    assert [p.path for p in data.problems] == [str(paths[1])]
    assert "download" in data.problems[0].reason
    assert list(data.products["file_name"]) == [paths[0].name, paths[2].name]
    assert list(data.products["first_frame"]) == [0, 320]
    np.testing.assert_array_equal(data.frames, np.concatenate([alone[0].frames, alone[2].frames]))
    np.testing.assert_array_equal(data.time, np.concatenate([alone[0].time, alone[2].time]))
    assert set(data.tables["centroids"]["file_index"]) == {0, 1}
    np.testing.assert_array_equal(np.flatnonzero(data.quality & Quality.FILE_START), [0, 320])
    with pytest.raises(ReadError, match=str(paths[1])):
        paths[1].unlink()
        write_guider(tmp_path / "1", start=DATA_START + 0.01, seed=1, observation=2)
        read_fine_guide(paths, strict=True)


def test_real_like_star_fits_recover_the_truth(tmp_path):
    from fgs_widgets.runtime import fit_gaussians

    data = read_quietly(write_guider(tmp_path, n=2000, seed=9))
    fit = fit_gaussians(data.frames, data.errors)
    assert (fit["status"] == "converged").mean() > 0.99
    for i, column in enumerate(("amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev")):
        assert fit[column].median() == pytest.approx(TRUE_PARAMS[i], rel=0.01), column


def test_validation_by_the_official_data_model(tmp_path):
    good = write_guider(tmp_path / "g")
    bad = write_guider(tmp_path / "b", start=DATA_START + 0.01)
    rewrite(bad, lambda hdul: hdul[0].header.set("GS_RA", "not a number"))
    assert len(read_fine_guide([good, bad])) == 640  # our reader does not need GS_RA
    with pytest.warns(FGSReadWarning, match="1 file"):
        data = read_fine_guide([good, bad], validate=True)
    assert list(data.products["file_name"]) == [good.name]
    (problem,) = data.problems
    assert problem.path == str(bad) and "GuiderCalModel" in problem.reason
    assert "GS_RA" in problem.reason or "gs_ra" in problem.reason
    raw = write_guider(tmp_path / "r", raw_reads=8, start=DATA_START + 0.02)
    assert read_quietly([good, raw], validate=True).products["level"].tolist() == ["cal", "uncal"]
