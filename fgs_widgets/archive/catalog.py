"""Guide Star Catalog properties of guide stars (the seed's ``object_properties``).

``GET <conf.gsc_url>?id=<GDSTARID>&format=csv&CATALOG=<version>`` answers a CSV
whose first line is a title; the column names are read from the CSV and
normalized (lower case, underscores) rather than hard-coded, since they change
between catalog versions.  The version asked is the one the guide-star file
names (its ``GSC_VER``, the products' ``gsc_version``), else
`DEFAULT_GSC_VERSION`: the service's own default changes with new releases.

Reading an answer follows what the real service writes: a missing value is a
single space (read as NaN, never as the text ``' '``; every value is
stripped); ``hstID`` carries a trailing space; an id can answer several rows,
of which the one whose stripped ``hstID`` is the id asked is used (the first if
several are); a position may be spelled ``ra``/``dec``, ``raICRS``/``decICRS``
or ``RAJ2000``/``DEJ2000`` (output also as ``ra``/``dec``).

An answer is used only if it is a catalog CSV: not an HTML page (a proxy's or
login page's, which may well mention "RA" and "Dec"), with real coordinate
columns (optionally with a unit suffix, ``ra_deg``) and a row for the id whose
coordinates are finite and in range.  Only such answers are cached, as UTF-8
text, one file per version and id: ``conf.cache_dir/gsc/<version>/<GDSTARID>.csv``
(files of older releases, keyed by the id alone, are not read: their version is
unknown); a cached file that no longer passes these checks is dropped and
fetched again.  Any other answer (HTTP error, HTML, garbage, no row for the id)
gives the header values and a ``note`` saying what the catalog did; this
module never raises for service problems.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
import requests

from .answer_cache import cached_answer
from .config import conf
from .downloads import safe_name
from .errors import ArchiveError
from .http import response_error, session

__all__ = ["DEFAULT_GSC_VERSION", "guide_star_properties"]

#: The catalog version asked for a star whose files name none (no ``GSC_VER``).  It is the
#: service's default today (MAST's Catalog Access page: the ``CATALOG`` parameter defaults
#: to GSC30 and "WILL change as newer versions of GSC are released"), stated here so that an
#: answer, and its cache entry, always belong to a known version.
DEFAULT_GSC_VERSION = "GSC30"
#: products column -> output column for the header fallback
_HEADER_COLUMNS = {"gs_ra": "ra", "gs_dec": "dec", "gs_mag": "fgs_mag"}
#: normalized column names that are coordinates (a frame or unit suffix is allowed: "ra",
#: "raicrs", "raj2000", "ra_deg", "dej2000"; but not e.g. "raepsilon", "raerr" or "ra_err":
#: those are not the position)
_FRAME = r"(_?(j2000|icrs))?(_deg(ree)?s?)?"
_RA = re.compile(rf"^(ra|right_ascension){_FRAME}$")
_DEC = re.compile(rf"^((dec|decl|declination){_FRAME}|de_?(j2000|icrs)(_deg(ree)?s?)?)$")
#: normalized names of the column holding the id asked (``hstID``, with a trailing space)
_ID_COLUMNS = ("hstid", "hst_id")
#: an integer written without leading zeros: read as an int (exact, unlike a float, for
#: 19-digit Gaia source ids); "007" stays text
_INTEGER = re.compile(r"[+-]?(0|[1-9][0-9]*)")
_ADVICE = "check conf.gsc_url, or call again later"


class _BadAnswer(ValueError):
    """The catalog answered, but not with a usable row for this id."""


class _NotInCatalog(_BadAnswer):
    """The catalog answered a CSV without a row for this id."""


class _NotCatalogCSV(_BadAnswer):
    """The answer is not a catalog CSV (HTML page, undecodable, unparsable, bad coordinates)."""


def _normalize(name: str) -> str:
    """'Gaia DR3 Source ID' -> 'gaia_dr3_source_id', 'RA(deg)' -> 'ra_deg'."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _unique(names: list[str]) -> list[str]:
    """Normalized names made unique ("RA" and "ra" both give "ra": the second is "ra_2")."""
    used: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate in used:
            n += 1
            candidate = f"{name}_{n}"
        used.add(candidate)
        out.append(candidate)
    return out


