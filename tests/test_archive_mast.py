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
    import traceback

    from fgs_widgets.archive import get_mnemonic

    secret = "tok-9f8e7d6c5b4a"
    mast.behaviour.require_token = secret
    caplog.set_level(logging.DEBUG)
    data = open_program(1534, token=secret)
    assert len(data) == len(sample.truth.time)
    t0, t1 = data.time[0], data.time[-1]
    assert len(get_mnemonic("SA_ZHGAUPST", t0, t1, token=secret))
    products = find_products(1534, token=secret)
    messages = []
    mast.behaviour.require_token = "another"
    for call in (lambda: find_products(1534, token=secret),
                 lambda: open_program(1534, observation=1, token=secret),
                 lambda: download(products, tmp_path / "other", token=secret),
                 lambda: get_mnemonic("INIS_FWMTRCURR", t0, t1, token=secret, cache=False)):
        with pytest.raises(ArchiveError) as info:
            call()
        # the whole chain, as a notebook traceback would show it
        messages.append("".join(traceback.format_exception(info.value)) + repr(info.value))
    out, err = capsys.readouterr()
    text = caplog.text + out + err + "".join(messages)
    assert "HTTP 401" in text and secret not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    sent = [e[2].get("Authorization") for e in mast.behaviour.log]
    assert f"token {secret}" in sent  # it was used, just never shown or stored
    assert isinstance(data.products, pd.DataFrame)


# -- query details ---------------------------------------------------------------------------


def test_query_sends_astroquerys_columnsconfig_and_padded_filters(mast):
    from astroquery.mast.discovery_portal import PortalAPI

    # astroquery keeps column configs per service on the class: forget it to see the call
    PortalAPI._column_configs.pop("Mast.Jwst.Filtered.GuideStar", None)
    find_products(1534, observation=2, visit=1)
    assert mast.behaviour.column_configs == ["Mast.Jwst.Filtered.GuideStar"]
    request = mast.behaviour.invokes[0]
    assert request["service"] == "Mast.Jwst.Filtered.GuideStar" and request["format"] == "json"
    filters = {f["paramName"]: f["values"] for f in request["params"]["filters"]}
    assert "01534" in filters["program"] and "002" in filters["observtn"]
    assert filters["exp_type"] == ["FGS_FINEGUIDE"] and "001" in filters["visit"]
    assert [r["page"] for r in mast.behaviour.invokes] == [1]


def test_conf_change_redirects_astroquery_without_reimport(mast, sample):
    other = Behaviour()
    serve_sample(other, sample)
    other.rows = other.rows[:1]
    with LoopbackServer(other) as second, conf.set_temp("mast_server", second.url):
        assert len(find_products(1534)) == 1
    assert len(find_products(1534)) == 4  # back on the first server


def test_uncal_level_derived_when_the_service_lists_cal_only(mast):
    products = find_products(1534, calib_level=1)
    assert all(n.endswith("_uncal.fits") for n in products["file_name"])
    assert all(u.endswith("_uncal.fits") for u in products["uri"])
    assert products["size"].isna().all()  # the cal size says nothing about the uncal file


def test_guider_from_apername_and_int_columns(mast):
    for row in mast.behaviour.rows:
        row.pop("detector")
        row.pop("fileSetName")
        row["apername"] = "FGS2_FULL"
    products = find_products(1534)
    assert (products["guider"] == 2).all() and str(products["observation"].dtype) == "Int64"
    assert products["folder"].isna().all()
    mast.behaviour.rows[0]["apername"] = None  # guider unknown for this one: not a crash
    assert len(find_products(1534, guider=2)) == 3


def test_service_error_and_non_mast_answer(mast):
    mast.behaviour.rows[0]["fileName"] = None  # a row without a name is skipped, not a crash
    assert len(find_products(1534)) == 3
    mast.behaviour.answers["invoke"] = (200, "application/json",
                                      b"<html>MAST is down for maintenance</html>")
    with pytest.raises(ArchiveError, match="unexpected answer"):
        find_products(1534)
    mast.behaviour.answers["invoke"] = (200, "application/json",
                                      b'{"status": "ERROR", "msg": "Invalid filter observtn"}')
    with pytest.raises(ArchiveError, match="Invalid filter observtn"):
        find_products(1534)


def test_hanging_server_times_out_quickly(mast):
    import time

    mast.behaviour.delay = 3.0
    start = time.perf_counter()
    with conf.override(timeout=0.3, retries=0), pytest.raises(MastUnreachable, match="timed out"):
        find_products(1534)
    assert time.perf_counter() - start < 2.0  # the socket timeout, not astroquery's poll loop


# -- download edge cases ---------------------------------------------------------------------


def test_second_download_skips_complete_files(mast):
    products = find_products(1534, observation=1)
    first = download(products)
    assert sorted(first.downloaded) == sorted(products["file_name"])
    before = len(mast.behaviour.log)
    second = download(products)
    assert second.downloaded == [] and sorted(second.skipped) == sorted(products["file_name"])
    assert len(mast.behaviour.log) == before
    assert [p.parent.name for p in second.paths] == list(products["folder"])
    assert all(p.parent.parent.name == "JWST" for p in second.paths)


def test_wrong_size_on_disk_is_downloaded_again(mast, sample):
    products = find_products(1534, observation=2, visit=2)
    path = download(products).paths[0]
    path.write_bytes(b"corrupt")
    again = download(products)
    assert again.downloaded == [path.name] and path.read_bytes() == sample.paths[3].read_bytes()


