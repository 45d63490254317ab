"""The bundled sample program: deterministic, reused, complete layout, atomic."""

from __future__ import annotations

import hashlib
import warnings
from datetime import UTC

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time

from fgs_widgets.archive import sample as sample_module
from fgs_widgets.archive.config import conf
from fgs_widgets.archive.names import parse_file_name, parse_folder_name
from fgs_widgets.archive.sample import SAMPLE_VERSION, sample_program, write_sample_program

EXTENSIONS = {
    "PRIMARY",
    "SCI",
    "ERR",
    "DQ",
    "POINTING",
    "FGS CENTROID PACKET",
    "ASDF",
}
KEYWORDS = (
    "EXP_TYPE",
    "INSTRUME",
    "DETECTOR",
    "PROGRAM",
    "OBSERVTN",
    "VISIT",
    "GDSTARID",
    "GS_RA",
    "GS_DEC",
    "GS_URA",
    "GS_UDEC",
    "GS_MAG",
    "GS_UMAG",
    "GS_ORDER",
    "GSSTRTTM",
    "GSENDTIM",
    "DATASTRT",
    "DATAEND",
    "GF_START",
    "GF_END",
    "GS_EPOCH",
    "GS_MURA",
    "GS_MUDEC",
    "GS_PARA",
)


def test_real_layout(sample):
    for path in sample.paths:
        assert parse_file_name(path.name) is not None, path.name
        assert parse_folder_name(path.parent.name) is not None, path.parent.name
        assert path.parent.parent.name == "JWST" and path.parents[1].parent.name == "mastDownload"
        with fits.open(path) as hdul:
            assert {h.name for h in hdul} == EXTENSIONS
            header = hdul[0].header
            assert all(k in header for k in KEYWORDS)
            assert header["EXP_TYPE"] == "FGS_FINEGUIDE"
            assert hdul["SCI"].data.dtype == np.dtype(">f4") and hdul["SCI"].shape[1:] == (8, 8)
            assert hdul["DQ"].data.dtype == np.uint32


def test_the_official_data_model_opens_and_validates_every_file(sample):
    from stdatamodels.jwst import datamodels
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a validation warning fails the test
        for path in sample.paths:
            with datamodels.GuiderCalModel(path) as model:
                model.validate()
                assert model.meta.exposure.type == "FGS_FINEGUIDE"
                assert model.data.shape[1:] == (8, 8) and model.dq.dtype == np.uint32
                assert model.meta.guidestar.data_start < model.meta.guidestar.data_end


def test_real_like_guide_stars(sample):
    """The fact sheet's numbers for real guide stars (PIDs 2079, 1541)."""
    params = sample.truth.params
    assert np.all((params[:, 3:5] >= 0.64) & (params[:, 3:5] <= 0.73))
    assert np.all((params[:, 0] >= 2e5) & (params[:, 0] <= 3e5))
    assert np.all((params[:, 6] >= 2500) & (params[:, 6] <= 3400))
    assert np.median(params[:, 1]) == pytest.approx(2.8, abs=0.2)
    assert np.median(params[:, 2]) == pytest.approx(2.8, abs=0.2)
    for path in sample.paths:  # the name's stamp is the end of the data
        stamp = parse_file_name(path.name).end
        with fits.open(path) as hdul:
            end = Time(hdul[0].header["DATAEND"], format="mjd").to_datetime(timezone=UTC)
        assert abs((stamp - end).total_seconds()) < 1.0


def test_deterministic(tmp_path):
    a = write_sample_program(tmp_path / "a")
    b = write_sample_program(tmp_path / "b")
    for pa, pb in zip(a.paths, b.paths, strict=True):
        with fits.open(pa) as ha, fits.open(pb) as hb:
            np.testing.assert_array_equal(ha["SCI"].data, hb["SCI"].data)


def _digest_after_primary(path):
    """Hash of every HDU but the primary and ASDF ones, which hold the save time (DATE)."""
    digest = hashlib.sha256()
    with fits.open(path) as hdul:
        for hdu in hdul[1:]:
            if hdu.name != "ASDF":
                digest.update(hdu.header.tostring().encode())
                if hdu.data is not None:
                    digest.update(np.ascontiguousarray(hdu.data).tobytes())
    return digest.hexdigest()


def test_reused_and_rebuilt_when_damaged(tmp_path):
    first = sample_program(tmp_path / "s")
    digest = _digest_after_primary(first.paths[0])
    mtime = first.paths[0].stat().st_mtime_ns
    again = sample_program(tmp_path / "s")
    assert again.paths[0].stat().st_mtime_ns == mtime  # not rewritten
    first.paths[1].write_bytes(b"broken")
    rebuilt = sample_program(tmp_path / "s")
    assert rebuilt.paths[1].stat().st_size > 1_000_000
    assert _digest_after_primary(rebuilt.paths[0]) == digest
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no staging or old folder left


def test_default_folder_is_in_the_configured_cache(tmp_path):
    with conf.override(cache_dir=str(tmp_path / "cache")):
        expected = tmp_path / "cache" / f"sample-v{SAMPLE_VERSION}"
        assert sample_module._default_directory() == expected


def test_a_sample_finished_meanwhile_by_another_process_is_kept(tmp_path, monkeypatch):
    target = tmp_path / "s"
    real_writer = sample_module.write_sample_program
    theirs = {}

    def racing_writer(directory, *args, **kwargs):
        written = real_writer(directory, *args, **kwargs)
        monkeypatch.setattr(sample_module, "write_sample_program", real_writer)
        theirs["program"] = sample_program(target)  # the other process completes first
        theirs["mtimes"] = [p.stat().st_mtime_ns for p in theirs["program"].paths]
        return written

    monkeypatch.setattr(sample_module, "write_sample_program", racing_writer)
    ours = sample_program(target)
    assert ours.paths == theirs["program"].paths
    assert [p.stat().st_mtime_ns for p in ours.paths] == theirs["mtimes"]  # not replaced
    assert all(p.stat().st_size > 1_000_000 for p in ours.paths)
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # our staging folder is gone


def test_truth_and_telemetry_consistent(sample):
    truth = sample.truth
    hga = sample.telemetry["SA_ZHGAUPST"]
    moving = hga.index[hga["value"] == "MOVING"]
    assert len(moving) == len(truth.hga_moves) == 2
    for (start, stop), i in zip(truth.hga_moves, moving, strict=True):
        assert hga["time"][i] == start and hga["value"][i + 1] == "FINISHED"
        assert hga["time"][i + 1] == stop
    fw = sample.telemetry["INIS_FWMTRCURR"]
    assert fw["value"].dtype == np.float64 and fw["value"].max() > 0.3
    assert truth.params.shape == (len(truth.time), 7)
    assert len(truth.jumps) == 3 and len(truth.gs_changes) == 1
