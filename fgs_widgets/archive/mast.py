"""Query MAST for a program's fine-guide files through astroquery.

Uses astroquery's MAST portal client (``Mast.service_request`` on the
``Mast.Jwst.Filtered.GuideStar`` service): it fetches the columns config,
posts the request and follows the server's paging.  The server comes from
`conf`; because astroquery computes its URLs at import time, they are set on a
fresh client for each call (one mechanism for users and tests).

The token goes into that client's own session as an ``Authorization`` header
rather than through ``Mast.login``: login would first call MAST's ``whoami``
service (one more round trip that fails offline) and keeps the token in a
cookie of a long-lived object.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import requests
from astropy.table import Table

from .config import conf
from .errors import ArchiveError, MastUnreachable, NoFineGuideData
from .http import add_default_timeout, response_error, unreachable
from .names import parse_file_name, parse_folder_name
from .tokens import Token, resolve_token

__all__ = ["PRODUCT_COLUMNS", "SERVICE", "QueryDeadlinePassed", "find_products",
           "find_products_between"]

SERVICE = "Mast.Jwst.Filtered.GuideStar"
PRODUCT_COLUMNS = ("file_name", "uri", "size", "program", "observation", "visit", "guider",
                   "segment", "end", "folder")
_LEVEL_SUFFIX = {2: "_cal.fits", 1: "_uncal.fits"}


def _client(token: Token):
    from astroquery.mast import MastClass

    client = MastClass()
    portal = client._portal_api_connection
    server = conf.mast_server
    portal.MAST_REQUEST_URL = server + "/api/v0/invoke"
    portal.COLUMNS_CONFIG_URL = server + "/portal/Mashup/Mashup.asmx/columnsconfig"
    portal.MAST_DOWNLOAD_URL = server + "/api/v0.1/Download/file"
    portal.MAST_BUNDLE_URL = server + "/api/v0.1/Download/bundle"
    # astroquery's limit on the whole query (re-polls of EXECUTING answers, every page);
    # conf.timeout stays the socket timeout of each request, set by the adapter below
    portal.TIMEOUT = conf.query_deadline
    # astroquery sends its portal requests without a socket timeout: add one.  It sends
    # every portal request as a POST (`invoke` with the query in a form field,
    # `columnsconfig`); these only read (a search, a column list: nothing is created or
    # changed on the server), so a failed read or a 500 of a passing MAST overload is
    # retried for them as for a GET
    add_default_timeout(client._session, methods=("GET", "HEAD", "POST"))
    if token:
        # on this client's own session only; nothing is stored or logged
        client._session.headers.update(token.header())
    return client


class QueryDeadlinePassed(MastUnreachable):
    """A MAST query still unfinished when ``conf.query_deadline`` passed.

    A `MastUnreachable`, so that callers which fall back to local files or retry
    later treat it as they treat a timeout; its message says what happened.
    """

    def __init__(self, message: str) -> None:
        ArchiveError.__init__(self, message)  # not MastUnreachable's "unreachable" wording


def _number(value, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be a number (e.g. 1534 or '01534'), not {value!r}") from None


def _filter(name: str, value: int, width: int) -> dict:
    # MAST stores the header text ('01534', '002'); send the plain number as well so the
    # filter matches whichever spelling the service compares against
    return {"paramName": name, "values": sorted({f"{value:0{width}d}", str(value)})}


def find_products(program: int | str, *, observation: int | str | None = None,
                  visit: int | str | None = None, calib_level: int = 2,
                  guider: int | str | None = None, token: str | Token | None = None
                  ) -> pd.DataFrame:
    """The program's fine-guide files on MAST.

    Parameters
    ----------
    program : int or str
        Program id (``1534`` or ``"01534"``).
    observation, visit, guider : int or str, optional
        Filters (visit needs observation; guider is 1 or 2).
    calib_level : {2, 1}
        2 for ``_cal`` files, 1 for ``_uncal``.  The service may list one level
        only; the other level's name and URI are then derived from it (size unknown).
    token : str or Token, optional
        For proprietary data (else ``MAST_API_TOKEN`` or astroquery's keyring).

    Returns
    -------
    pandas.DataFrame
        ``file_name, uri, size`` (bytes, NaN if unknown), ``program, observation,
        visit, guider, segment, start`` (UTC, from the file name), ``folder`` (MAST
        folder name when the service gives one); one row per file, sorted by start.

    Raises
    ------
    MastUnreachable
        No connection or no answer within ``conf.timeout``; or (`QueryDeadlinePassed`)
        the query, polls and pages included, took longer than ``conf.query_deadline``.
    AuthenticationError
        HTTP 401/403 (token missing, invalid, or without rights for the program).
    NoFineGuideData
        Nothing matched (the message names the filters).
    ArchiveError
        Any other service error.
    """
    program_n = _number(program, "program")
    observation_n, visit_n = _number(observation, "observation"), _number(visit, "visit")
    guider_n = _number(guider, "guider")
    if program_n is None:
        raise ValueError("program is required, e.g. find_products(1534)")
    if visit_n is not None and observation_n is None:
        raise ValueError("visit needs observation: visits are numbered within an observation")
    if calib_level not in _LEVEL_SUFFIX:
        raise ValueError(f"calib_level must be 1 (uncal) or 2 (cal), not {calib_level!r}")
    if guider_n not in (None, 1, 2):
        raise ValueError(f"guider must be 1 or 2, not {guider!r}")
    filters = [_filter("program", program_n, 5),
               {"paramName": "exp_type", "values": ["FGS_FINEGUIDE"]}]
    if observation_n is not None:
        filters.append(_filter("observtn", observation_n, 3))
    if visit_n is not None:
        filters.append(_filter("visit", visit_n, 3))
    asked = {"program": program_n, "observation": observation_n, "visit": visit_n,
             "guider": guider_n}
    # rebound: no frame keeps the plain string (tracebacks printed with locals show frames)
    token = resolve_token(token)
    return _find(filters, asked, calib_level, token, f" for program {program_n}")


def find_products_between(start, end, *, calib_level: int = 2,
                          guider: int | str | None = None,
                          token: str | Token | None = None) -> pd.DataFrame:
    """Every fine-guide file whose data began between `start` and `end` (UTC), any program.

    The survey's "all programs in a date range": one query of the same service with a
    range filter on ``date_beg_mjd`` (MAST's JWST keyword services filter times through
    their ``_mjd`` columns, ``{"min": ..., "max": ...}``).

    Parameters
    ----------
    start, end : str, datetime, astropy Time or float
        UTC; a float is an MJD.  ``start < end``.
    calib_level, guider, token
        As in `find_products`.

    Returns
    -------
    pandas.DataFrame
        As `find_products`, over every program.  Proprietary files are listed too;
        downloading them needs a token with rights to them.
    """
    lo, hi = _mjd(start, "start"), _mjd(end, "end")
    if not lo < hi:
        raise ValueError(f"start ({start}) must be before end ({end})")
    guider_n = _number(guider, "guider")
    if guider_n not in (None, 1, 2):
        raise ValueError(f"guider must be 1 or 2, not {guider!r}")
    if calib_level not in _LEVEL_SUFFIX:
        raise ValueError(f"calib_level must be 1 (uncal) or 2 (cal), not {calib_level!r}")
    filters = [{"paramName": "exp_type", "values": ["FGS_FINEGUIDE"]},
               {"paramName": "date_beg_mjd", "values": [{"min": lo, "max": hi}]}]
    token = resolve_token(token)  # rebound, as in find_products
    return _find(filters, {"guider": guider_n}, calib_level, token,
                 f" between MJD {lo:.5f} and {hi:.5f}")


def _mjd(value, name: str) -> float:
    from astropy.time import Time

    if isinstance(value, int | float | np.number):
        return float(value)
    try:
        return float(str(value))  # "59956.5" from a command line: an MJD
    except ValueError:
        pass
    try:
        return float(Time(value, scale="utc").mjd)
    except (ValueError, TypeError):
        raise ValueError(f"{name} must be a UTC date (e.g. '2023-01-01' or an MJD), "
                         f"not {value!r}") from None


def _find(filters: list[dict], asked: dict, calib_level: int, token: Token,
          scope: str) -> pd.DataFrame:
    """Run one GuideStar query; products of `calib_level` that match `asked`, by end time."""
    params = {"columns": "*", "filters": filters}
    client = _client(token)
    what = f"MAST ({conf.mast_server})"
    table = _query(client, params, what, scope)
    rows = table.to_pandas() if len(table) else pd.DataFrame()
    products = _products(rows, calib_level)
    for column, value in asked.items():
        if value is not None and len(products):
            # checked here too: the service may ignore a filter, and guider is not one
            products = products[products[column].eq(value).fillna(False).astype(bool)]
    if products.empty:
        said = ", ".join(f"{k}={v}" for k, v in asked.items() if v is not None)
        level = _LEVEL_SUFFIX[calib_level].removesuffix(".fits").lstrip("_")
        raise NoFineGuideData(f"MAST has no fine-guide (_gs-fg_ {level}) files{scope}"
                              f"{' (' + said + ')' if said else ''}; check the program "
                              "id and filters, that the data are public, or pass a token "
                              "with rights to them")
    return products.sort_values(["end", "file_name"]).reset_index(drop=True)


def _query(client, params: dict, what: str, scope: str) -> Table:
    """Run the service query; every failure is an `ArchiveError` that chains nothing.

    Errors are built inside ``except`` and raised after it: the requests and
    urllib3 frames of the original exception hold the ``Authorization`` header
    in their locals, and a chained exception would keep them (and print them
    in a traceback shown with locals).
    """
    from astroquery.exceptions import RemoteServiceError

    failure: ArchiveError | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astroquery's NoResultsWarning: we raise instead
            table = client.service_request(SERVICE, params)
    except requests.HTTPError as exc:
        failure = _http_failure(exc.response, what, scope)
    except (requests.ConnectionError, requests.Timeout) as exc:
        failure = unreachable(what, exc)
    except TimeoutError:
        # astroquery's own: the whole query (polls, pages) passed portal.TIMEOUT
        failure = QueryDeadlinePassed(
            f"{what}: the {SERVICE} query{scope} took longer than {conf.query_deadline:g} s "
            "(conf.query_deadline) — MAST may be busy: try again later, or raise "
            "conf.query_deadline (env FGS_QUERY_DEADLINE)")
    except RemoteServiceError as exc:
        failure = ArchiveError(f"{what}: the {SERVICE} query failed: {exc}")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # astroquery parses the JSON without checking its shape: a "data" that is a string,
        # a dict, null or a list of lists ends here as whatever error its parsing hit
        failure = ArchiveError(f"{what}: unexpected answer to the {SERVICE} query "
                               f"({type(exc).__name__}: not MAST's fields/data table); is "
                               "conf.mast_server a MAST server? Try again later")
    if failure is not None:
        raise failure
    if not isinstance(table, Table):
        raise ArchiveError(f"{what}: unexpected answer to the {SERVICE} query (no table); "
                           "is conf.mast_server a MAST server?")
    return table


def _http_failure(response: requests.Response | None, what: str, scope: str) -> ArchiveError:
    if response is None:
        return ArchiveError(f"{what}: the {SERVICE} query failed without an HTTP answer; "
                            "try again later")
    return (response_error(response, what, scope)
            or ArchiveError(f"{what}: HTTP {response.status_code} from the {SERVICE} query"))


def _field(rows: pd.DataFrame, *names: str) -> pd.Series | None:
    """First column of ``rows`` matching one of ``names`` (case-insensitive), else None."""
    lower = {c.lower(): c for c in rows.columns}
    for name in names:
        if name.lower() in lower:
            return rows[lower[name.lower()]]
    return None


def _text(series: pd.Series | None, i: int) -> str | None:
    if series is None:
        return None
    value = series.iloc[i]
    if value is None or value is np.ma.masked or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _guider(detector: str | None, aperture: str | None, folder: str | None) -> int | None:
    if detector and detector.upper().startswith("GUIDER") and detector[-1] in "12":
        return int(detector[-1])
    if aperture and aperture.upper().startswith(("FGS1", "FGS2")):
        return int(aperture[3])
    parsed = parse_folder_name(folder) if folder else None
    return parsed.guider if parsed else None


def _products(rows: pd.DataFrame, calib_level: int) -> pd.DataFrame:
    """One row per fine-guide file of the requested level, fields parsed from names."""
    names = _field(rows, "fileName", "filename") if not rows.empty else None
    if names is None:
        return pd.DataFrame(columns=list(PRODUCT_COLUMNS))
    want = _LEVEL_SUFFIX[calib_level]
    other = _LEVEL_SUFFIX[3 - calib_level]
    uris = _field(rows, "dataURI")
    sizes = _field(rows, "fileSize", "size", "filesize")
    folders = _field(rows, "fileSetName", "obs_id")
    detectors, apertures = _field(rows, "detector"), _field(rows, "apername")
    records: dict[str, dict] = {}
    for i in range(len(rows)):
        listed = _text(names, i) or ""
        base = listed.rsplit("/", 1)[-1]
        if "_gs-fg_" not in base or not base.endswith((want, other)):
            continue
        native = base.endswith(want)
        # keep the server's name as given (download() refuses anything that is not a plain
        # name); only the level suffix is swapped when the service lists the other level
        name = listed if native else listed.removesuffix(other) + want
        if name in records and not native:
            continue  # the row listing this level itself wins
        uri = _text(uris, i) or f"mast:JWST/product/{base}"
        if not native:
            uri = uri.removesuffix(other) + want
        size = pd.to_numeric(_text(sizes, i), errors="coerce") if native else np.nan
        parsed = parse_file_name(name.rsplit("/", 1)[-1])
        folder = _text(folders, i)
        records[name] = {
            "file_name": name, "uri": uri, "size": size,
            "program": parsed.program if parsed else None,
            "observation": parsed.observation if parsed else None,
            "visit": parsed.visit if parsed else None,
            "guider": _guider(_text(detectors, i), _text(apertures, i), folder),
            "segment": parsed.segment if parsed else None,
            "end": pd.Timestamp(parsed.end) if parsed else pd.NaT,  # the name stamps the end
            "folder": folder,
        }
    table = pd.DataFrame(list(records.values()), columns=list(PRODUCT_COLUMNS))
    integers = ("program", "observation", "visit", "guider", "segment")
    return table.astype(dict.fromkeys(integers, "Int64"))
