"""Hostile answers from the engineering DB and the Guide Star Catalog (loopback servers).

Each test makes the loopback service send something a real service, a proxy or
a captive portal could send, and checks the error type, that the message names
the service/mnemonic and says what to do, and what is (not) left on disk.
"""

from __future__ import annotations

import hashlib
import traceback

import numpy as np
import pytest
from astropy.time import Time
from loopback import EDB_TOKEN

from fgs_widgets.archive import conf, get_mnemonic, guide_star_properties
from fgs_widgets.archive.catalog import DEFAULT_GSC_VERSION
from fgs_widgets.archive.errors import (
    ArchiveError,
    AuthenticationError,
    MastUnreachable,
    TelemetryError,
)

TOKEN = EDB_TOKEN
OTHER = "other-token-654321"  # a second valid token (the service accepts either in one test)
WRONG = "wrong-token-987654"  # a token the service refuses
HEADER = "theTime,MJD,euvalue,sqldataType"


def span(sample):
    return sample.truth.time[0] - 0.001, sample.truth.time[-1] + 0.001


def edb_requests(server) -> int:
    return len([e for e in server.behaviour.log if "jwstedb" in e[1]])


def cached_chunks() -> list:
    return sorted(p for p in (conf.cache_dir / "edb").rglob("*.csv") if p.is_file())


def csv_body(rows: list[tuple[str, str, str, str]]) -> bytes:
    """An EDB answer in the service's layout (CRLF lines) with the given rows."""
    lines = [HEADER, *(",".join(row) for row in rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def row_at(mjd: float, value: str = "0.5", kind: str = "real") -> tuple[str, str, str, str]:
    stamp = Time(mjd, format="mjd", scale="utc").datetime.strftime("%Y-%m-%d %H:%M:%S.%f")
    return stamp, f"{mjd:.10f}", value, kind


def hostile(server, body: bytes, status: int = 200, kind: str = "text/csv") -> None:
    server.behaviour.answers["telemetry"] = (status, kind, body)


# -- 1, 2: answers that are not the expected CSV ------------------------------------------


def _bad_bodies(t: float) -> dict[str, tuple[bytes, list[str]]]:
    """name -> (body, texts the message must contain)."""
    good = row_at(t)
    return {
        # latin-1 bytes: requests' guessed .text would have made them plausible text
        "not utf-8": (csv_body([good]).replace(b"0.5", b"0.5\xff\xfe"), ["UTF-8", "offset"]),
        "bad theTime": (csv_body([good, ("yesterday-ish", *good[1:])]),
                        ["theTime", "'yesterday-ish'", "data row 2"]),
        "text in MJD": (csv_body([(good[0], "fifty-nine", *good[2:])]),
                        ["MJD", "'fifty-nine'", "data row 1"]),
        "empty theTime": (csv_body([("", *good[1:])]), ["theTime", "data row 1"]),
        "text where real": (csv_body([good, row_at(t + 1e-5, "MOVING")]),
                            ["euvalue", "'MOVING'", "data row 2", "'real'"]),
        "NULL where real": (csv_body([row_at(t, "NULL")]), ["euvalue", "'NULL'"]),
    }


@pytest.mark.parametrize("case", ["not utf-8", "bad theTime", "text in MJD", "empty theTime",
                                  "text where real", "NULL where real"])
def test_bad_telemetry_answer_is_a_telemetry_error_and_not_cached(services, sample, case):
    t0, t1 = span(sample)
    body, expected = _bad_bodies((t0 + t1) / 2)[case]
    hostile(services, body)
    with pytest.raises(TelemetryError) as info:
        get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN)
    message = str(info.value)
    assert "INIS_FWMTRCURR" in message and "engineering DB" in message
    for text in expected:
        assert text in message, (text, message)
    assert "nothing was cached" in message and "try again later" in message
    assert info.value.__context__ is None and info.value.__cause__ is None  # no pandas error
    assert not cached_chunks()


def test_empty_euvalue_of_a_numeric_mnemonic_is_nan_and_cached(services, sample):
    # an empty value is a sample without a value (documented), not a corrupt answer
    t0, t1 = span(sample)
    t = (t0 + t1) / 2
    hostile(services, csv_body([row_at(t, "0.25"), row_at(t + 1e-5, ""), row_at(t + 2e-5, "nan")]))
    table = get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN)
    assert table["value"].dtype == np.float64
    assert table["value"].iloc[0] == 0.25 and table["value"].iloc[1:].isna().all()
    assert len(cached_chunks()) == 1


