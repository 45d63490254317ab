"""Query MAST for a program's fine-guide files through astroquery.

Uses astroquery's MAST portal client (``Mast.service_request_async`` on the
``Mast.Jwst.Filtered.GuideStar`` service): it fetches the columns config,
posts the request and follows paging.  The server comes from `conf`; because
astroquery computes its URLs at import time, they are set on a fresh client
for each call.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import requests

from .config import conf
from .errors import ArchiveError, NoFineGuideData
from .http import check_response, unreachable
from .names import parse_file_name
from .tokens import Token, resolve_token

__all__ = ["SERVICE", "find_products"]

SERVICE = "Mast.Jwst.Filtered.GuideStar"
PRODUCT_COLUMNS = ("file_name", "uri", "size", "program", "observation", "visit", "guider",
                   "segment", "start", "folder")


def _client(token: Token):
    from astroquery.mast import MastClass

    client = MastClass()
    portal = client._portal_api_connection
    server = conf.mast_server
    portal.MAST_REQUEST_URL = server + "/api/v0/invoke"
    portal.COLUMNS_CONFIG_URL = server + "/portal/Mashup/Mashup.asmx/columnsconfig"
    portal.MAST_DOWNLOAD_URL = server + "/api/v0.1/Download/file"
    portal.TIMEOUT = conf.timeout
    if token:
        # the header is set on this client's own session only; nothing is stored or logged
        client._session.headers.update(token.header())
    return client


def _number(value) -> int | None:
    return None if value is None else int(str(value).strip())


def find_products(program: int | str, *, observation: int | str | None = None,
                  visit: int | str | None = None, calib_level: int = 2,
                  guider: int | str | None = None, token: str | Token | None = None
                  ) -> pd.DataFrame:
    """The program's fine-guide files on MAST.

    Parameters
    ----------
    program : int or str
    observation, visit, guider : optional
        Filters (visit needs observation).
    calib_level : {2, 1}
        2 for ``_cal`` files, 1 for ``_uncal``.
    token : str, optional
        For proprietary data (else ``MAST_API_TOKEN`` or astroquery's keyring).

    Returns
    -------
    pandas.DataFrame
        file_name, uri, size (bytes, NaN if the service does not say), program,
        observation, visit, guider, segment, start (UTC), folder (MAST folder
        name when the service gives one); sorted by start.

    Raises
    ------
    MastUnreachable, AuthenticationError, NoFineGuideData, ArchiveError
    """
    program_n = _number(program)
    observation_n, visit_n, guider_n = _number(observation), _number(visit), _number(guider)
    if visit_n is not None and observation_n is None:
        raise ValueError("visit needs observation: visits are numbered within an observation")
    if calib_level not in (1, 2):
        raise ValueError(f"calib_level must be 1 (uncal) or 2 (cal), not {calib_level!r}")
    filters = [{"paramName": "program", "values": [str(program_n)]},
               {"paramName": "exp_type", "values": ["FGS_FINEGUIDE"]}]
    if observation_n is not None:
        filters.append({"paramName": "observtn", "values": [str(observation_n)]})
    params = {"columns": "*", "filters": filters}
    client = _client(resolve_token(token))
    what = f"MAST ({conf.mast_server})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astroquery's NoResultsWarning: we raise instead
            responses = client.service_request_async(SERVICE, params)
            table = client._portal_api_connection._parse_result(responses)
    except requests.HTTPError as exc:
        check_response(exc.response, what, f" for program {program_n}")
        raise
    except (requests.ConnectionError, requests.Timeout, TimeoutError) as exc:
        raise unreachable(what, exc) from exc
    except (ValueError, KeyError) as exc:
        raise ArchiveError(f"{what}: unexpected answer to the {SERVICE} query ({exc})") from exc
    rows = table.to_pandas() if len(table) else pd.DataFrame()
    products = _products(rows, calib_level)
    asked = {"program": program_n, "observation": observation_n, "visit": visit_n,
             "guider": guider_n}
    for column in ("observation", "visit", "guider"):
        if asked[column] is not None and len(products):
            products = products[products[column] == asked[column]]
    if products.empty:
        said = ", ".join(f"{k}={v}" for k, v in asked.items() if v is not None)
        level = "cal" if calib_level == 2 else "uncal"
        raise NoFineGuideData(f"MAST has no fine-guide (_gs-fg_ {level}) files for {said}; "
                              "check the program id and filters, or that the data are public")
    return products.sort_values(["start", "file_name"]).reset_index(drop=True)


def _field(rows: pd.DataFrame, *names: str) -> pd.Series | None:
    lower = {c.lower(): c for c in rows.columns}
    for name in names:
        if name.lower() in lower:
            return rows[lower[name.lower()]]
    return None


def _products(rows: pd.DataFrame, calib_level: int) -> pd.DataFrame:
    if rows.empty or _field(rows, "fileName") is None:
        return pd.DataFrame(columns=list(PRODUCT_COLUMNS))
    suffix = "_cal.fits" if calib_level == 2 else "_uncal.fits"
    names = _field(rows, "fileName").astype(str).str.strip()
    uris = _field(rows, "dataURI")
    sizes = _field(rows, "size", "fileSize", "filesize")
    folders = _field(rows, "fileSetName", "obs_id", "obsid")
    records = []
    for i, name in enumerate(names):
        if not name.endswith(suffix) or "_gs-fg_" not in name:
            continue
        parsed = parse_file_name(name.rsplit("/", 1)[-1])
        uri = str(uris.iloc[i]) if uris is not None else f"mast:JWST/product/{name}"
        detector = _field(rows, "detector")
        guider = None
        if detector is not None and str(detector.iloc[i]).upper().startswith("GUIDER"):
            guider = int(str(detector.iloc[i])[-1])
        elif folders is not None and str(folders.iloc[i]).endswith(("guider1", "guider2")):
            guider = int(str(folders.iloc[i])[-1])
        size = pd.to_numeric(sizes.iloc[i], errors="coerce") if sizes is not None else np.nan
        records.append({
            "file_name": name, "uri": uri, "size": size,
            "program": parsed.program if parsed else None,
            "observation": parsed.observation if parsed else None,
            "visit": parsed.visit if parsed else None, "guider": guider,
            "segment": parsed.segment if parsed else None,
            "start": pd.Timestamp(parsed.start) if parsed else pd.NaT,
            "folder": str(folders.iloc[i]) if folders is not None else None,
        })
    return pd.DataFrame(records, columns=list(PRODUCT_COLUMNS))


