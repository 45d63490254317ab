"""MAST query and download through real HTTP against a loopback MAST."""

from __future__ import annotations

import itertools
import logging
import threading

import numpy as np
import pandas as pd
import pytest
from loopback import Behaviour, LoopbackServer, serve_sample

from fgs_widgets.archive import conf, download, find_products, open_program, read_fine_guide
from fgs_widgets.archive.errors import (
    ArchiveError,
    AuthenticationError,
    DownloadCancelled,
    MastUnreachable,
    NoFineGuideData,
    PartialDownload,
    UnsafeFileName,
)


@pytest.fixture
def mast(sample, tmp_path, monkeypatch):
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    behaviour = Behaviour()
    serve_sample(behaviour, sample)
    with LoopbackServer(behaviour) as server, conf.override(
            mast_server=server.url, cache_dir=tmp_path / "cache", timeout=5,
            gsc_url=server.url + "/CatalogSearch.aspx"):
        yield server


def test_query_follows_paging_and_parses_names(mast, sample):
    products = find_products(1534)
    assert list(products["file_name"]) == [p.name for p in sample.paths]
    invokes = [entry for entry in mast.behaviour.log if entry[1].endswith("/api/v0/invoke")]
    assert len(invokes) == 2  # 4 rows at 2 per page
    assert list(products["observation"]) == [1, 1, 2, 2]
    assert list(products["guider"]) == [1, 1, 2, 2]
    assert products["segment"].tolist()[:2] == [1, 2]
    assert (products["size"] > 1_000_000).all()


def test_query_filters_and_no_data_message(mast):
    assert list(find_products(1534, observation=2, visit=2)["visit"]) == [2]
    assert list(find_products("01534", guider=1)["observation"]) == [1, 1]
    with pytest.raises(NoFineGuideData, match="program=9999"):
        find_products(9999)
    with pytest.raises(ValueError, match="visit needs observation"):
        find_products(1534, visit=1)


def test_open_program_equals_reading_the_files_and_caches(mast, sample, sample_data):
    data = open_program(1534)
    np.testing.assert_array_equal(data.frames, sample_data.frames)
    np.testing.assert_array_equal(data.time, sample_data.time)
    np.testing.assert_array_equal(data.quality, sample_data.quality)
    assert list(data.products["visit_group"]) == list(sample_data.products["visit_group"])
    downloads = [e for e in mast.behaviour.log if "Download" in e[1]]
    assert len(downloads) == 4
    open_program(1534)
    assert len([e for e in mast.behaviour.log if "Download" in e[1]]) == 4  # nothing again


def test_progress_reports_bytes_and_files(mast):
    products = find_products(1534, observation=2)
    calls = []
    result = download(products, progress=lambda *a: calls.append(a))
    assert len(result) == 2 and result.downloaded == [p.name for p in result.paths]
    total = int(products["size"].sum())
    assert calls[-1] == (total, total, 2, 2)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(calls))


def test_interrupted_download_resumes(mast, tmp_path):
    products = find_products(1534, observation=2, visit=2)
    mast.behaviour.truncate_at = 500_000
    with pytest.raises(PartialDownload) as info:
        download(products)
    part = next((tmp_path / "cache").rglob("*.part"))
    assert 0 < part.stat().st_size <= 500_000
    assert not list((tmp_path / "cache").rglob("*_cal.fits"))  # never under the final name
    assert "resume" in str(info.value)
    have = part.stat().st_size
    mast.behaviour.truncate_at = None
    result = download(products)
    assert mast.behaviour.log[-1][2].get("Range") == f"bytes={have}-"
    assert not part.exists()
    data = read_fine_guide(result.paths)
    assert len(data) == 2048


def test_server_that_ignores_range_restarts_cleanly(mast, sample):
    products = find_products(1534, observation=2, visit=2)
    mast.behaviour.truncate_at = 300_000
    with pytest.raises(PartialDownload):
        download(products)
    mast.behaviour.truncate_at, mast.behaviour.ignore_range = None, True
    result = download(products)
    assert result.paths[0].read_bytes() == sample.paths[3].read_bytes()