@pytest.mark.parametrize("damage", [b"\xff\xfe\x00garbage", b"<html>oops</html>",
                                    HEADER.encode() + b"\r\nnot-a-time,1,2,real\r\n"])
def test_damaged_cached_chunk_is_dropped_and_fetched_again(services, sample, damage):
    t0, t1 = span(sample)
    first = get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN)
    (chunk,) = cached_chunks()
    good = chunk.read_bytes()
    chunk.write_bytes(damage)
    before = edb_requests(services)
    again = get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN)  # no UnicodeDecodeError
    assert edb_requests(services) == before + 1
    np.testing.assert_array_equal(again["value"], first["value"])
    assert chunk.read_bytes() == good  # replaced by the fresh, checked answer


# -- 3: the cache is keyed by a token fingerprint ------------------------------------------


def test_wrong_token_is_not_served_another_tokens_cached_chunks(services, sample, tmp_path):
    t0, t1 = span(sample)
    assert len(get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN))
    (chunk,) = cached_chunks()
    before = edb_requests(services)
    with pytest.raises(AuthenticationError) as info:
        get_mnemonic("INIS_FWMTRCURR", t0, t1, token=WRONG)
    # the service was asked and refused, retried as the pipeline's client does (401 too)
    assert edb_requests(services) == before + 1 + conf.eng_retries
    message = str(info.value)
    assert "INIS_FWMTRCURR" in message and "refused" in message and "HTTP 401" in message
    assert "auth.mast.stsci.edu/token" in message and WRONG not in message

    # the folder name is neither the token nor a plain (unsalted) hash of it
    folder = chunk.parent.name
    assert chunk.parent.parent == conf.cache_dir / "edb"
    plain = {getattr(hashlib, h)(TOKEN.encode()).hexdigest() for h in
             ("md5", "sha1", "sha256", "sha512", "blake2b", "blake2s")}
    assert TOKEN not in folder and not any(p.startswith(folder) for p in plain)
    assert len((conf.cache_dir / "edb" / ".salt").read_bytes()) == 16

    # another valid token gets its own folder; the same token in another cache another name
    services.behaviour.require_token = OTHER
    assert len(get_mnemonic("INIS_FWMTRCURR", t0, t1, token=OTHER))
    assert len({p.parent.name for p in cached_chunks()}) == 2
    services.behaviour.require_token = TOKEN
    with conf.override(cache_dir=tmp_path / "second-cache"):
        get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN)
        (elsewhere,) = cached_chunks()
    assert elsewhere.parent.name != folder

    for root in (tmp_path / "cache", tmp_path / "second-cache"):
        for path in root.rglob("*"):
            assert not any(t in str(path) for t in (TOKEN, OTHER, WRONG)), path
            if path.is_file():
                data = path.read_bytes()
                assert not any(t.encode() in data for t in (TOKEN, OTHER, WRONG)), path


# -- 4: what is not final is not cached -----------------------------------------------------


def test_empty_answer_is_not_cached(services, sample):
    t0, t1 = span(sample)
    hostile(services, csv_body([]))  # header only: the archive may still be filling the range
    for expected in (1, 2):
        table = get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN)
        assert table.empty and "INIS_FWMTRCURR" in table.attrs["note"]
        assert edb_requests(services) == expected  # asked again: nothing was kept
    assert not cached_chunks()
    del services.behaviour.answers["telemetry"]  # once the archive has it, it is used
    assert len(get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN))
    assert len(cached_chunks()) == 1


def test_recent_chunk_with_samples_is_not_cached(services):
    now = Time.now().utc.mjd
    hostile(services, csv_body([row_at(now - 0.006), row_at(now - 0.004)]))
    for expected in (1, 2):
        assert len(get_mnemonic("INIS_FWMTRCURR", now - 0.01, now, token=TOKEN)) == 2
        assert edb_requests(services) == expected
    assert not cached_chunks()
    # the same answer for a settled range is cached: the rule, not the answer, kept it out
    old = now - 30
    hostile(services, csv_body([row_at(old + 0.004), row_at(old + 0.006)]))
    assert len(get_mnemonic("INIS_FWMTRCURR", old, old + 0.01, token=TOKEN)) == 2
    assert len(cached_chunks()) == 1