def _coordinate_columns(names: list[str]) -> tuple[str, str] | None:
    """The (ra, dec) column names among normalized ``names``, or None."""
    ra = next((n for n in names if _RA.match(n)), None)
    dec = next((n for n in names if _DEC.match(n)), None)
    return (ra, dec) if ra and dec else None


def _looks_like_html(text: str) -> bool:
    """An HTML (or XML) page rather than CSV, judged by the body.

    Not by the Content-Type: an ASP.NET service such as ``CatalogSearch.aspx``
    labels what it writes ``text/html`` unless told otherwise, CSV included.
    """
    head = text.lstrip()[:1]
    return head == "<" or "<html" in text[:4096].lower()


def _parse(text: str) -> pd.DataFrame:
    """The catalog CSV as a table of text with normalized column names (raises `_BadAnswer`).

    The first line is a title and the second the header, which is used if it has
    real coordinate columns (even if the title also looks like one: "search by
    RA, Dec"); in case a proxy or a future service version drops the title, the
    header is otherwise the first of the first five lines that has them.  Values
    stay text (stripped; a blank, which the service writes as one space, is NaN)
    until `_choose` converts the row used.
    """
    if _looks_like_html(text):
        raise _NotCatalogCSV("an HTML page")
    lines = [line for line in text.splitlines() if line.strip()]
    headers = [i for i, line in enumerate(lines[:5])
               if _coordinate_columns([_normalize(c) for c in line.split(",")])]
    start = 1 if 1 in headers else next(iter(headers), None)
    if start is None:
        # the catalog's own "no match" answer is a title and a message, without a header
        raise _NotInCatalog("the answer has no CSV header with ra/dec columns")
    failure: _BadAnswer | None = None
    try:
        table = pd.read_csv(io.StringIO("\n".join(lines[start:])), dtype=str,
                            na_values=[" "])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        failure = _NotCatalogCSV(f"an unparsable CSV ({type(exc).__name__})")
    if failure is not None:  # raised outside the except block: nothing chained
        raise failure
    table.columns = _unique([_normalize(c) for c in table.columns])
    if table.empty:
        raise _NotInCatalog("the catalog returned no row")
    return table


def _value(text: object) -> object:
    """One CSV value: NaN if missing or blank, else an int, a float, or the stripped text."""
    if not isinstance(text, str):
        return np.nan if pd.isna(text) else text
    text = text.strip()
    if not text:
        return np.nan
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def _choose(table: pd.DataFrame, gs_id: str) -> dict:
    """The row for ``gs_id`` as ``{column: value}``, checked (raises `_BadAnswer`).

    The row is the first whose stripped ``hstID`` is ``gs_id``; an answer without
    an ``hstID`` column must have a single row.  Its coordinates must be finite and
    in range; they are also given as ``ra``/``dec`` when spelled otherwise.
    """
    id_name = next((n for n in _ID_COLUMNS if n in table.columns), None)
    if id_name is not None:
        ids = table[id_name].map(lambda v: v.strip() if isinstance(v, str) else v)
        matches = np.flatnonzero((ids == gs_id).to_numpy())
        if not len(matches):
            found = ", ".join(repr(v) for v in ids.dropna().unique()[:5]) or "none"
            raise _NotInCatalog(f"no row whose hstID is {gs_id!r} among {len(table)} "
                                f"(hstIDs: {found})")
        raw = table.iloc[int(matches[0])]
    elif len(table) == 1:
        raw = table.iloc[0]
    else:
        raise _NotInCatalog(f"{len(table)} rows and no hstID column to tell which is {gs_id!r}")
    row = {name: _value(value) for name, value in raw.items()}
    ra_name, dec_name = _coordinate_columns(list(table.columns)) or ("ra", "dec")
    ra, dec = (pd.to_numeric(pd.Series([row[ra_name], row[dec_name]]), errors="coerce")
               .to_numpy(dtype=float))
    if not (np.isfinite(ra) and np.isfinite(dec) and 0 <= ra <= 360 and -90 <= dec <= 90):
        shown = [str(raw[n])[:30] for n in (ra_name, dec_name)]
        raise _NotCatalogCSV(f"a row whose {ra_name}/{dec_name} ({shown[0]!r}, {shown[1]!r}) "
                             "are not coordinates")
    row.setdefault("ra", float(ra))
    row.setdefault("dec", float(dec))
    return row


