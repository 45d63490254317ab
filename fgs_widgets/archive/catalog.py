"""Guide Star Catalog properties of guide stars (the seed's ``object_properties``)."""

from __future__ import annotations

import io
import os
import re
import warnings

import numpy as np
import pandas as pd
import requests

from .config import conf
from .downloads import safe_name
from .http import session

__all__ = ["guide_star_properties"]

_HEADER_COLUMNS = {"gs_ra": "ra", "gs_dec": "dec", "gs_mag": "fgs_mag"}


def _normalize(name: str) -> str:
    """'Gaia DR3 Source ID' -> 'gaia_dr3_source_id', 'RA(deg)' -> 'ra_deg'."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _parse(text: str) -> pd.DataFrame:
    lines = text.splitlines()
    # the service's CSV starts with a title line; find the header row by its commas
    start = next((i for i, line in enumerate(lines[:5]) if line.count(",") >= 2), None)
    if start is None:
        raise ValueError("no CSV header found")
    table = pd.read_csv(io.StringIO("\n".join(lines[start:])))
    table.columns = [_normalize(c) for c in table.columns]
    return table


def _fetch(gs_id: str, cache: os.PathLike) -> pd.DataFrame:
    path = os.path.join(cache, f"{safe_name(gs_id, 'guide-star id')}.csv")
    if os.path.exists(path):
        with open(path) as handle:
            return _parse(handle.read())
    response = session().get(conf.gsc_url, params={"id": gs_id, "format": "csv"},
                             timeout=conf.timeout)
    response.raise_for_status()
    table = _parse(response.text)
    os.makedirs(cache, exist_ok=True)
    temp = path + ".partial"
    with open(temp, "w") as handle:
        handle.write(response.text)
    os.replace(temp, path)
    return table


def guide_star_properties(gs_ids, *, fallback: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per guide star from the Guide Star Catalog, cached on disk.

    Parameters
    ----------
    gs_ids : iterable of str
        GSC ids (the files' GDSTARID).
    fallback : DataFrame, optional
        A products table (``gs_id, gs_ra, gs_dec, gs_mag``): used for stars the
        catalog cannot give, with a ``note`` saying so.

    Returns
    -------
    pandas.DataFrame
        ``gs_id`` first, then the catalog's columns with normalized names
        (lower case, underscores), then ``source`` ("gsc" or "header") and ``note``.
        Never raises for an unreachable service.
    """
    cache = conf.cache_dir / "gsc"
    rows = []
    for gs_id in dict.fromkeys(str(g).strip() for g in gs_ids if g is not None):
        try:
            table = _fetch(gs_id, cache)
            if table.empty:
                raise ValueError("the catalog returned no row")
            row = table.iloc[0].to_dict()
            rows.append({"gs_id": gs_id, **row, "source": "gsc", "note": ""})
        except (requests.RequestException, ValueError, OSError) as exc:
            reason = type(exc).__name__ if isinstance(exc, requests.RequestException) else exc
            note = f"Guide Star Catalog unavailable ({reason}); values from the file headers"
            row = {"gs_id": gs_id}
            if fallback is not None and "gs_id" in fallback:
                match = fallback[fallback["gs_id"].astype(str) == gs_id]
                if len(match):
                    for header, name in _HEADER_COLUMNS.items():
                        row[name] = match.iloc[0].get(header, np.nan)
            rows.append({**row, "source": "header", "note": note})
    if any(r["source"] == "header" for r in rows):
        warnings.warn("some guide-star properties come from file headers (catalog unreachable); "
                      "see the 'note' column", stacklevel=2)
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=["gs_id", "source", "note"])
    ordered = ["gs_id", *[c for c in table.columns if c not in ("gs_id", "source", "note")],
               "source", "note"]
    return table[ordered]
