"""JWST engineering telemetry (mnemonics) through MAST's engineering-database CSV endpoint.

``GET <eng server>/api/v0.1/Download/file?uri=mast:jwstedb/<NAME>-<start>-<end>.csv``
with ``Authorization: token <T>`` (the request the JWST pipeline's own
``jwst.lib.engdb_mast`` makes; ``ENG_BASE_URL`` is honoured the same way).  The
answer is a CRLF CSV ``theTime,MJD,euvalue,sqldataType`` (``sqltype`` is
accepted too) whose first and last rows may lie just outside the range asked:
the service adds the bracketing samples.  The body is decoded strictly as
UTF-8 (the service sends ASCII) and every column is checked: an answer that
is not such a CSV raises `TelemetryError` and is never cached.

Long ranges are fetched in chunks (``conf.edb_chunk_days``, one day by
default).  Each settled chunk that holds samples is cached on disk as the CSV
the service sent, under ``conf.cache_dir/edb/<fingerprint>/<NAME>-<start>-<end>.csv``.
``<fingerprint>`` is a keyed BLAKE2b digest of the token, keyed with a random
salt kept in ``conf.cache_dir/edb/.salt``: a different token never reads
another token's chunks (it asks the service, which decides), and neither the
token nor a plain hash of it is written to disk.  Not cached: chunks ending in
the last ``_SETTLE_DAYS`` days and empty answers (the archive may still be
filling them).  A cached file that no longer parses is dropped and fetched again.

Requests follow the pipeline client's policy: ``conf.eng_timeout`` (600 s,
env ``ENG_TIMEOUT``) and ``conf.eng_retries`` (10, env ``ENG_RETRIES``) with
backoff ``conf.eng_backoff`` (1.0), retrying failed connections and HTTP
400-403, 405-459 and 500-519 (the service answers passing trouble with 4xx
too, jwst PR 7026).  Each retry is reported (``progress=`` and logging).  A
404 is final and an error: a wrong server or an unknown mnemonic.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import requests
from astropy.time import Time

from .answer_cache import cached_answer
from .config import conf
from .errors import AuthenticationError, TelemetryError
from .http import response_error, retries_made, send, session
from .tokens import Token, resolve_token

__all__ = ["TELEMETRY_COLUMNS", "get_mnemonic"]

_log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Z0-9_]+")  # fullmatch: "$" would let a newline end it
TELEMETRY_COLUMNS = ("time", "utc", "value", "mnemonic")
#: SQL types whose euvalue is a number
_NUMERIC = {"real", "float", "double", "decimal", "numeric", "int", "integer", "tinyint",
            "smallint", "bigint"}
#: euvalue spellings of "no value" for a numeric mnemonic (kept as NaN, not an error)
_MISSING = {"", "nan"}
#: chunks ending less than this long ago are not cached: telemetry still arrives for days
_SETTLE_DAYS = 3.0
#: bytes of the per-cache random salt that keys the token fingerprint
_SALT_BYTES = 16
#: statuses the pipeline's client (jwst.lib.engdb_mast) retries: 4xx too, but not 404
_RETRY_STATUSES = frozenset((*range(400, 404), *range(405, 460), *range(500, 520)))
_OFFLINE = ("engineering telemetry is unavailable; local events (guide-star changes, file "
            "boundaries, HGA motion from the files) still work without it")
_BAD_ANSWER = ("nothing was cached; try again later, and if it persists check conf.eng_server "
               "or report it to the archive")


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


def _example(value: object) -> str:
    """A server-sent value, shortened, for an error message (a hostile answer could be huge)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _decode(body: bytes, name: str) -> str:
    """The answer as text; anything but UTF-8 is a `TelemetryError`.

    requests' ``response.text`` guesses an encoding when the server names none,
    which would turn garbage into plausible text; the service sends ASCII.  A
    UTF-8 byte-order mark is accepted (and dropped) since it is harmless.
    """
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # built here, raised below: the UnicodeDecodeError (holding the whole body) is not chained
        failure = TelemetryError(
            f"engineering DB answer for {name} is not UTF-8 text (byte "
            f"{_example(body[exc.start:exc.start + 8])} at offset {exc.start}); {_BAD_ANSWER}")
    raise failure


