"""Configuration, token handling and downloads of arbitrary files against a loopback MAST."""

from __future__ import annotations

import copy
import logging
import os
import pickle
import threading

import numpy as np
import pandas as pd
import pytest
from loopback import Behaviour, LoopbackServer, fits_bytes

from fgs_widgets.archive import conf, download
from fgs_widgets.archive.errors import PartialDownload, UnsafeFileName
from fgs_widgets.archive.tokens import Token, resolve_token

NAMES = ["jw01534001001_gs-fg_2022340000825_cal.fits", "jw01534001002_gs-fg_2022340001241_cal.fits"]


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A loopback MAST serving two FITS-looking files (a primary card, then noise)."""
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    behaviour = Behaviour()
    for i, name in enumerate(NAMES):
        behaviour.files[f"mast:JWST/product/{name}"] = fits_bytes(104 + i, seed=i)
    with LoopbackServer(behaviour) as server, conf.override(
            mast_server=server.url, cache_dir=tmp_path / "cache", timeout=5, retries=0):
        yield server


def table(server, sizes=True, folder=True) -> pd.DataFrame:
    rows = []
    for uri, data in server.behaviour.files.items():
        name = uri.rsplit("/", 1)[1]
        rows.append({"file_name": name, "uri": uri,
                     "size": len(data) if sizes else np.nan,
                     "folder": name[:13] + "_03101_00001_guider1" if folder else None})
    return pd.DataFrame(rows)


# -- configuration ---------------------------------------------------------------------------


def test_conf_environment_defaults_and_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("FGS_MAST_SERVER", "http://mast.example/")
    monkeypatch.delenv("ENG_BASE_URL", raising=False)
    monkeypatch.setenv("FGS_CACHE_DIR", str(tmp_path / "c"))
    assert conf.mast_server == "http://mast.example"
    assert conf.eng_server == "http://mast.example"  # the engineering DB follows MAST...
    monkeypatch.setenv("ENG_BASE_URL", "http://edb.example")
    assert conf.eng_server == "http://edb.example"  # ...unless ENG_BASE_URL says otherwise
    assert conf.cache_dir == tmp_path / "c"
    with conf.set_temp("mast_server", "http://other"):
        assert conf.mast_server == "http://other"
        with conf.override(timeout=1.5, cache_dir=tmp_path / "d"):
            assert conf.timeout == 1.5 and conf.cache_dir == tmp_path / "d"
    assert conf.mast_server == "http://mast.example" and conf.cache_dir == tmp_path / "c"
    monkeypatch.delenv("FGS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert conf.cache_dir == tmp_path / "xdg" / "fgs_widgets"
    with pytest.raises(AttributeError, match="unknown setting"):
        conf.mast_sever = "typo"
    with pytest.raises(AttributeError, match="unknown setting"), conf.override(serer="x"):
        pass
    monkeypatch.setenv("FGS_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="FGS_TIMEOUT"):
        conf.timeout  # noqa: B018


# -- tokens ----------------------------------------------------------------------------------


def test_token_is_masked_everywhere(monkeypatch):
    secret = "abcd-secret-1234"
    token = Token(secret)
    shown = [repr(token), str(token), f"{token}", f"{token!r}", "%s" % token,  # noqa: UP031
             repr([token]), repr({"t": token})]
    assert all(secret not in text for text in shown)
    assert token.reveal() == secret and token.header() == {"Authorization": f"token {secret}"}
    with pytest.raises(TypeError, match="not serializable"):
        pickle.dumps(token)
    assert copy.deepcopy(token) is token
    assert not Token(None) and not Token("  ") and Token(None).header() == {}


def test_token_lookup_order(monkeypatch):
    import fgs_widgets.archive.tokens as tokens

    monkeypatch.setattr(tokens, "_keyring_token", lambda: "from-keyring")
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    assert resolve_token().reveal() == "from-keyring"
    monkeypatch.setenv("MAST_API_TOKEN", "from-env")
    assert resolve_token().reveal() == "from-env"
    assert resolve_token("from-arg").reveal() == "from-arg"
    given = Token("held")
    assert resolve_token(given) is given


# -- downloads of arbitrary bytes ------------------------------------------------------------


def test_download_layout_and_progress(files):
    calls = []
    result = download(table(files), progress=lambda *a: calls.append(a))
    root = conf.cache_dir / "mastDownload" / "JWST"
    for path, (uri, data) in zip(result.paths, files.behaviour.files.items(), strict=True):
        assert path.read_bytes() == data and path.parent.parent == root.resolve()
        assert path.name == uri.rsplit("/", 1)[1]
    total = sum(len(d) for d in files.behaviour.files.values())
    assert calls[-1] == (total, total, 2, 2)
    assert not list(conf.cache_dir.rglob("*.part"))


def test_unknown_sizes_use_content_length_and_a_present_file_is_complete(files):
    calls = []
    result = download(table(files, sizes=False, folder=False), progress=lambda *a: calls.append(a))
    total = sum(len(d) for d in files.behaviour.files.values())
    assert calls[-1] == (total, total, 2, 2)
    # without a folder from the service the files are grouped by visit
    assert [p.parent.name for p in result.paths] == ["jw01534001001", "jw01534001002"]
    before = len(files.behaviour.log)
    again = download(table(files, sizes=False, folder=False))
    assert len(again.skipped) == 2 and len(files.behaviour.log) == before


def test_resume_sends_range_and_counts_held_bytes(files):
    products = table(files).iloc[:1]
    files.behaviour.truncate_at = 100_000
    with pytest.raises(PartialDownload, match="resume"):
        download(products)
    files.behaviour.truncate_at = None
    calls = []
    result = download(products, progress=lambda *a: calls.append(a))
    assert files.behaviour.log[-1][2]["Range"].startswith("bytes=")
    assert result.paths[0].read_bytes() == next(iter(files.behaviour.files.values()))
    size = products["size"].iloc[0]
    assert calls[-1] == (size, size, 1, 1)


def test_cancel_leaves_only_a_part_file(files):
    files.behaviour.block_delay = 0.05
    cancel = threading.Event()
    timer = threading.Timer(0.08, cancel.set)
    timer.start()
    with pytest.raises(Exception, match="cancelled"):
        download(table(files), cancel=cancel)
    timer.join()
    finals = [p for p in conf.cache_dir.rglob("*") if p.name.endswith(".fits")]
    assert finals == [] and list(conf.cache_dir.rglob("*.part"))


@pytest.mark.parametrize("name", ["../../escape_cal.fits", "/tmp/escape_cal.fits",
                                  "dir/escape_cal.fits", "dir\\escape_cal.fits",
                                  ".hidden_cal.fits", "C:escape_cal.fits", "", "a\x00b",
                                  "jw01534001002_gs-fg_2022340001241_cal.fits\n"])
def test_unsafe_names_are_refused_before_any_write(files, tmp_path, name):
    products = table(files)
    products.loc[1, "file_name"] = name
    with pytest.raises(UnsafeFileName) as info:
        download(products)
    assert repr(name)[1:-1] in str(info.value) or name in str(info.value)
    assert not (conf.cache_dir / "mastDownload").exists()  # the good first file waited too
    assert not [p for p in tmp_path.parent.rglob("escape*")]
    assert not os.path.exists("/tmp/escape_cal.fits")


def test_products_table_must_have_names_and_uris(files):
    with pytest.raises(ValueError, match="uri"):
        download(pd.DataFrame({"file_name": NAMES}))


def test_download_logs_no_token(files, caplog, capsys):
    secret = "tok-logcheck-777"
    files.behaviour.require_token = secret
    caplog.set_level(logging.DEBUG)
    download(table(files), token=secret)
    out, err = capsys.readouterr()
    assert secret not in caplog.text + out + err
    for path in conf.cache_dir.rglob("*"):
        assert not path.is_file() or secret.encode() not in path.read_bytes()
