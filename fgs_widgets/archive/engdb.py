"""JWST engineering telemetry (mnemonics) through MAST's engineering-database CSV endpoint.

``GET <eng server>/api/v0.1/Download/file?uri=mast:jwstedb/<NAME>-<start>-<end>.csv``
with ``Authorization: token <T>`` (the request the JWST pipeline's own
``jwst.lib.engdb_mast`` makes; ``ENG_BASE_URL`` is honoured the same way).  The
answer is a CRLF CSV ``theTime,MJD,euvalue,sqldataType`` (``sqltype`` is
accepted too) whose first and last rows may lie just outside the range asked:
the service adds the bracketing samples.

Long ranges are fetched in chunks (``conf.edb_chunk_days``, one day by
default) and each settled chunk is cached on disk -- the CSV text only, never
the token -- so a repeated request costs nothing.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import time
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import requests
from astropy.time import Time

from .config import conf
from .errors import ArchiveError, AuthenticationError, TelemetryError
from .http import check_response, session, unreachable
from .tokens import Token, resolve_token

__all__ = ["TELEMETRY_COLUMNS", "get_mnemonic"]

_NAME = re.compile(r"^[A-Z0-9_]+$")
TELEMETRY_COLUMNS = ("time", "utc", "value", "mnemonic")
#: SQL types whose euvalue is a number
_NUMERIC = {"real", "float", "double", "decimal", "numeric", "int", "integer", "tinyint",
            "smallint", "bigint"}
#: chunks ending less than this long ago are not cached: telemetry still arrives for days
_SETTLE_DAYS = 3.0
_OFFLINE = ("engineering telemetry is unavailable; local events (guide-star changes, file "
            "boundaries, HGA motion from the files) still work without it")


def _mjd(value) -> float:
    if isinstance(value, Time):
        return float(value.utc.mjd)
    if isinstance(value, datetime):
        return float(Time(value).utc.mjd)
    if isinstance(value, str):
        return float(Time(value, scale="utc").mjd)
    return float(value)


def _stamp(mjd: float, up: bool = False) -> str:
    """``YYYYMMDDTHHMMSS``; ``up`` rounds to the next second so a range's end is included."""
    moment = Time(mjd, format="mjd", scale="utc").to_datetime()
    if up and moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.strftime("%Y%m%dT%H%M%S")


def _empty(name: str, note: str) -> pd.DataFrame:
    table = pd.DataFrame({"time": pd.Series(dtype=float), "utc": pd.Series(dtype="datetime64[ns]"),
                          "value": pd.Series(dtype=object), "mnemonic": pd.Series(dtype=object)})
    table.attrs["note"] = note
    table.attrs["mnemonic"] = name
    return table


def _parse(text: str, name: str) -> pd.DataFrame:
    """The service's CSV as ``time, utc, value, mnemonic`` (raises TelemetryError if it is not)."""
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise TelemetryError(f"engineering DB answer for {name} is not the expected CSV "
                             f"({type(exc).__name__}); is conf.eng_server right?") from None
    columns = {c.strip().lower(): c for c in raw.columns}
    columns.setdefault("sqltype", columns.get("sqldatatype"))
    missing = [c for c in ("thetime", "mjd", "euvalue", "sqltype") if not columns.get(c)]
    if missing:
        raise TelemetryError(f"engineering DB answer for {name} lacks column(s) {missing} "
                             f"(got {list(raw.columns)}); is conf.eng_server right?")
    if raw.empty:
        return _empty(name, "")
    kinds = raw[columns["sqltype"]].fillna("").str.strip().str.lower()
    value = raw[columns["euvalue"]].fillna("").str.strip()
    numeric = kinds.isin(_NUMERIC).all()
    values = pd.to_numeric(value, errors="coerce") if numeric else value.astype(object)
    # "2022-02-02 22:24:57.797000" and "...Z" alike become naive UTC, so chunks concatenate
    utc = pd.to_datetime(raw[columns["thetime"]], format="ISO8601", utc=True).dt.tz_localize(None)
    return pd.DataFrame({"time": pd.to_numeric(raw[columns["mjd"]]).astype(np.float64),
                         "utc": utc, "value": values, "mnemonic": name})