def _bad_column(name: str, column: str, raw: pd.Series, bad: pd.Series, what: str,
                kinds: pd.Series | None = None) -> TelemetryError:
    """The error for the rows of ``column`` flagged in ``bad``: the first one as an example."""
    row = int(np.flatnonzero(bad.to_numpy())[0])
    kind = f" although its type is {kinds.iloc[row]!r}" if kinds is not None else ""
    return TelemetryError(
        f"engineering DB answer for {name}: column {column} holds {int(bad.sum())} value(s) "
        f"that are not {what}{kind}, e.g. data row {row + 1}: {_example(raw.iloc[row])}; "
        f"{_BAD_ANSWER}")


def _parse(text: str, name: str) -> pd.DataFrame:
    """The service's CSV as ``time, utc, value, mnemonic`` (raises TelemetryError if it is not).

    Every conversion is checked here rather than left to pandas, whose own
    ``ValueError`` would name neither the mnemonic nor the column.  An empty
    ``euvalue`` of a numeric mnemonic (or the text ``nan``) is kept as NaN -- a
    sample without a value -- while any other text there is an error: silently
    turning it into NaN would hide a wrong type or a corrupt answer.
    """
    failure: TelemetryError | None = None
    try:
        # keep_default_na=False: the text exactly as sent ("NULL" is not quietly NaN)
        raw = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True,
                          keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        failure = TelemetryError(f"engineering DB answer for {name} is not the expected CSV "
                                 f"({type(exc).__name__}); is conf.eng_server right?")
    if failure is not None:  # raised outside the except block: nothing is chained
        raise failure
    columns = {c.strip().lower(): c for c in raw.columns}
    columns.setdefault("sqltype", columns.get("sqldatatype"))
    missing = [c for c in ("thetime", "mjd", "euvalue", "sqltype") if not columns.get(c)]
    if missing:
        raise TelemetryError(f"engineering DB answer for {name} lacks column(s) {missing} "
                             f"(got {list(raw.columns)}); is conf.eng_server right?")
    if raw.empty:
        return _empty(name, "")
    stamps = raw[columns["thetime"]].str.strip()
    # "2022-02-02 22:24:57.797000" and "...Z" alike become naive UTC, so chunks concatenate
    utc = pd.to_datetime(stamps, format="ISO8601", utc=True, errors="coerce")
    if utc.isna().any():
        raise _bad_column(name, columns["thetime"], stamps, utc.isna(), "ISO times")
    mjd_text = raw[columns["mjd"]].str.strip()
    mjd = pd.to_numeric(mjd_text, errors="coerce").astype(np.float64)
    if not np.isfinite(mjd).all():
        raise _bad_column(name, columns["mjd"], mjd_text, ~np.isfinite(mjd), "numbers (MJD)")
    kinds = raw[columns["sqltype"]].str.strip().str.lower()
    value = raw[columns["euvalue"]].str.strip()
    typed = kinds.isin(_NUMERIC)
    number = pd.to_numeric(value, errors="coerce")
    # a row whose type says number must hold one (or nothing); text there is a corrupt answer
    wrong = typed & number.isna() & ~value.str.lower().isin(_MISSING)
    if wrong.any():
        raise _bad_column(name, columns["euvalue"], value, wrong, "numbers", kinds)
    values = number.astype(np.float64) if typed.all() else value.astype(object)
    return pd.DataFrame({"time": mjd, "utc": utc.dt.tz_localize(None), "value": values,
                         "mnemonic": name})


def _salt(folder: Path) -> bytes:
    """The cache's random salt (created once, shared by every process using the folder)."""
    path = folder / ".salt"
    for _ in range(3):
        try:
            salt: bytes | None = path.read_bytes()
        except FileNotFoundError:
            salt = None
        if salt is not None and len(salt) == _SALT_BYTES:
            return salt
        if salt is not None:  # damaged: a new salt only orphans old chunks (fetched again)
            path.unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        # not atomic_write, which renames over whatever is there: the salt is created with
        # a hard link, which never replaces, so racing processes keep the first one
        temp = folder / f".salt.{os.getpid()}.{secrets.token_hex(4)}.partial"
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "wb") as out:
            out.write(secrets.token_bytes(_SALT_BYTES))
        try:
            # a hard link never replaces an existing file: racing processes agree on one salt
            os.link(temp, path)
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    raise TelemetryError(f"cannot set up the telemetry cache salt {path}; remove that file, "
                         "check the cache folder is writable, or pass cache=False")


