"""Guide Star Catalog properties of guide stars (the seed's ``object_properties``).

``GET <conf.gsc_url>?id=<GDSTARID>&format=csv`` answers a CSV whose first line
is a title; the column names are read from the CSV and normalized (lower case,
underscores) rather than hard-coded, since their exact spelling is not
documented.  Answers are cached on disk per id under ``conf.cache_dir/gsc``.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
import requests

from .config import conf
from .downloads import safe_name
from .errors import ArchiveError
from .http import session

__all__ = ["guide_star_properties"]

#: products column -> output column for the header fallback
_HEADER_COLUMNS = {"gs_ra": "ra", "gs_dec": "dec", "gs_mag": "fgs_mag"}


class _NotInCatalog(ValueError):
    """The catalog answered, but without a row for this id."""


def _normalize(name: str) -> str:
    """'Gaia DR3 Source ID' -> 'gaia_dr3_source_id', 'RA(deg)' -> 'ra_deg'."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _parse(text: str) -> pd.DataFrame:
    """The catalog CSV as a table with normalized column names.

    The first line is a title; in case a proxy or a future service version drops
    it, the header is taken to be the first line that names both ra and dec.
    """
    lines = [line for line in text.splitlines() if line.strip()]

    def is_header(line: str) -> bool:
        names = [_normalize(c) for c in line.split(",")]
        return any(n.startswith("ra") for n in names) and any(n.startswith("dec") for n in names)

    start = next((i for i, line in enumerate(lines[:5]) if is_header(line)), None)
    if start is None:
        raise _NotInCatalog("the answer has no CSV header with ra/dec columns")
    table = pd.read_csv(io.StringIO("\n".join(lines[start:])))
    table.columns = [_normalize(c) for c in table.columns]
    if table.empty:
        raise _NotInCatalog("the catalog returned no row")
    return table


def _fetch(http: requests.Session, gs_id: str, cache: os.PathLike) -> pd.DataFrame:
    path = os.path.join(cache, f"{safe_name(gs_id, 'guide-star id')}.csv")
    if os.path.exists(path):
        with open(path) as handle:
            return _parse(handle.read())
    response = http.get(conf.gsc_url, params={"id": gs_id, "format": "csv"},
                        timeout=conf.timeout)
    response.raise_for_status()
    table = _parse(response.text)  # parsed before caching: never cache an unusable answer
    os.makedirs(cache, exist_ok=True)
    temp = f"{path}.{os.getpid()}.partial"
    with open(temp, "w") as handle:
        handle.write(response.text)
    os.replace(temp, path)
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
        comes from the headers).  Never raises for an unreachable service: a
        `UserWarning` points to the ``note`` column instead.
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
        except (requests.ConnectionError, requests.Timeout, ConnectionError) as exc:
            down = down or type(exc).__name__
            note = (f"Guide Star Catalog unreachable ({down}); values from the file headers "
                    "— call again when online")
        except (requests.RequestException, ValueError, OSError, ArchiveError) as exc:
            reason = type(exc).__name__ if isinstance(exc, requests.RequestException) else exc
            note = f"Guide Star Catalog unavailable ({reason}); values from the file headers"
        rows.append({**_from_headers(gs_id, fallback), "source": "header", "note": note})
    if any(r["source"] == "header" for r in rows):
        warnings.warn("some guide-star properties come from file headers (catalog unreachable "
                      "or star not found); see the 'note' column", stacklevel=2)
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
