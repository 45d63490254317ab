"""Engineering telemetry and Guide Star Catalog clients against loopback services."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from loopback import Behaviour, LoopbackServer, serve_sample

from fgs_widgets.archive import conf, get_mnemonic, guide_star_properties
from fgs_widgets.archive.errors import AuthenticationError, MastUnreachable, TelemetryError
from fgs_widgets.engine.events import hga_moves

TOKEN = "edb-token-123456"


@pytest.fixture
def services(sample, tmp_path, monkeypatch):
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    behaviour = Behaviour(require_token=TOKEN)
    serve_sample(behaviour, sample)
    with LoopbackServer(behaviour) as server, conf.override(
            mast_server="http://127.0.0.1:9", eng_server=server.url, timeout=5,
            cache_dir=tmp_path / "cache", gsc_url=server.url + "/CatalogSearch.aspx"):
        yield server


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
    assert row["source"] == "header" and "unavailable" in row["note"]
    assert row["ra"] == pytest.approx(sample_data.products["gs_ra"][0])
