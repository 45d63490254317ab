"""One HTTP session factory (retries, timeouts) and error mapping for every client."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .errors import ArchiveError, AuthenticationError, MastUnreachable

__all__ = ["check_response", "session"]


def session(retries: int = 2) -> requests.Session:
    """A requests session retrying idempotent requests on connection errors and 502/503/504."""
    s = requests.Session()
    retry = Retry(total=retries, connect=retries, read=retries, backoff_factor=0.2,
                  status_forcelist=(502, 503, 504), allowed_methods=("GET", "HEAD"),
                  raise_on_status=False)
    adapter = HTTPAdapter(max_retries=retry)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = "fgs_widgets"
    return s


def check_response(response: requests.Response, what: str, auth_hint: str = "") -> None:
    """Raise a user-facing ArchiveError for an HTTP error status (the token never appears)."""
    if response.status_code in (401, 403):
        raise AuthenticationError(
            f"{what}: HTTP {response.status_code} — the MAST token is missing, invalid or lacks "
            f"rights{auth_hint}. Create one at https://auth.mast.stsci.edu/token and pass "
            "token=... or set MAST_API_TOKEN")
    if response.status_code >= 400:
        raise ArchiveError(f"{what}: HTTP {response.status_code} {response.reason}; "
                           "the service may be down — try again later")


def unreachable(what: str, exc: Exception) -> MastUnreachable:
    timed_out = isinstance(exc, (requests.Timeout, TimeoutError))
    kind = "timed out" if timed_out else type(exc).__name__
    return MastUnreachable(what, kind)