def _decode(response: requests.Response) -> str:
    """The body as text: the charset the server declares, else UTF-8 -- strictly.

    requests' ``response.text`` would guess, turning binary garbage into text
    that might then parse; a body that does not decode is not a catalog CSV.
    """
    match = re.search(r"charset=[\"']?([\w.:-]+)", response.headers.get("Content-Type", ""), re.I)
    encoding = match.group(1) if match else "utf-8-sig"
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "utf-8-sig"
    try:
        return response.content.decode(encoding)
    except UnicodeDecodeError:
        failure = _NotCatalogCSV(f"bytes that are not {encoding} text")
    raise failure


def _params(gs_id: str, version: str) -> dict[str, str]:
    """The query of one star in one catalog version.

    The version is sent as ``CATALOG`` (MAST's Catalog Access page) and as ``CAT``
    (what STScI's own jwst-fgs-countrate sends to this service); the service
    ignores a parameter it does not know.
    """
    return {"id": gs_id, "format": "csv", "CATALOG": version, "CAT": version}


def _request_url(gs_id: str, version: str) -> str:
    """The URL asked for one star, for messages (open it in a browser to see the answer)."""
    return str(requests.Request("GET", conf.gsc_url, params=_params(gs_id, version))
               .prepare().url)


def _fetch(http: requests.Session, gs_id: str, version: str, cache: os.PathLike) -> dict:
    """The catalog row of ``gs_id`` in catalog ``version``: from the cache, else asked."""
    path = os.path.join(cache, safe_name(version, "catalog version"),
                        f"{safe_name(gs_id, 'guide-star id')}.csv")

    def ask() -> bytes:
        response = http.get(conf.gsc_url, params=_params(gs_id, version), timeout=conf.timeout)
        failure = response_error(response, "Guide Star Catalog", setting="conf.gsc_url",
                                 token=False)
        if failure is not None:
            raise failure
        # cached as UTF-8 whatever charset the service declared: a cached file names none
        return _decode(response).encode("utf-8")

    # UnicodeDecodeError: only a cached file can fail to decode (ask() re-encodes)
    return cached_answer(path, ask, lambda body: _choose(_parse(body.decode("utf-8")), gs_id),
                         unusable=(_BadAnswer, UnicodeDecodeError))


def _ids(gs_ids: Iterable | str) -> list[str]:
    if isinstance(gs_ids, str):
        gs_ids = [gs_ids]
    out = []
    for value in gs_ids:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        text = str(value).strip()
        if text and text.lower() not in ("nan", "none", "<na>"):
            out.append(text)
    return list(dict.fromkeys(out))