def _fingerprint(secret: Token) -> str:
    """The token's cache folder name: keyed BLAKE2b, 16 hex digits.

    Keyed with the cache's own random salt, so the name is neither the token
    nor a plain hash that could be checked against a guessed or leaked token
    elsewhere; 64 bits make a collision between two real tokens negligible.
    """
    value = (secret.reveal() or "").encode()
    return hashlib.blake2b(value, key=_salt(conf.cache_dir / "edb"), digest_size=8).hexdigest()


def get_mnemonic(name: str, start, end, *, token: str | Token | None = None,
                 chunk_days: float | None = None, cache: bool = True,
                 bracket: bool = False,
                 progress: Callable[[str], None] | None = None) -> pd.DataFrame:
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
        Reuse and store chunks under ``conf.cache_dir / "edb" / <token fingerprint>``
        (a salted keyed digest: the token itself is never stored, and another
        token does not read these chunks).  Chunks of the last few days and
        empty answers are not cached because the archive may still be filling them.
    bracket : bool
        Keep the sample just before `start` and just after `end` that the service
        adds (useful for the state of a text mnemonic when the range begins).
    progress : callable(str), optional
        Told about each retry, e.g. ``"engineering DB: HTTP 503 for SA_ZHGAUPST,
        retry 2 of 10 in 2 s"`` (also logged at INFO).

    Returns
    -------
    pandas.DataFrame
        ``time`` (MJD, float64), ``utc`` (datetime64, naive UTC), ``value`` (float
        for numeric mnemonics, NaN for a sample sent without a value; str for
        text ones), ``mnemonic``; sorted by time.  A range without samples (the
        service's header-only answer) gives an empty table whose
        ``attrs["note"]`` says so.

    Raises
    ------
    TelemetryError
        No token (the message says how to give one; local events work without),
        a bad mnemonic name or range, HTTP 404 (the message names the mnemonic
        and the URL: a wrong ``ENG_BASE_URL``/``conf.eng_server`` or an unknown
        mnemonic), another service error after the retries, or an answer that
        is not the expected CSV (not UTF-8, unparsable times, text where numbers
        belong; the message names the mnemonic, the column and a bad value).
    AuthenticationError
        HTTP 401/403 still after the retries: the token is wrong (not valid,
        expired, or without engineering-DB rights).
    MastUnreachable
        The engineering DB could not be reached (or did not answer in time),
        also after the retries.
    """
    mnemonic = str(name).strip().upper()
    if not _NAME.fullmatch(mnemonic):
        raise TelemetryError(f"{name!r} is not a mnemonic name (letters, digits, underscores)")
    secret = resolve_token(token)
    # the caller's plain string must not stay in this frame: a traceback printed with
    # locals (%xmode Verbose, pytest -l) shows every frame's locals; a Token is masked
    token = secret
    t0, t1 = _mjd(start), _mjd(end)
    chunk_days = conf.edb_chunk_days if chunk_days is None else float(chunk_days)
    if not chunk_days > 0:
        raise ValueError(f"chunk_days must be positive, not {chunk_days!r}")
    if not t1 > t0:
        raise TelemetryError(f"{mnemonic}: end ({t1}) must be after start ({t0})")
    if not secret:
        raise TelemetryError(
            "engineering telemetry needs a MAST token: pass token=..., set MAST_API_TOKEN, or "
            "log in with astroquery (get one at https://auth.mast.stsci.edu/token). Local "
            "events (guide-star changes, file boundaries, HGA from the files) need none.")
    folder = conf.cache_dir / "edb" / _fingerprint(secret) if cache else None
    http = _edb_session(mnemonic, progress)
    edges = np.append(np.arange(t0, t1, chunk_days), t1)
    tables = [t for a, b in itertools.pairwise(edges)
              if len(t := _chunk(http, mnemonic, a, b, secret, folder))]
    return _in_range(tables, mnemonic, t0, t1, bracket)


def _edb_session(mnemonic: str, progress: Callable[[str], None] | None) -> requests.Session:
    """A session with the pipeline client's policy; each retry logged and told to `progress`.

    A server that answers is retried as the pipeline's client does; one that cannot be
    reached at all (offline, a wrong host) only ``conf.retries`` times: ten backoffs
    (~8 min) before saying "unreachable" would stall a notebook for nothing.
    """
    from urllib3.exceptions import ConnectTimeoutError  # refused and unresolved ones too

    retries = conf.eng_retries
    connect = min(retries, conf.retries)

    def report(attempt: int, wait: float, status: int | None,
               error: Exception | None) -> None:
        # the error's type only: urllib3's texts repeat the URL and its query
        cause = f"HTTP {status}" if status is not None else type(error).__name__
        most = connect if isinstance(error, ConnectTimeoutError) else retries
        text = (f"engineering DB: {cause} for {mnemonic}, retry {attempt} of {most} "
                f"in {wait:.3g} s")
        _log.info(text)
        if progress is not None:
            progress(text)

    return session(retries, timeout=conf.eng_timeout, statuses=_RETRY_STATUSES,
                   backoff=conf.eng_backoff, on_retry=report, connect=connect)


def _in_range(tables: list[pd.DataFrame], mnemonic: str, t0: float, t1: float,
              bracket: bool) -> pd.DataFrame:
    """The chunks joined, without repeats, sorted, cut to ``[t0, t1]`` (plus the brackets)."""
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
           folder: Path | None) -> pd.DataFrame:
    """One chunk's table: cached if settled and not empty, else asked (see the module doc)."""
    file = f"{name}-{_stamp(a)}-{_stamp(b, up=True)}.csv"

    def settled(table: pd.DataFrame) -> bool:
        # an empty answer is not final either: the archive may not have ingested the range yet
        return len(table) > 0 and b < Time(time.time(), format="unix").utc.mjd - _SETTLE_DAYS

    return cached_answer(folder / file if folder is not None else None,
                         lambda: _ask(http, name, file, secret),
                         lambda body: _parse(_decode(body, name), name),
                         unusable=(TelemetryError,), keep=settled)


def _ask(http: requests.Session, name: str, file: str, secret: Token) -> bytes:
    """The service's answer for one chunk ``file``, as sent (HTTP trouble raises)."""
    url = f"{conf.eng_server}/api/v0.1/Download/file"
    what = f"engineering DB ({conf.eng_server}) for {name}"
    # send() raises MastUnreachable outside its except block: requests' and urllib3's
    # frames, which hold the Authorization header, are never chained to what we raise
    response = send(http, "GET", url, what=what, advice=_OFFLINE,
                    params={"uri": f"mast:jwstedb/{file}"}, headers=secret.header(),
                    timeout=conf.eng_timeout)
    if response.status_code == 404:
        # final, as for the pipeline's client: an empty range is a header-only 200, so a
        # 404 means the wrong server or a name the database does not know, never "no data"
        raise TelemetryError(
            f"engineering DB: HTTP 404 for {name} asking {url}?uri=mast:jwstedb/{file} -- "
            f"most likely ENG_BASE_URL / conf.eng_server ({conf.eng_server}) is wrong, or "
            f"{name} is not a mnemonic the database knows")
    failure = response_error(response, what, setting="conf.eng_server")
    if isinstance(failure, AuthenticationError):
        retried = retries_made(response)
        after = f", still after {retried} retries" if retried else ""
        raise AuthenticationError(
            f"{what}: the MAST token was refused (HTTP {response.status_code}{after}): the "
            "token is wrong -- not valid, expired, or without engineering-DB rights. Get a "
            "new one at https://auth.mast.stsci.edu/token and pass token=... or set "
            "MAST_API_TOKEN")
    if failure is not None:
        raise TelemetryError(f"{failure} ({_OFFLINE})")
    return response.content
