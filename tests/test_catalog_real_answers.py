"""The Guide Star Catalog client on answers shaped like the real service's.

A small loopback server answers CSV built from a real catalog row
(``shared/data/real_answers/gsc_row_N13I000018.json``: its column names and
values) the way the service writes it: a title line, the header, the rows, a
missing value as a single space and ``hstID`` with a trailing space.  The
server records every query, so the catalog version sent can be checked.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.archive import conf, guide_star_properties
from fgs_widgets.archive.catalog import DEFAULT_GSC_VERSION

REAL_ROW = (Path(__file__).resolve().parents[2] / "shared" / "data" / "real_answers"
            / "gsc_row_N13I000018.json")
GS_ID = "N13I000018"
TITLE = "Guide Star Catalog search results"


@pytest.fixture(scope="module")
def real_row() -> dict:
    """The real row: column name -> value, ``hstID`` with its trailing space."""
    if not REAL_ROW.is_file():
        pytest.skip(f"the real catalog row is not at {REAL_ROW}")
    return json.loads(REAL_ROW.read_text())["row"]


def _text(value: object) -> str:
    """A value as the service writes it: a blank (None) is one space."""
    if value is None:
        return " "
    return repr(value) if isinstance(value, float) else str(value)


def answer(rows: list[dict], title: str = TITLE) -> str:
    """The service's CSV: a title line, the header (the first row's names), the rows."""
    names = list(rows[0])
    lines = [title, ",".join(names)]
    lines += [",".join(_text(row.get(name)) for name in names) for row in rows]
    return "\r\n".join(lines) + "\r\n"


def normalized(name: str) -> str:
    """The client's column name for a catalog name (lower case; the real ones are plain)."""
    return name.lower()


class Catalog:
    """A loopback CatalogSearch.aspx: ``respond(query) -> CSV text``; records each query."""

    def __init__(self, respond: Callable[[dict[str, str]], str]):
        self.respond = respond
        self.queries: list[dict[str, str]] = []
        catalog = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                catalog.queries.append(query)
                body = catalog.respond(query).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/CatalogSearch.aspx"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(tmp_path) -> Iterator[Callable[[Callable[[dict[str, str]], str]], Catalog]]:
    """Start a loopback catalog answering with a function of the query; conf points at it."""
    servers: list[Catalog] = []

    def start(respond: Callable[[dict[str, str]], str]) -> Catalog:
        server = Catalog(respond)
        servers.append(server)
        stack.enter_context(conf.override(gsc_url=server.url, cache_dir=tmp_path / "cache",
                                          timeout=5, retries=0))
        return server

    import contextlib

    with contextlib.ExitStack() as stack:
        yield start
    for server in servers:
        server.close()


