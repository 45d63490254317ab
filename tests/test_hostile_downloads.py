"""Downloads against misbehaving loopback servers: never keep a bad file, always end.

Each test asserts the error type, that the message names the file and what to do, and
what is (and is not) left on disk.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
from loopback import Behaviour, LoopbackServer, fits_bytes, leaked_in_traceback

from fgs_widgets.archive import conf, download
from fgs_widgets.archive.errors import (
    ArchiveError,
    AuthenticationError,
    DownloadCancelled,
    DownloadStalled,
    MastUnreachable,
    NotFitsFile,
    PartialDownload,
)

NAME = "jw01534001001_gs-fg_2022340000825_cal.fits"
URI = f"mast:JWST/product/{NAME}"
TOKEN = "hostile-token-5f3a9c"
HTML = (b"<!DOCTYPE html><html><head><title>MAST</title></head><body>"
        b"<h1>Service temporarily unavailable</h1></body></html>")


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    behaviour = Behaviour()
    behaviour.files[URI] = fits_bytes(120, seed=3)
    # a long socket timeout: what ends a slow or stalled download here must be our own rules
    with LoopbackServer(behaviour) as server, conf.override(
            mast_server=server.url, cache_dir=tmp_path / "cache", timeout=30, retries=0):
        yield server


def products(size: bool = False) -> pd.DataFrame:
    """One product; ``calib_level=1`` rows have no size, which is when checks matter most."""
    data_size = 120 * 2880
    return pd.DataFrame([{"file_name": NAME, "uri": URI,
                          "size": data_size if size else np.nan, "folder": None}])


def on_disk() -> list[str]:
    return sorted(p.name for p in conf.cache_dir.rglob("*") if p.is_file())


def test_html_error_page_with_200_is_never_kept(server):
    server.behaviour.answers["download"] = (200, "text/html; charset=utf-8", HTML)
    with pytest.raises(PartialDownload) as info:
        download(products())
    reason = info.value.failed[NAME]
    assert isinstance(info.value.errors[NAME], NotFitsFile) and NAME in reason
    assert "text/html" in reason and "try again later" in reason
    assert on_disk() == []  # neither the final name nor a .part
    del server.behaviour.answers["download"]
    before = len(server.behaviour.log)
    result = download(products())  # the next run asks again and gets the real file
    assert len(server.behaviour.log) == before + 1 and result.downloaded == [NAME]
    assert result.paths[0].read_bytes() == server.behaviour.files[URI]


def test_error_page_sent_as_octet_stream_is_caught_by_the_signature(server):
    server.behaviour.answers["download"] = (200, "application/octet-stream", HTML * 40)
    with pytest.raises(PartialDownload) as info:
        download(products())
    assert isinstance(info.value.errors[NAME], NotFitsFile)
    assert "not a FITS file" in info.value.failed[NAME]
    assert "SIMPLE" in info.value.failed[NAME] and on_disk() == []


def test_short_answer_is_not_a_fits_file(server):
    server.behaviour.answers["download"] = (200, "application/octet-stream", b"ERROR\n")
    with pytest.raises(PartialDownload) as info:
        download(products())
    assert "not a FITS file" in info.value.failed[NAME] and on_disk() == []


def test_fits_start_but_not_whole_records_is_not_kept(server):
    server.behaviour.files[URI] = fits_bytes(10)[:-100]
    with pytest.raises(PartialDownload) as info:
        download(products())
    assert "2880" in info.value.failed[NAME] and on_disk() == []


def test_bad_file_in_the_cache_is_fetched_again_not_trusted(server):
    target = conf.cache_dir / "mastDownload" / "JWST" / "jw01534001001" / NAME
    target.parent.mkdir(parents=True)
    target.write_bytes(HTML)  # what an older version kept from an HTML-200 answer
    result = download(products())
    assert result.downloaded == [NAME] and "not" in result.replaced[NAME]
    assert target.read_bytes() == server.behaviour.files[URI]
    assert on_disk() == [NAME]


def test_junk_part_is_restarted_not_resumed(server):
    part = conf.cache_dir / "mastDownload" / "JWST" / "jw01534001001" / (NAME + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 100_000)  # the right kind of length, the wrong content
    result = download(products(size=True))
    assert "Range" not in server.behaviour.log[-1][2]  # asked for the whole file
    assert result.paths[0].read_bytes() == server.behaviour.files[URI] and on_disk() == [NAME]


def test_trickling_server_is_given_up_and_resumed_later(server):
    server.behaviour.trickle = 400  # bytes/s, one byte at a time
    started = time.monotonic()
    with conf.override(min_download_rate=2000, rate_window=1.0), \
            pytest.raises(DownloadStalled) as info:
        download(products(size=True))
    assert time.monotonic() - started < 5  # not the month 2.7 MB takes at 1 byte/s
    message = str(info.value)
    assert NAME in message and "min_download_rate" in message and "resumes" in message
    assert on_disk() == [NAME + ".part"]  # kept for resuming, never the final name
    server.behaviour.trickle = None
    result = download(products(size=True))
    assert server.behaviour.log[-1][2]["Range"].startswith("bytes=")
    assert result.paths[0].read_bytes() == server.behaviour.files[URI] and on_disk() == [NAME]


def test_total_deadline_ends_a_download_that_keeps_moving(server):
    server.behaviour.trickle = 3000
    started = time.monotonic()
    with conf.override(download_deadline=1.0, min_download_rate=0), \
            pytest.raises(DownloadStalled, match="download_deadline"):
        download(products(size=True))
    assert time.monotonic() - started < 4
    assert on_disk() == [NAME + ".part"]


def test_stalled_server_is_given_up_by_the_rate_rule(server):
    server.behaviour.stall_after = 5000
    started = time.monotonic()
    with conf.override(min_download_rate=1000, rate_window=1.0), \
            pytest.raises(DownloadStalled, match=NAME):
        download(products(size=True))
    assert time.monotonic() - started < 4  # well before the 30 s socket timeout


def test_cancel_is_honoured_within_a_second_while_the_server_sends_nothing(server):
    server.behaviour.stall_after = 5000
    cancel = threading.Event()
    set_at: list[float] = []

    def later() -> None:
        time.sleep(0.5)
        set_at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=later).start()
    with pytest.raises(DownloadCancelled) as info:
        download(products(size=True), cancel=cancel)
    assert time.monotonic() - set_at[0] < 1.0
    assert NAME in str(info.value) and "resumes" in str(info.value)
    assert on_disk() == [NAME + ".part"]


def test_500_is_retried(server):
    server.behaviour.status, server.behaviour.status_count = 500, 1
    with conf.override(retries=2):
        result = download(products(size=True))
    assert result.downloaded == [NAME] and len(server.behaviour.log) == 2


def test_500_that_persists_says_so(server):
    server.behaviour.status = 500
    with conf.override(retries=1), pytest.raises(PartialDownload) as info:
        download(products(size=True))
    reason = info.value.failed[NAME]
    assert "HTTP 500" in reason and "retried" in reason and on_disk() == []


def test_404_says_the_file_is_missing_not_that_the_service_is_down(server):
    server.behaviour.files.clear()
    with pytest.raises(PartialDownload) as info:
        download(products(size=True))
    reason = info.value.failed[NAME]
    assert "404" in reason and "no such file" in reason and "may be down" not in reason
    assert on_disk() == []


def test_redirect_to_another_host_does_not_carry_the_token(server):
    other = Behaviour(files=dict(server.behaviour.files))
    with LoopbackServer(other) as elsewhere:
        server.behaviour.redirect = elsewhere.url.replace("127.0.0.1", "localhost")
        result = download(products(size=True), token=TOKEN)
    assert server.behaviour.log[0][2].get("Authorization") == f"token {TOKEN}"
    assert other.log and all("Authorization" not in headers for _, _, headers in other.log)
    assert result.paths[0].read_bytes() == server.behaviour.files[URI]


@pytest.mark.parametrize("fault", ["unreachable", "401", "500", "midstream"])
def test_no_traceback_frame_holds_the_token(server, fault):
    if fault == "unreachable":
        override = conf.override(mast_server="http://127.0.0.1:9")
    else:
        override = conf.override()
        server.behaviour.status = {"401": 401, "500": 500}.get(fault)
        server.behaviour.truncate_at = 10_000 if fault == "midstream" else None
    with override, pytest.raises(ArchiveError) as info:
        download(products(size=True), token=TOKEN)
    kinds = {"unreachable": MastUnreachable, "401": AuthenticationError,
             "500": PartialDownload, "midstream": PartialDownload}
    assert isinstance(info.value, kinds[fault])
    assert leaked_in_traceback(info.value, TOKEN) == []


def test_the_traceback_check_can_fail():
    def leaky(token: str) -> None:
        headers = {"Authorization": f"token {token}"}
        raise ArchiveError(f"failed with {len(headers)} header")

    with pytest.raises(ArchiveError) as info:
        leaky(TOKEN)
    # the helper does see a plain header held in a frame
    assert leaked_in_traceback(info.value, TOKEN, skip_tests=False)


# -- the whole request is bounded, headers included; messages say what is on disk ------------


def part_path():
    return conf.cache_dir / "mastDownload" / "JWST" / "jw01534001001" / (NAME + ".part")


def test_headers_dripped_a_byte_at_a_time_are_stopped_by_the_deadline(server):
    server.behaviour.header_drip = 0.5  # every read gets a byte well within the 30 s timeout
    started = time.monotonic()
    with conf.override(download_deadline=2.0, retries=2), \
            pytest.raises(DownloadStalled) as info:
        download(products(size=True))
    assert time.monotonic() - started < 2.0 + 1.0
    message = str(info.value)
    assert NAME in message and "download_deadline" in message and "headers" in message
    assert "nothing was kept and the next download starts over" in message
    assert ".part" not in message and on_disk() == []
    assert len(server.behaviour.log) == 1  # given up, not retried on a new connection


def test_headers_dripped_after_a_part_keep_the_part_and_say_so(server):
    data = server.behaviour.files[URI]
    part_path().parent.mkdir(parents=True)
    part_path().write_bytes(data[:50_000])  # an earlier call's good start
    server.behaviour.header_drip = 0.5
    with conf.override(download_deadline=1.0), pytest.raises(DownloadStalled) as info:
        download(products(size=True))
    assert f"{NAME}.part (50,000 bytes) is kept and the next download resumes it" in str(
        info.value)
    assert on_disk() == [NAME + ".part"]
    server.behaviour.header_drip = None
    result = download(products(size=True))
    assert server.behaviour.log[-1][2]["Range"] == "bytes=50000-"
    assert result.paths[0].read_bytes() == data and on_disk() == [NAME]


def test_headers_dripped_are_stalled_by_the_rate_rule_without_a_deadline(server):
    server.behaviour.header_drip = 0.3
    started = time.monotonic()
    with conf.override(timeout=1.0, rate_window=1.0, min_download_rate=1000,
                       download_deadline=0), pytest.raises(DownloadStalled) as info:
        download(products(size=True))
    assert time.monotonic() - started < 3.0
    message = str(info.value)
    assert "had not all arrived after 1 s" in message and "conf.rate_window" in message
    assert "nothing was kept" in message and on_disk() == []


def test_cancel_is_seen_while_the_headers_drip(server):
    server.behaviour.header_drip = 0.5
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(DownloadCancelled) as info:
        download(products(size=True), cancel=cancel)
    assert time.monotonic() - started < 1.5
    assert "nothing was kept" in str(info.value) and on_disk() == []


def test_stall_before_any_byte_says_nothing_was_kept(server):
    server.behaviour.stall_after = 0  # headers, then silence
    with conf.override(min_download_rate=1000, rate_window=1.0), \
            pytest.raises(DownloadStalled) as info:
        download(products(size=True))
    message = str(info.value)
    assert "min_download_rate" in message and ".part" not in message
    assert "nothing was kept and the next download starts over" in message
    assert on_disk() == []


def test_stall_after_some_bytes_says_the_part_is_kept(server):
    server.behaviour.stall_after = 5000
    with conf.override(min_download_rate=1000, rate_window=1.0), \
            pytest.raises(DownloadStalled) as info:
        download(products(size=True))
    assert f"{NAME}.part (5,000 bytes) is kept and the next download resumes it" in str(
        info.value)
    assert on_disk() == [NAME + ".part"]


def test_cancel_before_any_byte_says_nothing_was_kept(server):
    server.behaviour.stall_after = 0
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(DownloadCancelled) as info:
        download(products(size=True), cancel=cancel)
    assert "nothing was kept" in str(info.value) and on_disk() == []


def test_error_page_after_a_part_says_the_part_is_kept(server):
    part_path().parent.mkdir(parents=True)
    part_path().write_bytes(server.behaviour.files[URI][:3000])
    server.behaviour.answers["download"] = (200, "text/html", HTML)
    with pytest.raises(PartialDownload) as info:
        download(products(size=True))
    reason = info.value.failed[NAME]
    assert "text/html" in reason and "it was not written" in reason
    assert f"{NAME}.part (3,000 bytes) is kept" in reason
    assert on_disk() == [NAME + ".part"]


def test_500_without_retries_does_not_claim_a_retry(server):
    server.behaviour.status = 500
    with pytest.raises(PartialDownload) as info:  # the fixture sets retries=0
        download(products(size=True))
    reason = info.value.failed[NAME]
    assert "HTTP 500" in reason and "retried" not in reason
    assert len(server.behaviour.log) == 1