def test_stale_part_longer_than_the_server_file_restarts(mast, sample):
    products = find_products(1534, observation=2, visit=2).assign(size=np.nan)  # size unknown
    folder = conf.cache_dir / "mastDownload" / "JWST" / products["folder"][0]
    folder.mkdir(parents=True)
    part = folder / (products["file_name"][0] + ".part")
    part.write_bytes(b"x" * (sample.paths[3].stat().st_size + 5))  # server answers 416
    result = download(products)
    assert result.paths[0].read_bytes() == sample.paths[3].read_bytes() and not part.exists()


def test_announced_length_too_long_is_not_kept(mast):
    products = find_products(1534, observation=2, visit=2)
    mast.behaviour.wrong_length = True
    with pytest.raises(PartialDownload):
        download(products)
    assert not list(conf.cache_dir.rglob("*_cal.fits"))


def test_download_401_and_500(mast):
    products = find_products(1534, observation=1)
    mast.behaviour.require_token = "right"
    with pytest.raises(AuthenticationError, match="HTTP 401") as info:
        download(products, token="wrong")
    assert products["file_name"][0] in str(info.value)
    assert len([e for e in mast.behaviour.log if "Download" in e[1]]) == 1  # not per file
    mast.behaviour.require_token, mast.behaviour.status = None, 500
    with pytest.raises(PartialDownload, match="HTTP 500") as info:
        download(products)
    assert set(info.value.failed) == set(products["file_name"]) and info.value.paths == []


def test_unreachable_download(mast):
    products = find_products(1534, observation=1)
    with conf.override(mast_server="http://127.0.0.1:9", retries=0), pytest.raises(
            MastUnreachable, match="download of"):
        download(products)


def test_cancel_before_start_and_between_files(mast):
    products = find_products(1534, observation=1)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelled) as info:
        download(products, cancel=cancel)
    assert info.value.paths == [] and not list(conf.cache_dir.rglob("*.fits*"))
    cancel.clear()

    def stop_after_first(done, total, files_done, files_total):
        if files_done == 1:
            cancel.set()

    with pytest.raises(DownloadCancelled) as info:
        download(products, progress=stop_after_first, cancel=cancel)
    assert [p.name for p in info.value.paths] == [products["file_name"][0]]
    assert info.value.paths[0].exists()


def test_symlinked_folder_cannot_redirect_writes(mast, tmp_path):
    products = find_products(1534, observation=2, visit=2)
    outside = tmp_path / "outside"
    outside.mkdir()
    jwst = conf.cache_dir / "mastDownload" / "JWST"
    jwst.mkdir(parents=True)
    (jwst / products["folder"][0]).symlink_to(outside)
    with pytest.raises(UnsafeFileName, match="outside"):
        download(products)
    assert list(outside.iterdir()) == []


# -- polling, slow pages, retries and the query's own deadline -------------------------------


def test_executing_answers_are_polled_again_until_complete(mast, sample):
    mast.behaviour.executing = 3  # MAST's long poll: "still working, ask again"
    products = find_products(1534)
    assert list(products["file_name"]) == [p.name for p in sample.paths]
    # the same page-1 request three more times, then page 2
    assert [r["page"] for r in mast.behaviour.invokes] == [1, 1, 1, 1, 2]


def test_slow_pages_all_arrive_under_the_query_deadline_not_the_socket_timeout(mast, sample):
    mast.behaviour.page_size = 1  # 4 pages
    mast.behaviour.invoke_delay = 0.3  # each page alone well within the socket timeout
    with conf.override(timeout=0.8, query_deadline=30):  # the whole query takes > 0.8 s
        products = find_products(1534)
    assert list(products["file_name"]) == [p.name for p in sample.paths]  # none dropped
    assert [r["page"] for r in mast.behaviour.invokes] == [1, 2, 3, 4]


def test_query_deadline_passed_names_the_setting(mast, monkeypatch):
    from fgs_widgets.archive.mast import QueryDeadlinePassed, _client
    from fgs_widgets.archive.tokens import Token

    monkeypatch.setenv("FGS_QUERY_DEADLINE", "123")
    assert conf.query_deadline == 123
    assert _client(Token(None))._portal_api_connection.TIMEOUT == 123
    mast.behaviour.page_size = 1
    mast.behaviour.invoke_delay = 0.3
    mast.behaviour.executing = 100
    with conf.override(query_deadline=0.5), pytest.raises(QueryDeadlinePassed) as info:
        find_products(1534)
    message = str(info.value)
    assert "took longer than 0.5 s" in message and "program 1534" in message
    assert "conf.query_deadline" in message and "FGS_QUERY_DEADLINE" in message
    assert "unreachable" not in message
    assert isinstance(info.value, MastUnreachable)  # callers' offline fallback still applies
    assert len(mast.behaviour.invokes) <= 3


def test_invoke_answered_500_once_is_retried(mast, sample):
    mast.behaviour.page_size = 50  # one page: the only invokes are the failed one and its retry
    mast.behaviour.invoke_statuses = [500]
    with conf.override(retries=2):
        products = find_products(1534)
    assert len(mast.behaviour.invokes) == 2  # astroquery's POST was really sent again
    assert list(products["file_name"]) == [p.name for p in sample.paths]


@pytest.mark.parametrize("retries", [0, 1])
def test_invoke_500_message_says_retried_only_when_it_was(mast, retries):
    mast.behaviour.page_size = 50
    mast.behaviour.invoke_statuses = [500] * 5
    with conf.override(retries=retries), pytest.raises(ArchiveError, match="HTTP 500") as info:
        find_products(1534)
    assert len(mast.behaviour.invokes) == retries + 1
    message = str(info.value)
    if retries:
        assert "already retried 1 time" in message
    else:
        assert "retried" not in message
