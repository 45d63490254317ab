"""Engineering telemetry and Guide Star Catalog clients against loopback services."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loopback import EDB_TOKEN, Behaviour, LoopbackServer

from fgs_widgets.archive import conf, get_mnemonic, guide_star_properties
from fgs_widgets.archive.errors import AuthenticationError, MastUnreachable, TelemetryError
from fgs_widgets.engine.events import hga_moves

TOKEN = EDB_TOKEN
#: a real MAST engineering-DB answer (CRLF, header theTime,MJD,euvalue,sqldataType)
REAL_ANSWER = (Path(__file__).resolve().parents[2] / "shared" / "data" / "real_answers"
               / "edb_mast_SA_ZATTEST2-20220202T222458-20220202T222459.csv")


def span(sample):
    return sample.truth.time[0] - 0.001, sample.truth.time[-1] + 0.001


def test_text_mnemonic_gives_the_sample_hga_moves(services, sample):
    table = get_mnemonic("SA_ZHGAUPST", *span(sample), token=TOKEN)
    assert set(table["value"]) == {"MOVING", "FINISHED"}
    moves = hga_moves(table)
    assert len(moves) == 2
    for row, (start, stop) in zip(moves.itertuples(), sample.truth.hga_moves, strict=True):
        assert abs(row.time - start) * 86400 < 1e-3 and abs(row.end - stop) * 86400 < 1e-3


def test_numeric_mnemonic_is_float(services, sample):
    table = get_mnemonic("inis_fwmtrcurr", *span(sample), token=TOKEN)
    assert table["value"].dtype == np.float64 and table["mnemonic"].iloc[0] == "INIS_FWMTRCURR"
    assert np.all(np.diff(table["time"]) > 0)
    assert str(table["utc"].dtype).startswith("datetime64")


def test_long_range_is_split_and_cached(services, sample, monkeypatch):
    t0, t1 = span(sample)
    table = get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN, chunk_days=0.005)
    requests = [e for e in services.behaviour.log if "jwstedb" in e[1]]
    assert len(requests) == int(np.ceil((t1 - t0) / 0.005))
    whole = get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN, cache=False)
    np.testing.assert_allclose(table["value"], whole["value"])
    again = get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN, chunk_days=0.005)
    assert len([e for e in services.behaviour.log if "jwstedb" in e[1]]) == len(requests) + 1
    assert len(again) == len(table)
    for path in conf.cache_dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes()


def test_empty_range_and_unknown_mnemonic(services, sample):
    table = get_mnemonic("NO_SUCH_MNEMONIC", *span(sample), token=TOKEN)
    assert table.empty and "unknown mnemonic or empty range" in table.attrs["note"]


def test_errors(services, sample, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TelemetryError, match="MAST_API_TOKEN") as info:
        get_mnemonic("SA_ZHGAUPST", *span(sample))
    assert "Local events" in str(info.value)
    with pytest.raises(AuthenticationError, match="refused") as info:
        get_mnemonic("SA_ZHGAUPST", *span(sample), token="wrong-token-987")
    assert "wrong-token-987" not in str(info.value) + caplog.text
    with pytest.raises(TelemetryError, match="after start"):
        get_mnemonic("SA_ZHGAUPST", 60001, 60000, token=TOKEN)
    with pytest.raises(TelemetryError, match="not a mnemonic"):
        get_mnemonic("../etc", 60000, 60001, token=TOKEN)
    with conf.override(eng_server="http://127.0.0.1:9"), pytest.raises(MastUnreachable):
        get_mnemonic("SA_ZHGAUPST", *span(sample), token=TOKEN)


def test_catalog_properties_normalized_and_cached(services, sample_data):
    services.behaviour.require_token = None
    table = guide_star_properties(["N13I000018", "N13I000422"], fallback=sample_data.products)
    assert list(table["gs_id"]) == ["N13I000018", "N13I000422"]
    assert {"ra", "dec", "gaia_dr3_source_id", "jmag", "hmag"} <= set(table.columns)
    assert (table["source"] == "gsc").all()
    before = len(services.behaviour.log)
    guide_star_properties(["N13I000018"])
    assert len(services.behaviour.log) == before  # from the cache


def test_catalog_unreachable_falls_back_to_headers(sample_data, tmp_path):
    with conf.override(gsc_url="http://127.0.0.1:9/x", cache_dir=tmp_path, timeout=2), \
            pytest.warns(UserWarning, match="headers"):
        table = guide_star_properties(["N13I000018"], fallback=sample_data.products)
    row = table.iloc[0]
    assert row["source"] == "header" and "unreachable" in row["note"]
    assert row["ra"] == pytest.approx(sample_data.products["gs_ra"][0])


def test_service_error_and_unreachable_messages(services, sample):
    services.behaviour.status = 500
    with pytest.raises(TelemetryError, match="HTTP 500") as info:
        get_mnemonic("SA_ZHGAUPST", *span(sample), token=TOKEN)
    assert "local events" in str(info.value)
    services.behaviour.status = 403
    with pytest.raises(AuthenticationError, match="403"):
        get_mnemonic("SA_ZHGAUPST", *span(sample), token=TOKEN)
    with conf.override(eng_server="http://127.0.0.1:9", eng_retries=0), pytest.raises(
            MastUnreachable, match="local events") as info:
        get_mnemonic("SA_ZHGAUPST", *span(sample), token=TOKEN)
    assert "127.0.0.1:9" in str(info.value) and TOKEN not in str(info.value)


def test_request_format_and_token_header(services, sample):
    t0, t1 = span(sample)
    get_mnemonic("SA_ZHGAUPST", t0, t1, token=TOKEN)
    method, path, headers = next(e for e in services.behaviour.log if "jwstedb" in e[1])
    assert method == "GET" and "/api/v0.1/Download/file?uri=mast%3Ajwstedb%2FSA_ZHGAUPST-" in path
    assert path.endswith(".csv") and headers["Authorization"] == f"token {TOKEN}"


def test_timezone_suffix_and_iso_start_end(services, sample):
    services.behaviour.telemetry_z = True
    t0, t1 = span(sample)
    from astropy.time import Time

    table = get_mnemonic("INIS_FWMTRCURR", Time(t0, format="mjd").isot,
                         Time(t1, format="mjd").datetime, token=TOKEN)
    assert table["utc"].dt.tz is None and len(table) > 100
    seconds = (table["utc"] - pd.Timestamp("1858-11-17")).dt.total_seconds() / 86400
    np.testing.assert_allclose(seconds, table["time"], atol=1e-6)


def test_recent_chunks_are_not_cached(services, monkeypatch):
    from astropy.time import Time

    now = Time.now().mjd
    get_mnemonic("INIS_FWMTRCURR", now - 0.01, now, token=TOKEN)
    assert not list(conf.cache_dir.rglob("*.csv"))


def test_catalog_not_found_bad_ids_and_one_attempt_when_down(services, sample_data, tmp_path):
    services.behaviour.require_token = None
    with pytest.warns(UserWarning, match="not found"):
        table = guide_star_properties(["N13I000018", "UNKNOWN1", None, float("nan"), "../x"],
                                      fallback=sample_data.products)
    assert list(table["gs_id"]) == ["N13I000018", "UNKNOWN1", "../x"]
    assert list(table["source"]) == ["gsc", "header", "header"]
    assert "not found" in table["note"][1]
    assert not list(tmp_path.rglob("x.csv"))
    down = Behaviour()
    with LoopbackServer(down) as server:
        url = server.url
    with conf.override(gsc_url=url + "/CatalogSearch.aspx", cache_dir=tmp_path / "c2",
                       retries=0), pytest.warns(UserWarning):
        table = guide_star_properties(["A1", "B2", "C3"], fallback=sample_data.products)
    assert (table["source"] == "header").all() and "unreachable" in table["note"][2]


def test_catalog_header_without_title_and_odd_spellings(services):
    services.behaviour.require_token = None
    services.behaviour.catalog["X1"] = ("hstID, RA (deg) ,DEC(deg),Gaia-DR3 source_id\n"
                                        "X1,10.5,-20.25,123\n")
    table = guide_star_properties("X1")
    assert {"ra_deg", "dec_deg", "gaia_dr3_source_id"} <= set(table.columns)
    assert table["ra_deg"][0] == 10.5


def test_bracketing_samples_trimmed_unless_asked(services, sample):
    table = sample.telemetry["INIS_FWMTRCURR"]
    t0, t1 = table["time"].iloc[100] + 1e-7, table["time"].iloc[200] - 1e-7
    inside = get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN, cache=False)
    np.testing.assert_allclose(inside["time"], table["time"].iloc[101:200], rtol=0, atol=1e-9)
    wide = get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN, cache=False, bracket=True)
    np.testing.assert_allclose(wide["time"], table["time"].iloc[100:201], rtol=0, atol=1e-9)


def test_header_spellings_and_the_recorded_service_answer(services, sample):
    from fgs_widgets.archive.engdb import _parse

    # as recorded in jwst.lib.engdb_mast's tests
    recorded = ("theTime,MJD,euvalue,sqldataType\r\n"
                "2021-05-21 23:59:59.816000,59355.9999978704,0.4641213417,real\r\n"
                "2021-05-22 00:00:00.072000,59356.0000008333,0.4641213417,real\r\n")
    table = _parse(recorded, "SA_ZATTEST2")
    assert table["value"].dtype == np.float64 and table["utc"][1] == pd.Timestamp(
        "2021-05-22 00:00:00.072")
    services.behaviour.telemetry_type_column = "sqltype"
    assert get_mnemonic("SA_ZHGAUPST", *span(sample), token=TOKEN)["value"].dtype == object
    with pytest.raises(TelemetryError, match="lacks column"):
        _parse("when,value\r\n1,2\r\n", "X")


# -- the pipeline client's policy: real answer, retries, 404, refusals, settings ----------


def edb_requests(server) -> int:
    return len([e for e in server.behaviour.log if "jwstedb" in e[1]])


def test_real_answer_served_verbatim_is_parsed(services):
    if not REAL_ANSWER.is_file():
        pytest.skip(f"the real EDB answer {REAL_ANSWER} is not here (../shared missing)")
    body = REAL_ANSWER.read_bytes()
    assert body.startswith(b"theTime,MJD,euvalue,sqldataType\r\n")
    services.behaviour.answers["telemetry"] = (200, "text/csv", body)
    table = get_mnemonic("SA_ZATTEST2", "2022-02-02T22:24:58", "2022-02-02T22:24:59",
                         token=TOKEN, bracket=True)
    # the file the service was asked for is the one this answer came from
    (entry,) = [e for e in services.behaviour.log if "jwstedb" in e[1]]
    assert entry[1].endswith("SA_ZATTEST2-20220202T222458-20220202T222459.csv")
    assert table["value"].dtype == np.float64 and list(table["mnemonic"]) == ["SA_ZATTEST2"] * 6
    np.testing.assert_allclose(table["time"], [59612.9340022801, 59612.9340052431,
                                               59612.9340082060, 59612.9340111690,
                                               59612.9340141319, 59612.9340170949], rtol=0,
                               atol=1e-10)
    np.testing.assert_allclose(table["value"], [-0.7914493680, -0.7914494276, -0.7914494276,
                                                -0.7914494276, -0.7914493680, -0.7914493680],
                               rtol=0, atol=1e-12)
    assert table["utc"].iloc[0] == pd.Timestamp("2022-02-02 22:24:57.797")
    inside = get_mnemonic("SA_ZATTEST2", "2022-02-02T22:24:58", "2022-02-02T22:24:59",
                          token=TOKEN)  # from the cache: the same bytes, brackets cut
    assert len(inside) == 4 and edb_requests(services) == 1


@pytest.mark.parametrize("status", [503, 400])
def test_passing_error_is_retried_and_reported(services, sample, status):
    services.behaviour.status, services.behaviour.status_count = status, 2
    said: list[str] = []
    with conf.override(eng_backoff=0.01):
        table = get_mnemonic("INIS_FWMTRCURR", *span(sample), token=TOKEN, cache=False,
                             progress=said.append)
    assert len(table) and edb_requests(services) == 3  # two refusals, then the answer
    assert said == [f"engineering DB: HTTP {status} for INIS_FWMTRCURR, retry 1 of 10 in 0 s",
                    f"engineering DB: HTTP {status} for INIS_FWMTRCURR, retry 2 of 10 in 0.02 s"]


def test_404_is_an_error_naming_mnemonic_and_url_asked_once(services, sample):
    services.behaviour.status = 404
    with pytest.raises(TelemetryError, match="HTTP 404") as info:
        get_mnemonic("SA_ZHGAUPST", *span(sample), token=TOKEN)
    message = str(info.value)
    assert edb_requests(services) == 1  # final: not retried
    assert "SA_ZHGAUPST" in message and "ENG_BASE_URL" in message and "mnemonic" in message
    assert f"{services.url}/api/v0.1/Download/file?uri=mast:jwstedb/SA_ZHGAUPST-" in message
    assert TOKEN not in message


def test_persistent_refusal_says_the_token_is_wrong(services, sample, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError, match="token is wrong") as info:
        get_mnemonic("SA_ZHGAUPST", *span(sample), token="wrong-token-555")
    message = str(info.value)
    assert edb_requests(services) == 11  # asked, then retried 10 times as the pipeline does
    assert "HTTP 401, still after 10 retries" in message and "expired" in message
    assert "engineering-DB rights" in message and "auth.mast.stsci.edu/token" in message
    assert "wrong-token-555" not in message + caplog.text
    assert "retry 10 of 10" in caplog.text  # the retries are logged too


def test_eng_retries_and_timeout_from_the_environment(services, sample, monkeypatch):
    monkeypatch.setenv("ENG_RETRIES", "1")
    services.behaviour.status = 503
    with pytest.raises(TelemetryError, match="HTTP 503"):
        get_mnemonic("SA_ZHGAUPST", *span(sample), token=TOKEN)
    assert edb_requests(services) == 2
    services.behaviour.status = None
    monkeypatch.setenv("ENG_RETRIES", "0")
    monkeypatch.setenv("ENG_TIMEOUT", "0.3")
    services.behaviour.delay = 1.0
    began = time.monotonic()
    # the message says the real wait, also when urllib3 wraps the last timeout in a
    # ConnectionError
    with pytest.raises(MastUnreachable, match=r"SA_ZHGAUPST unreachable.*timed out after 0.3 s"):
        get_mnemonic("SA_ZHGAUPST", *span(sample), token=TOKEN)
    assert time.monotonic() - began < 0.9  # ENG_TIMEOUT, not conf.timeout (5 s here)
    assert edb_requests(services) == 3


def test_a_server_that_cannot_be_reached_is_retried_only_conf_retries_times(
        sample, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nobody listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    said: list[str] = []
    with conf.override(eng_server=f"http://127.0.0.1:{port}", retries=1, eng_retries=10):
        with pytest.raises(MastUnreachable, match="SA_ZHGAUPST unreachable"):
            get_mnemonic("SA_ZHGAUPST", *span(sample), token=TOKEN, progress=said.append,
                         cache=False)
    assert said == ["engineering DB: NewConnectionError for SA_ZHGAUPST, retry 1 of 1 in 0 s"]


def test_eng_settings_default_to_the_pipeline_policy(monkeypatch):
    for name in ("ENG_TIMEOUT", "ENG_RETRIES", "FGS_ENG_BACKOFF"):
        monkeypatch.delenv(name, raising=False)
    assert (conf.eng_timeout, conf.eng_retries, conf.eng_backoff) == (600.0, 10, 1.0)
    monkeypatch.setenv("ENG_RETRIES", "many")
    with pytest.raises(ValueError, match="ENG_RETRIES"):
        _ = conf.eng_retries


def test_session_message_reports_the_retry(services, sample):
    from fgs_widgets.model import Session

    session = Session()
    said: list[str] = []
    session.observe(lambda change: said.append(change["new"]), names="message")
    services.behaviour.status, services.behaviour.status_count = 503, 1
    session.fetch_mnemonic("INIS_FWMTRCURR", token=TOKEN, start=span(sample)[0],
                           end=span(sample)[1])
    assert said[0] == "engineering DB: HTTP 503 for INIS_FWMTRCURR, retry 1 of 10 in 0 s"
    assert said[-1].startswith("INIS_FWMTRCURR: ")  # then the result