def guide_star_properties(gs_ids: Iterable | str, *,
                          fallback: pd.DataFrame | None = None,
                          version: str | None = None) -> pd.DataFrame:
    """One row per guide star from the Guide Star Catalog, cached on disk.

    Parameters
    ----------
    gs_ids : str or iterable of str
        GSC ids (the files' GDSTARID); duplicates and missing values are dropped.
    fallback : DataFrame, optional
        A products table (``gs_id, gs_ra, gs_dec, gs_mag`` and optionally
        ``gsc_version``, e.g. ``GuideStarData.products``): used for stars the
        catalog cannot give, and for the catalog version each star's files name.
    version : str, optional
        The catalog version to ask for every star (e.g. ``"GSC30"``,
        ``"GSC2431"``).  Without it, each star's version is the ``gsc_version``
        (header ``GSC_VER``) of its first file in `fallback` that names one,
        else `DEFAULT_GSC_VERSION`.

    Returns
    -------
    pandas.DataFrame
        ``gs_id`` and ``gsc_version`` (the version asked) first, then the
        catalog's columns with normalized names (lower case, underscores, e.g.
        ``hstid, ra, dec, tmassjmag``; ``ra``/``dec`` also when the catalog
        spells them ``raICRS``/``RAJ2000``...; blanks are NaN), then
        ``source`` (``"gsc"`` or ``"header"``) and ``note`` (why a row comes
        from the headers: no row for the id in that version, service
        unreachable, an HTTP error status, or an answer that is not a catalog
        CSV).  Never raises for a service problem: a `UserWarning` points to
        the ``note`` column instead.  Only answers that pass the checks are
        cached, per version and id.
    """
    cache = conf.cache_dir / "gsc"
    http = session(retries=1)
    rows = []
    down: str | None = None  # once the service is unreachable, don't wait on it per star
    for gs_id in _ids(gs_ids):
        asked = _version(gs_id, version, fallback)
        try:
            if down is not None:
                raise ConnectionError(down)
            row = _fetch(http, gs_id, asked, cache)
            rows.append({"gs_id": gs_id, "gsc_version": asked, **row, "source": "gsc",
                         "note": ""})
            continue
        except _NotInCatalog as exc:
            note = (f"{gs_id!r} not found in Guide Star Catalog version {asked} "
                    f"({_request_url(gs_id, asked)} answered {exc}); values from the file "
                    "headers — check the id, and ask the version its files name (their "
                    "GSC_VER) with version=...")
        except _NotCatalogCSV as exc:
            note = (f"the Guide Star Catalog answered something that is not a catalog CSV "
                    f"({exc}); values from the file headers — {_ADVICE}; nothing was cached")
        except (requests.ConnectionError, requests.Timeout, ConnectionError) as exc:
            down = down or type(exc).__name__
            note = (f"Guide Star Catalog unreachable ({down}); values from the file headers "
                    "— call again when online")
        except ArchiveError as exc:  # an HTTP error status; the message names it
            note = (f"Guide Star Catalog unavailable ({exc}); values from the file headers "
                    f"— {_ADVICE}")
        except (requests.RequestException, ValueError, OSError) as exc:
            reason = type(exc).__name__ if isinstance(exc, requests.RequestException) else exc
            note = f"Guide Star Catalog unavailable ({reason}); values from the file headers"
        rows.append({**_from_headers(gs_id, fallback), "gsc_version": asked,
                     "source": "header", "note": note})
    fallen = [r for r in rows if r["source"] == "header"]
    if fallen:
        warnings.warn(f"some guide-star properties come from file headers (catalog unreachable, "
                      f"star not found or a bad answer); see the 'note' column — "
                      f"{fallen[0]['gs_id']}: {fallen[0]['note']}", stacklevel=2)
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=["gs_id", "gsc_version", "source", "note"])
    first = ("gs_id", "gsc_version")
    ordered = [*first, *[c for c in table.columns if c not in (*first, "source", "note")],
               "source", "note"]
    return table[ordered]


def _version(gs_id: str, version: str | None, fallback: pd.DataFrame | None) -> str:
    """The catalog version to ask for ``gs_id``: given, else its files' GSC_VER, else default."""
    if version is not None and str(version).strip():
        return str(version).strip()
    if fallback is not None and {"gs_id", "gsc_version"} <= set(fallback.columns):
        named = fallback.loc[fallback["gs_id"].astype(str).str.strip() == gs_id, "gsc_version"]
        for value in named:
            if isinstance(value, str) and value.strip():
                return value.strip()
    return DEFAULT_GSC_VERSION


def _from_headers(gs_id: str, fallback: pd.DataFrame | None) -> dict:
    row: dict = {"gs_id": gs_id}
    if fallback is not None and "gs_id" in fallback:
        match = fallback[fallback["gs_id"].astype(str).str.strip() == gs_id]
        if len(match):
            for header, name in _HEADER_COLUMNS.items():
                row[name] = match.iloc[0].get(header, np.nan)
    return row
