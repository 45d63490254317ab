"""Guide Star Catalog properties of guide stars (the seed's ``object_properties``).

``GET <conf.gsc_url>?id=<GDSTARID>&format=csv`` answers a CSV whose first line
is a title; the column names are read from the CSV and normalized (lower case,
underscores) rather than hard-coded, since their exact spelling is not
documented.

An answer is used only if it is a catalog CSV: not an HTML page (a proxy's or
login page's, which may well mention "RA" and "Dec"), with real ``ra`` and
``dec`` columns (optionally with a unit suffix, ``ra_deg``) and a first row
whose ra/dec are finite coordinates in range.  Only such answers are cached,
as UTF-8 text, one file per id: ``conf.cache_dir/gsc/<GDSTARID>.csv``; a cached
file that no longer passes these checks is dropped and fetched again.  Any
other answer (HTTP error, HTML, garbage) gives the header values and a
``note`` saying what the catalog did; this module never raises for service
problems.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import re
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
import requests

from ..atomic import atomic_write
from .config import conf
from .downloads import safe_name
from .errors import ArchiveError
from .http import response_error, session

__all__ = ["guide_star_properties"]

#: products column -> output column for the header fallback
_HEADER_COLUMNS = {"gs_ra": "ra", "gs_dec": "dec", "gs_mag": "fgs_mag"}
#: normalized column names that are coordinates (a unit or frame suffix is allowed, but
#: not e.g. "raepsilon" or "ra_err": those are not the position)
_RA = re.compile(r"^(ra|right_ascension)(_(j2000|icrs))?(_deg(ree)?s?)?$")
_DEC = re.compile(r"^(dec|decl|declination)(_(j2000|icrs))?(_deg(ree)?s?)?$")
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
    """The catalog CSV as a table with normalized column names (raises `_BadAnswer`).

    The first line is a title; in case a proxy or a future service version drops
    it, the header is taken to be the first of the first five lines that has
    real ra and dec columns.
    """
    if _looks_like_html(text):
        raise _NotCatalogCSV("an HTML page")
    lines = [line for line in text.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines[:5])
                  if _coordinate_columns([_normalize(c) for c in line.split(",")])), None)
    if start is None:
        # the catalog's own "no match" answer is a title and a message, without a header
        raise _NotInCatalog("the answer has no CSV header with ra/dec columns")
    failure: _BadAnswer | None = None
    try:
        table = pd.read_csv(io.StringIO("\n".join(lines[start:])))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        failure = _NotCatalogCSV(f"an unparsable CSV ({type(exc).__name__})")
    if failure is not None:  # raised outside the except block: nothing chained
        raise failure
    table.columns = _unique([_normalize(c) for c in table.columns])
    if table.empty:
        raise _NotInCatalog("the catalog returned no row")
    ra_name, dec_name = _coordinate_columns(list(table.columns)) or ("ra", "dec")
    ra = pd.to_numeric(pd.Series([table[ra_name].iloc[0]]), errors="coerce").iloc[0]
    dec = pd.to_numeric(pd.Series([table[dec_name].iloc[0]]), errors="coerce").iloc[0]
    if not (np.isfinite(ra) and np.isfinite(dec) and 0 <= ra <= 360 and -90 <= dec <= 90):
        shown = [str(v)[:30] for v in (table[ra_name].iloc[0], table[dec_name].iloc[0])]
        raise _NotCatalogCSV(f"a row whose {ra_name}/{dec_name} ({shown[0]!r}, {shown[1]!r}) "
                             "are not coordinates")
    return table


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


def _cached(path: str) -> pd.DataFrame | None:
    """The cached answer, or None if absent or no longer usable (then it is dropped)."""
    try:
        with open(path, "rb") as handle:
            body = handle.read()
    except OSError:
        return None
    try:
        return _parse(body.decode("utf-8"))
    except (_BadAnswer, UnicodeDecodeError):
        # written by an older version, damaged, or edited: refetch rather than trust it (if
        # it cannot be removed, the fresh answer replaces it below)
        with contextlib.suppress(OSError):
            os.remove(path)
        return None


def _fetch(http: requests.Session, gs_id: str, cache: os.PathLike) -> pd.DataFrame:
    path = os.path.join(cache, f"{safe_name(gs_id, 'guide-star id')}.csv")
    table = _cached(path)
    if table is not None:
        return table
    response = http.get(conf.gsc_url, params={"id": gs_id, "format": "csv"},
                        timeout=conf.timeout)
    failure = response_error(response, "Guide Star Catalog", setting="conf.gsc_url", token=False)
    if failure is not None:
        raise failure
    text = _decode(response)
    # checked before caching: never cache an unusable answer
    table = _parse(text)
    with atomic_write(path) as temp, open(temp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return table


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
                          fallback: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per guide star from the Guide Star Catalog, cached on disk.

    Parameters
    ----------
    gs_ids : str or iterable of str
        GSC ids (the files' GDSTARID); duplicates and missing values are dropped.
    fallback : DataFrame, optional
        A products table (``gs_id, gs_ra, gs_dec, gs_mag``, e.g.
        ``GuideStarData.products``): used for stars the catalog cannot give.

    Returns
    -------
    pandas.DataFrame
        ``gs_id`` first, then the catalog's columns with normalized names
        (lower case, underscores, e.g. ``ra, dec, gaia_dr3_source_id, jmag``),
        then ``source`` (``"gsc"`` or ``"header"``) and ``note`` (why a row
        comes from the headers: star not found, service unreachable, an HTTP
        error status, or an answer that is not a catalog CSV).  Never raises
        for a service problem: a `UserWarning` points to the ``note`` column
        instead.  Only answers that pass the checks are cached.
    """
    cache = conf.cache_dir / "gsc"
    http = session(retries=1)
    rows = []
    down: str | None = None  # once the service is unreachable, don't wait on it per star
    for gs_id in _ids(gs_ids):
        try:
            if down is not None:
                raise ConnectionError(down)
            table = _fetch(http, gs_id, cache)
            rows.append({"gs_id": gs_id, **table.iloc[0].to_dict(), "source": "gsc", "note": ""})
            continue
        except _NotInCatalog as exc:
            note = f"not found in the Guide Star Catalog ({exc}); values from the file headers"
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
        rows.append({**_from_headers(gs_id, fallback), "source": "header", "note": note})
    if any(r["source"] == "header" for r in rows):
        warnings.warn("some guide-star properties come from file headers (catalog unreachable, "
                      "star not found or a bad answer); see the 'note' column", stacklevel=2)
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=["gs_id", "source", "note"])
    ordered = ["gs_id", *[c for c in table.columns if c not in ("gs_id", "source", "note")],
               "source", "note"]
    return table[ordered]


def _from_headers(gs_id: str, fallback: pd.DataFrame | None) -> dict:
    row: dict = {"gs_id": gs_id}
    if fallback is not None and "gs_id" in fallback:
        match = fallback[fallback["gs_id"].astype(str).str.strip() == gs_id]
        if len(match):
            for header, name in _HEADER_COLUMNS.items():
                row[name] = match.iloc[0].get(header, np.nan)
    return row