def quiet(*args, **kwargs) -> pd.DataFrame:
    """`guide_star_properties`, failing the test if it warns (every star came from the catalog)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return guide_star_properties(*args, **kwargs)


def test_real_row_read_with_its_own_names_and_values(serve, real_row):
    server = serve(lambda query: answer([real_row]))
    table = quiet(GS_ID)
    row = table.iloc[0]
    assert row["source"] == "gsc" and row["gs_id"] == GS_ID
    assert row["hstid"] == GS_ID  # the trailing space is gone
    for name, value in real_row.items():
        if name == "hstID":
            continue
        got = row[normalized(name)]
        if isinstance(value, int):
            assert got == value and isinstance(got, (int, np.integer)), name
        else:
            assert got == pytest.approx(value, rel=1e-15), name
    assert row["ra"] == pytest.approx(273.206729760604, rel=1e-15)
    assert row["dec"] == pytest.approx(65.5335149359777, rel=1e-15)
    (query,) = server.queries
    assert query["id"] == GS_ID and query["format"] == "csv"
    assert query["CATALOG"] == DEFAULT_GSC_VERSION == "GSC30"
    assert row["gsc_version"] == "GSC30"


def test_blank_values_are_nan_in_float_columns(serve, real_row):
    blank = {**real_row, "tmassJMag": None, "tmassJMagErr": None}
    serve(lambda query: answer([blank]))
    table = quiet(GS_ID)
    assert np.isnan(table["tmassjmag"][0]) and np.isnan(table["tmassjmagerr"][0])
    assert table["tmassjmag"].dtype == np.float64  # NaN, never the text ' '
    assert table["tmasshmag"][0] == pytest.approx(real_row["tmassHMag"])


def test_the_row_whose_hstid_is_the_id_is_used(serve, real_row):
    other = {**real_row, "hstID": "N13I000017 ", "ra": 10.0, "dec": -20.0, "tmassJMag": 9.5}
    second = {**real_row, "tmassJMag": 1.0}  # the same id again: the first one counts
    serve(lambda query: answer([other, real_row, second]))
    row = quiet(GS_ID).iloc[0]
    assert row["hstid"] == GS_ID and row["ra"] == pytest.approx(real_row["ra"])
    assert row["tmassjmag"] == pytest.approx(real_row["tmassJMag"])


def test_no_row_for_the_id_names_id_version_url_and_what_to_do(serve, real_row):
    other = {**real_row, "hstID": "N13I000017 "}
    server = serve(lambda query: answer([other]))
    with pytest.warns(UserWarning, match=GS_ID):
        table = guide_star_properties(GS_ID, version="GSC2431")
    note = table["note"][0]
    assert table["source"][0] == "header"
    assert GS_ID in note and "GSC2431" in note and server.url in note
    assert "N13I000017" in note and "version=" in note and "GSC_VER" in note
    assert not list((conf.cache_dir / "gsc").rglob("*.csv"))  # not cached


@pytest.mark.parametrize("ra, dec", [("raICRS", "decICRS"), ("RAJ2000", "DEJ2000")])
def test_coordinate_spellings(serve, real_row, ra, dec):
    renamed = {(ra if k == "ra" else dec if k == "dec" else k): v for k, v in real_row.items()}
    serve(lambda query: answer([renamed]))
    row = quiet(GS_ID).iloc[0]
    assert row["source"] == "gsc"
    assert row[ra.lower()] == row["ra"] == pytest.approx(real_row["ra"])
    assert row[dec.lower()] == row["dec"] == pytest.approx(real_row["dec"])


def test_version_is_sent_and_keys_the_cache(serve, real_row):
    def respond(query: dict[str, str]) -> str:
        # the versions differ in a value, so a wrong cache entry would show
        return answer([{**real_row, "tmassJMag": 1.0 if query["CATALOG"] == "GSC2431" else 2.0}])

    server = serve(respond)
    products = pd.DataFrame({"gs_id": [GS_ID, GS_ID], "gs_ra": [1.0, 1.0],
                             "gs_dec": [2.0, 2.0], "gs_mag": [12.0, 12.0],
                             "gsc_version": [None, "GSC2431"]})
    first = quiet(GS_ID, fallback=products)
    assert [q["CATALOG"] for q in server.queries] == ["GSC2431"]
    assert first["gsc_version"][0] == "GSC2431" and first["tmassjmag"][0] == 1.0
    again = quiet(GS_ID, fallback=products)
    assert len(server.queries) == 1 and again["tmassjmag"][0] == 1.0  # from the cache
    other = quiet(GS_ID)  # no version named: the default is another catalog
    assert [q["CATALOG"] for q in server.queries] == ["GSC2431", "GSC30"]
    assert other["tmassjmag"][0] == 2.0
    quiet(GS_ID, fallback=products, version="GSC30")  # the argument wins; cached
    assert len(server.queries) == 2


def test_entry_cached_by_id_only_is_not_served(serve, real_row):
    server = serve(lambda query: answer([real_row]))
    old = conf.cache_dir / "gsc" / f"{GS_ID}.csv"  # the layout before versions
    old.parent.mkdir(parents=True)
    old.write_text(answer([{**real_row, "tmassJMag": 1.0}]))
    row = quiet(GS_ID).iloc[0]
    assert len(server.queries) == 1
    assert row["tmassjmag"] == pytest.approx(real_row["tmassJMag"])


@pytest.mark.parametrize("title", ["GSC 3.0, search by id, CSV", "Search by RA, Dec", "ra,dec"])
def test_title_line_that_looks_like_a_header_row(serve, real_row, title):
    # the title is skipped even when it holds commas, or coordinate names
    server = serve(lambda query: answer([real_row], title=title))
    assert quiet(GS_ID)["hstid"][0] == GS_ID
    assert len(server.queries) == 1


def test_gsc_ver_header_reaches_the_request(serve, real_row, tmp_path):
    from guider_files import write_guider

    from fgs_widgets.archive import read_fine_guide

    path = write_guider(tmp_path, gs_id=GS_ID, gsc_version="GSC2431")  # the data model's GSC_VER
    products = read_fine_guide(path).products
    assert products["gsc_version"][0] == "GSC2431"
    server = serve(lambda query: answer([{**real_row, "hstID": f"{products['gs_id'][0]} "}]))
    quiet(products["gs_id"], fallback=products)
    assert [q["CATALOG"] for q in server.queries] == ["GSC2431"]