def test_size_mismatch_is_not_kept(mast):
    products = find_products(1534, observation=2, visit=2)
    products.loc[:, "size"] = products["size"] + 10
    with pytest.raises(PartialDownload, match="announces"):
        download(products)
    assert not list(conf.cache_dir.rglob("*_cal.fits"))


def test_partial_failure_keeps_good_files(mast):
    products = find_products(1534, observation=1)
    broken = products.copy()
    broken.loc[1, "uri"] = "mast:JWST/product/missing.fits"
    with pytest.raises(PartialDownload) as info:
        download(broken)
    assert [p.name for p in info.value.paths] == [products["file_name"][0]]
    assert list(info.value.failed) == [products["file_name"][1]]
    assert info.value.paths[0].exists()


@pytest.mark.parametrize("name", ["../evil_cal.fits", "/etc/evil_cal.fits", "sub/evil_cal.fits",
                                  "..", "a\\b_cal.fits"])
def test_malicious_names_never_escape_the_cache(mast, tmp_path, name):
    products = find_products(1534, observation=2, visit=2)
    products.loc[:, "file_name"] = name
    with pytest.raises(UnsafeFileName, match="refusing"):
        download(products)
    folder = products.copy()
    folder.loc[:, "folder"] = "../../outside"
    with pytest.raises(UnsafeFileName):
        download(folder)
    assert not [p for p in tmp_path.rglob("*") if "evil" in p.name or "outside" in str(p)]


def test_malicious_names_from_the_server_itself(mast, tmp_path):
    mast.behaviour.rows[3]["fileSetName"] = "../../../tmp_escape"
    products = find_products(1534, observation=2, visit=2)
    with pytest.raises(UnsafeFileName):
        download(products)
    assert not (tmp_path / "tmp_escape").exists()


def test_401_and_token(mast, sample):
    mast.behaviour.require_token = "s3cret-token-value"
    with pytest.raises(AuthenticationError, match="token") as info:
        find_products(1534)
    assert "1534" in str(info.value)
    assert len(find_products(1534, token="s3cret-token-value")) == 4


def test_500_and_unreachable(mast):
    mast.behaviour.status = 500
    with pytest.raises(ArchiveError, match="500"):
        find_products(1534)
    with conf.override(mast_server="http://127.0.0.1:9"), pytest.raises(
            MastUnreachable, match="read_fine_guide"):
        find_products(1534)


def test_timeout_is_unreachable(mast):
    mast.behaviour.delay = 1.5
    with conf.override(timeout=0.3), pytest.raises(MastUnreachable, match="timed out"):
        find_products(1534)


def test_slow_download_can_be_cancelled(mast):
    products = find_products(1534, observation=2, visit=2)
    mast.behaviour.block_delay = 0.05
    cancel = threading.Event()

    def progress(done, total, files_done, files_total):
        if done > 200_000:
            cancel.set()

    with pytest.raises(DownloadCancelled, match="resume"):
        download(products, progress=progress, cancel=cancel)
    assert not list(conf.cache_dir.rglob("*_cal.fits"))


def test_token_never_leaks(mast, sample, tmp_path, caplog, capsys):
    secret = "tok-9f8e7d6c5b4a"
    mast.behaviour.require_token = secret
    caplog.set_level(logging.DEBUG)
    data = open_program(1534, token=secret)
    assert len(data) == len(sample.truth.time)
    messages = []
    mast.behaviour.require_token = "another"
    for call in (lambda: find_products(1534, token=secret),
                 lambda: open_program(1534, observation=1, token=secret)):
        with pytest.raises(ArchiveError) as info:
            call()
        messages.append(str(info.value) + repr(info.value))
    out, err = capsys.readouterr()
    text = caplog.text + out + err + "".join(messages)
    assert secret not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    sent = [e[2].get("Authorization") for e in mast.behaviour.log]
    assert f"token {secret}" in sent  # it was used, just never shown or stored
    assert isinstance(data.products, pd.DataFrame)
