"""Engineering telemetry and Guide Star Catalog clients against loopback services."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from loopback import EDB_TOKEN, Behaviour, LoopbackServer

from fgs_widgets.archive import conf, get_mnemonic, guide_star_properties
from fgs_widgets.archive.errors import AuthenticationError, MastUnreachable, TelemetryError
from fgs_widgets.engine.events import hga_moves

TOKEN = EDB_TOKEN


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
    with conf.override(eng_server="http://127.0.0.1:9", retries=0), pytest.raises(
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