# -- 5: no error carries the token ----------------------------------------------------------


def _everything_printed(error: BaseException) -> str:
    """All a traceback with locals could show: the formatted chain, and every frame's
    locals of every exception reachable through __cause__/__context__ (suppressed too)."""
    parts = ["".join(traceback.TracebackException(
        type(error), error, error.__traceback__, capture_locals=True).format())]
    seen: set[int] = set()
    todo = [error]
    while todo:
        exc = todo.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        parts += [repr(exc), str(exc), repr(exc.args)]
        tb = exc.__traceback__
        while tb is not None:
            for name, value in tb.tb_frame.f_locals.items():
                try:
                    parts.append(f"{name}={value!r}")
                except Exception as failure:  # a repr that fails shows nothing either
                    parts.append(f"{name}=<repr failed: {type(failure).__name__}>")
            tb = tb.tb_next
        todo += [exc.__cause__, exc.__context__]
    return "\n".join(parts)


def test_errors_carry_no_token_in_tracebacks_with_locals(services, sample):
    t0, t1 = span(sample)

    def unreachable():
        with conf.override(eng_server="http://127.0.0.1:9", eng_retries=0):
            get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN, cache=False)

    def refused():
        services.behaviour.require_token = "the-one-the-service-wants"
        try:
            get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN)
        finally:
            services.behaviour.require_token = TOKEN

    def failing():
        services.behaviour.status = 500
        try:
            get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN)
        finally:
            services.behaviour.status = None

    def garbage():
        hostile(services, b"\xff" + csv_body([row_at((t0 + t1) / 2, "MOVING")]))
        try:
            get_mnemonic("INIS_FWMTRCURR", t0, t1, token=TOKEN)
        finally:
            services.behaviour.answers.clear()

    cases = [(unreachable, MastUnreachable, ["127.0.0.1:9", "unreachable", "local events"]),
             (refused, AuthenticationError, ["HTTP 401", "refused", "auth.mast.stsci.edu"]),
             (failing, TelemetryError, ["HTTP 500", "try again later", "local events"]),
             (garbage, TelemetryError, ["UTF-8", "try again later"])]
    for call, kind, expected in cases:
        try:
            call()
        except ArchiveError as exc:
            error = exc
        else:
            pytest.fail(f"{call.__name__} raised nothing")
        assert type(error) is kind, (call.__name__, error)
        assert "INIS_FWMTRCURR" in str(error) and all(t in str(error) for t in expected)
        # nothing is chained at all: requests'/urllib3's frames hold the Authorization header
        assert error.__cause__ is None and error.__context__ is None, call.__name__
        printed = _everything_printed(error)
        assert "get_mnemonic" in printed  # the frames really were formatted
        assert TOKEN not in printed, call.__name__
        del error
    assert not cached_chunks()


# -- 6, 7: the Guide Star Catalog ----------------------------------------------------------

GOOD_ID = "N13I000018"
PAGE = (b"<html><head><title>Service notice</title></head><body>\n"
        b"<p>The catalog search by ra,dec is down for maintenance</p>\n"
        b"ra,dec\n10.0,20.0\n</body></html>\n")
LEADING_TEXT = b"Service notice\nra,dec\n10.0,20.0\n<html><body>maintenance</body></html>\n"


def gsc_files() -> list:
    return sorted(p for p in conf.cache_dir.rglob("*") if p.is_file() and "gsc" in p.parts)


def header_row(table, sample_data):
    row = table.iloc[0]
    assert row["source"] == "header" and row["gs_id"] == GOOD_ID
    assert row["ra"] == pytest.approx(sample_data.products["gs_ra"][0])  # not the page's 10.0
    return row


def test_catalog_csv_labelled_html_is_still_a_catalog_row(services):
    # ASP.NET labels its answers text/html by default: the body decides, not the label
    services.behaviour.require_token = None
    services.behaviour.answers["catalog"] = (
        200, "text/html; charset=utf-8", b"Search results\nhstID,ra,dec\nN13I000018 ,10.0,20.0\n")
    table = guide_star_properties(GOOD_ID)
    assert table.iloc[0]["source"] == "gsc" and table.iloc[0]["ra"] == 10.0
    assert gsc_files()