def get_mnemonic(name: str, start, end, *, token: str | Token | None = None,
                 chunk_days: float | None = None, cache: bool = True,
                 bracket: bool = False) -> pd.DataFrame:
    """Telemetry of one mnemonic between two times.

    Parameters
    ----------
    name : str
        e.g. ``"SA_ZHGAUPST"`` (high-gain antenna), ``"INIS_FWMTRCURR"``.
    start, end : MJD float, ISO string, datetime or astropy Time
        UTC range (inclusive).
    token : str or Token, optional
        MAST token (required by the service; else ``MAST_API_TOKEN`` / astroquery's keyring).
    chunk_days : float, optional
        Longest range asked in one request (default ``conf.edb_chunk_days``, 1 day).
    cache : bool
        Reuse and store chunks under ``conf.cache_dir / "edb"`` (the token is
        never part of what is stored; chunks of the last few days are not cached
        because the archive may still be filling them).
    bracket : bool
        Keep the sample just before `start` and just after `end` that the service
        adds (useful for the state of a text mnemonic when the range begins).

    Returns
    -------
    pandas.DataFrame
        ``time`` (MJD, float64), ``utc`` (datetime64, naive UTC), ``value`` (float
        for numeric mnemonics, str for text ones), ``mnemonic``; sorted by time.
        An empty range or unknown mnemonic gives an empty table whose
        ``attrs["note"]`` says so.

    Raises
    ------
    TelemetryError
        No token (the message says how to give one; local events work without),
        a bad mnemonic name or range, or a service error.
    AuthenticationError
        HTTP 401/403: the token was refused.
    MastUnreachable
        The engineering DB could not be reached (or did not answer in time).
    """
    mnemonic = str(name).strip().upper()
    if not _NAME.match(mnemonic):
        raise TelemetryError(f"{name!r} is not a mnemonic name (letters, digits, underscores)")
    t0, t1 = _mjd(start), _mjd(end)
    chunk_days = conf.edb_chunk_days if chunk_days is None else float(chunk_days)
    if not chunk_days > 0:
        raise ValueError(f"chunk_days must be positive, not {chunk_days!r}")
    if not t1 > t0:
        raise TelemetryError(f"{mnemonic}: end ({t1}) must be after start ({t0})")
    secret = resolve_token(token)
    if not secret:
        raise TelemetryError(
            "engineering telemetry needs a MAST token: pass token=..., set MAST_API_TOKEN, or "
            "log in with astroquery (get one at https://auth.mast.stsci.edu/token). Local "
            "events (guide-star changes, file boundaries, HGA from the files) need none.")
    http = session()
    edges = np.append(np.arange(t0, t1, chunk_days), t1)
    tables = [t for a, b in itertools.pairwise(edges)
              if len(t := _chunk(http, mnemonic, a, b, secret, cache))]
    note = (f"no {mnemonic} samples between MJD {t0:.5f} and {t1:.5f} "
            "(unknown mnemonic or empty range)")
    if not tables:
        return _empty(mnemonic, note)
    table = pd.concat(tables, ignore_index=True)
    table = table.drop_duplicates("time").sort_values("time", kind="stable")
    inside = (table["time"] >= t0) & (table["time"] <= t1)
    if bracket:  # the last sample before the range and the first after it
        before = table.index[table["time"] < t0][-1:]
        after = table.index[table["time"] > t1][:1]
        inside.loc[before.append(after)] = True
    table = table[inside].reset_index(drop=True)
    if table.empty:
        return _empty(mnemonic, note)
    table.attrs["mnemonic"] = mnemonic
    return table


def _chunk(http: requests.Session, name: str, a: float, b: float, secret: Token,
           cache: bool) -> pd.DataFrame:
    file = f"{name}-{_stamp(a)}-{_stamp(b, up=True)}.csv"
    path = conf.cache_dir / "edb" / file
    if cache and path.exists():
        return _parse(path.read_text(), name)
    url = f"{conf.eng_server}/api/v0.1/Download/file"
    what = f"engineering DB ({conf.eng_server}) for {name}"
    try:
        response = http.get(url, params={"uri": f"mast:jwstedb/{file}"},
                            headers=secret.header(), timeout=conf.timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise unreachable(what, exc, _OFFLINE) from exc
    if response.status_code == 404:  # the service's answer for a name it does not know
        return _empty(name, "")
    try:
        check_response(response, what)
    except AuthenticationError:
        raise AuthenticationError(
            f"{what}: the MAST token was refused (HTTP {response.status_code}); check it is "
            "valid, current and has engineering-DB rights (https://auth.mast.stsci.edu/token)"
        ) from None
    except ArchiveError as exc:
        raise TelemetryError(f"{exc} ({_OFFLINE})") from None
    table = _parse(response.text, name)  # parsed first: an unusable answer is never cached
    settled = b < Time(time.time(), format="unix").utc.mjd - _SETTLE_DAYS
    if cache and settled:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{file}.{os.getpid()}.partial")
        temp.write_text(response.text)
        os.replace(temp, path)
    return table
