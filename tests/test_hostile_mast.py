"""The MAST query against a loopback MAST that answers in the wrong shapes.

astroquery parses the service's JSON without checking its shape; every odd answer
must reach the user as an `ArchiveError` naming MAST and what to do, never as an
AttributeError/TypeError, and the command line must print it instead of a traceback.
"""

from __future__ import annotations

import json

import pytest
from loopback import leaked_in_traceback

from fgs_widgets.archive import conf, find_products
from fgs_widgets.archive.errors import ArchiveError, AuthenticationError, MastUnreachable
from fgs_widgets.archive.mast import find_products_between
from fgs_widgets.cli import main

TOKEN = "query-token-8d2e41"
FIELDS = [{"name": "fileName", "type": "string"}, {"name": "dataURI", "type": "string"}]
PAGING = {"page": 1, "pageSize": 50, "pagesFiltered": 1, "rows": 1, "rowsFiltered": 1,
          "rowsTotal": 1}


@pytest.fixture
def mast(mast):
    """The sample's loopback MAST, without retries (each odd answer is asked for once)."""
    with conf.override(retries=0):
        yield mast


def answer(**fields) -> tuple[int, str, bytes]:
    body = {"status": "COMPLETE", "msg": "", "fields": FIELDS, "paging": PAGING, **fields}
    return 200, "application/json", json.dumps(body).encode()


SHAPES = {
    "data is a string": answer(data="no rows"),
    "data is a dict": answer(data={"fileName": "x"}),
    "data is null": answer(data=None),
    "data is a list of lists": answer(data=[["a", "b"]]),
    "data is a list of numbers": answer(data=[1, 2]),
    "fields is a string": answer(fields="fileName", data=[]),
    "fields is null": answer(fields=None, data=[{"fileName": "x"}]),
    "answer is a list": (200, "application/json", b"[1, 2, 3]"),
    "answer is a string": (200, "application/json", b'"COMPLETE"'),
    "answer is null": (200, "application/json", b"null"),
    "truncated JSON": (200, "application/json", b'{"status": "COMPLETE", "data": [{"fi'),
    "HTML page": (200, "text/html", b"<html><body>Service unavailable</body></html>"),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_odd_answers_are_archive_errors(mast, shape):
    mast.behaviour.answers["invoke"] = SHAPES[shape]
    with pytest.raises(ArchiveError) as info:
        find_products(1534)
    message = str(info.value)
    assert mast.url in message and "MAST" in message
    assert "conf.mast_server" in message or "try again" in message.lower()
    assert not conf.cache_dir.exists()  # nothing written for a failed query


@pytest.mark.parametrize("shape", ["data is a string", "answer is null"])
def test_command_line_prints_the_error_not_a_traceback(mast, shape, capsys):
    mast.behaviour.answers["invoke"] = SHAPES[shape]
    code = main(["fit", "--program", "1534", "-o", str(conf.cache_dir / "fit.parquet")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.startswith("fgs-widgets fit: MAST (") and "unexpected answer" in err


@pytest.mark.parametrize("fault", ["unreachable", "401", "500", "odd shape"])
def test_query_errors_keep_no_frame_with_the_token(mast, fault):
    settings = {"mast_server": "http://127.0.0.1:9"} if fault == "unreachable" else {}
    if fault != "unreachable":
        mast.behaviour.status = {"401": 401, "500": 500}.get(fault)
        if fault == "odd shape":
            mast.behaviour.answers["invoke"] = SHAPES["data is a string"]
    with conf.override(**settings), pytest.raises(ArchiveError) as info:
        find_products(1534, token=TOKEN)
    # the survey's date-range query
    with conf.override(**settings), pytest.raises(ArchiveError) as ranged:
        find_products_between("2022-12-01", "2022-12-31", token=TOKEN)
    assert type(ranged.value) is type(info.value)
    assert leaked_in_traceback(ranged.value, TOKEN) == []
    if fault == "unreachable":
        assert isinstance(info.value, MastUnreachable)
    if fault == "401":
        assert isinstance(info.value, AuthenticationError)
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert leaked_in_traceback(info.value, TOKEN) == []


def test_the_token_is_sent_and_a_good_answer_still_works(mast):
    mast.behaviour.require_token = TOKEN
    assert len(find_products(1534, token=TOKEN)) == 4
    assert all(h.get("Authorization") == f"token {TOKEN}" for _, _, h in mast.behaviour.log)
