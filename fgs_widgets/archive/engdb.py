"""JWST engineering telemetry (mnemonics) through MAST's engineering-database CSV endpoint.

``GET <eng server>/api/v0.1/Download/file?uri=mast:jwstedb/<NAME>-<start>-<end>.csv``
with ``Authorization: token <T>``; the CSV has ``theTime,MJD,euvalue,sqltype``.
Long ranges are fetched in chunks (default one day) and each chunk is cached
on disk (without the token) so a repeated request costs nothing.
"""

from __future__ import annotations

import io
import itertools
import os
import re
from datetime import datetime

import numpy as np
import pandas as pd
import requests
from astropy.time import Time

from .config import conf
from .errors import AuthenticationError, TelemetryError
from .http import check_response, session, unreachable
from .tokens import Token, resolve_token

__all__ = ["get_mnemonic"]

_NAME = re.compile(r"^[A-Z0-9_]+$")
TELEMETRY_COLUMNS = ("time", "utc", "value", "mnemonic")


def _mjd(value) -> float:
    if isinstance(value, Time):
        return float(value.utc.mjd)
    if isinstance(value, datetime):
        return float(Time(value).utc.mjd)
    if isinstance(value, str):
        return float(Time(value, scale="utc").mjd)
    return float(value)


def _stamp(mjd: float) -> str:
    return Time(mjd, format="mjd", scale="utc").strftime("%Y%m%dT%H%M%S")


def _empty(name: str, note: str) -> pd.DataFrame:
    table = pd.DataFrame({"time": pd.Series(dtype=float), "utc": pd.Series(dtype="datetime64[ns]"),
                          "value": pd.Series(dtype=object), "mnemonic": pd.Series(dtype=object)})
    table.attrs["note"] = note
    table.attrs["mnemonic"] = name
    return table


def _parse(text: str, name: str) -> pd.DataFrame:
    raw = pd.read_csv(io.StringIO(text), dtype={"euvalue": str, "sqltype": str})
    missing = {"theTime", "MJD", "euvalue", "sqltype"} - set(raw.columns)
    if missing:
        raise TelemetryError(f"engineering DB answer for {name} lacks column(s) {sorted(missing)}")
    if raw.empty:
        return _empty(name, "")
    numeric = raw["sqltype"].str.strip().str.lower().isin(["real", "float", "int", "double"])
    value = raw["euvalue"].astype(str).str.strip()
    values = pd.to_numeric(value, errors="coerce") if numeric.all() else value.astype(object)
    return pd.DataFrame({"time": raw["MJD"].astype(np.float64),
                         "utc": pd.to_datetime(raw["theTime"], format="ISO8601"),
                         "value": values, "mnemonic": name})


def get_mnemonic(name: str, start, end, *, token: str | Token | None = None,
                 chunk_days: float = 1.0, cache: bool = True) -> pd.DataFrame:
    """Telemetry of one mnemonic between two times.

    Parameters
    ----------
    name : str
        e.g. ``"SA_ZHGAUPST"`` (high-gain antenna), ``"INIS_FWMTRCURR"``.
    start, end : MJD float, ISO string, datetime or astropy Time
    token : str, optional
        MAST token (required by the service; else ``MAST_API_TOKEN``/keyring).
    chunk_days : float
        Longest range asked in one request.
    cache : bool
        Reuse and store chunks under ``conf.cache_dir / "edb"``.

    Returns
    -------
    pandas.DataFrame
        ``time`` (MJD), ``utc``, ``value`` (float for numeric mnemonics, str
        for text ones), ``mnemonic``.  An empty range or unknown mnemonic gives
        an empty table whose ``attrs["note"]`` says so.

    Raises
    ------
    TelemetryError
        No token (the message says how to give one; local events work without),
        a bad mnemonic name or range.
    AuthenticationError, MastUnreachable
    """
    mnemonic = str(name).strip().upper()
    if not _NAME.match(mnemonic):
        raise TelemetryError(f"{name!r} is not a mnemonic name (letters, digits, underscores)")
    t0, t1 = _mjd(start), _mjd(end)
    if not t1 > t0:
        raise TelemetryError(f"{mnemonic}: end ({t1}) must be after start ({t0})")
    secret = resolve_token(token)
    if not secret:
        raise TelemetryError(
            "engineering telemetry needs a MAST token: pass token=..., set MAST_API_TOKEN, or "
            "log in with astroquery (get one at https://auth.mast.stsci.edu/token). Local "
            "events (guide-star changes, file boundaries, HGA from the files) need none.")
    http = session()
    tables = []
    edges = np.append(np.arange(t0, t1, chunk_days), t1)
    for a, b in itertools.pairwise(edges):
        tables.append(_chunk(http, mnemonic, a, b, secret, cache))
    table = pd.concat([t for t in tables if len(t)], ignore_index=True) if any(
        len(t) for t in tables) else _empty(mnemonic, "")
    if table.empty:
        table = _empty(mnemonic, f"no {mnemonic} samples between MJD {t0:.5f} and {t1:.5f} "
                                 "(unknown mnemonic or empty range)")
    else:
        table = table.drop_duplicates("time").sort_values("time").reset_index(drop=True)
    table.attrs.setdefault("mnemonic", mnemonic)
    return table


def _chunk(http: requests.Session, name: str, a: float, b: float, secret: Token,
           cache: bool) -> pd.DataFrame:
    file = f"{name}-{_stamp(a)}-{_stamp(b)}.csv"
    path = conf.cache_dir / "edb" / file
    if cache and path.exists():
        return _parse(path.read_text(), name)
    url = f"{conf.eng_server}/api/v0.1/Download/file"
    what = f"engineering DB ({conf.eng_server}) for {name}"
    try:
        response = http.get(url, params={"uri": f"mast:jwstedb/{file}"},
                            headers=secret.header(), timeout=conf.timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise unreachable(what, exc) from exc
    if response.status_code == 404:
        return _empty(name, "")
    try:
        check_response(response, what)
    except AuthenticationError as exc:
        raise AuthenticationError(f"{what}: the MAST token was refused (HTTP "
                                  f"{response.status_code}); check it is valid and current"
                                  ) from exc.__cause__
    table = _parse(response.text, name)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{file}.{os.getpid()}.partial")
        temp.write_text(response.text)
        os.replace(temp, path)
    return table