@pytest.mark.parametrize("answer", [("text/html", PAGE), ("text/csv", PAGE),
                                    ("text/plain", LEADING_TEXT)],
                         ids=["html", "html-as-csv", "contains-html"])
def test_catalog_html_page_is_not_a_row_nor_cached(services, sample_data, answer):
    services.behaviour.require_token = None
    kind, body = answer
    services.behaviour.answers["catalog"] = (200, kind, body)
    with pytest.warns(UserWarning, match="note"):
        table = guide_star_properties(GOOD_ID, fallback=sample_data.products)
    note = header_row(table, sample_data)["note"]
    assert "Guide Star Catalog" in note and "not a catalog CSV" in note
    assert "HTML" in note and "conf.gsc_url" in note
    assert not gsc_files()


@pytest.mark.parametrize("body, why", [
    (f"title\nhstID,ra,dec\n{GOOD_ID},400.0,10.0\n", "not coordinates"),
    (f"title\nhstID,ra,dec\n{GOOD_ID},10.0,-95.0\n", "not coordinates"),
    (f"title\nhstID,ra,dec\n{GOOD_ID},abc,10.0\n", "'abc'"),
    (f"title\nhstID,ra,dec\n{GOOD_ID},nan,10.0\n", "not coordinates"),
    (f"title\nhstID,ra,dec\n{GOOD_ID},inf,10.0\n", "not coordinates"),
    ("title\nhstID,raEpsilon,decEpsilon\nX,0.1,0.1\n", "no CSV header with ra/dec"),
    ("title\nrating,decade\n5,1990\n", "no CSV header with ra/dec"),
    ("title\nhstID,ra,dec\n", "no row"),
])
def test_catalog_row_needs_real_coordinate_columns_and_values(services, sample_data, body, why):
    services.behaviour.require_token = None
    services.behaviour.answers["catalog"] = (200, "text/csv", body.encode())
    with pytest.warns(UserWarning):
        table = guide_star_properties(GOOD_ID, fallback=sample_data.products)
    note = header_row(table, sample_data)["note"]
    assert why in note and "values from the file headers" in note
    assert not gsc_files()


def test_catalog_undecodable_answer_is_not_cached(services, sample_data):
    services.behaviour.require_token = None
    services.behaviour.answers["catalog"] = (200, "text/csv",
                                             b"title\nhstID,ra,dec\nX\xff\xfe,10.0,20.0\n")
    with pytest.warns(UserWarning):
        table = guide_star_properties(GOOD_ID, fallback=sample_data.products)
    assert "not a catalog CSV" in header_row(table, sample_data)["note"]
    assert not gsc_files()


@pytest.mark.parametrize("damage", [b"<html>login</html>", b"\xff\xfe\x00", b"ra,dec\nx,y\n",
                                    b"title\nhstID,ra,dec\nN13I000018,999,0\n"])
def test_catalog_damaged_cached_file_is_dropped_and_fetched_again(services, damage):
    services.behaviour.require_token = None
    path = conf.cache_dir / "gsc" / DEFAULT_GSC_VERSION / f"{GOOD_ID}.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(damage)
    before = len(services.behaviour.log)
    table = guide_star_properties(GOOD_ID)
    assert table["source"][0] == "gsc" and table["ra"][0] == pytest.approx(80.48734)
    assert len(services.behaviour.log) == before + 1
    assert path.read_text() == services.behaviour.catalog[GOOD_ID]


@pytest.mark.parametrize("status, expected, requests", [
    (500, ["HTTP 500", "call again later"], 2),  # retried once by the session
    (503, ["HTTP 503", "call again later"], 2),
    (404, ["HTTP 404", "conf.gsc_url"], 1),
    (403, ["HTTP 403", "conf.gsc_url"], 1),
])
def test_catalog_http_error_note_names_the_status(services, sample_data, status, expected,
                                                  requests):
    services.behaviour.require_token = None
    services.behaviour.answers["catalog"] = (status, "text/plain", b"ra,dec\n1,2\n")
    before = len(services.behaviour.log)
    with pytest.warns(UserWarning):
        table = guide_star_properties(GOOD_ID, fallback=sample_data.products)
    note = header_row(table, sample_data)["note"]
    assert "Guide Star Catalog" in note and all(t in note for t in expected), note
    assert "MAST token" not in note  # the catalog needs none; don't send users after one
    assert len(services.behaviour.log) == before + requests
    assert not gsc_files()
