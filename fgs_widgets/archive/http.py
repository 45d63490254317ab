"""One HTTP session factory (retries, timeouts) and error mapping for every client."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .config import conf
from .errors import ArchiveError, AuthenticationError, MastUnreachable

__all__ = ["add_default_timeout", "check_response", "response_error", "send", "session",
           "unreachable"]


class _TimeoutAdapter(HTTPAdapter):
    """An adapter that applies a default timeout to requests that set none.

    astroquery's portal requests pass no socket timeout, so a server that
    accepts the connection and never answers would hang the kernel forever.
    """

    def __init__(self, timeout: float, **kwargs) -> None:
        self.default_timeout = timeout
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().send(request, **kwargs)


def _retry(retries: int) -> Retry:
    # connect errors are retried for every method (nothing was sent); reads and
    # 500/502/503/504 only for idempotent GET/HEAD (MAST answers a passing overload with 500)
    return Retry(total=retries, connect=retries, read=retries, backoff_factor=0.2,
                 status_forcelist=(500, 502, 503, 504), allowed_methods=("GET", "HEAD"),
                 raise_on_status=False)


def session(retries: int | None = None) -> requests.Session:
    """A requests session with retries and ``conf.timeout`` as the default timeout."""
    s = requests.Session()
    add_default_timeout(s, retries)
    s.headers["User-Agent"] = "fgs_widgets"
    return s


def add_default_timeout(s: requests.Session, retries: int | None = None) -> requests.Session:
    """Mount retrying adapters with ``conf.timeout`` as default on an existing session."""
    adapter = _TimeoutAdapter(conf.timeout, max_retries=_retry(
        conf.retries if retries is None else retries))
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def check_response(response: requests.Response, what: str, auth_hint: str = "",
                   **kwargs) -> None:
    """Raise `response_error`'s ArchiveError for an HTTP error status (never the token)."""
    error = response_error(response, what, auth_hint, **kwargs)
    if error is not None:
        raise error


def response_error(response: requests.Response, what: str, auth_hint: str = "", *,
                   setting: str = "conf.mast_server",
                   token: bool = True) -> ArchiveError | None:
    """The `ArchiveError` for an HTTP error status, or None for a success.

    Returned, not raised, so that code handling another exception can build it
    without chaining that exception (and its frames) to it.

    Parameters
    ----------
    response : requests.Response
    what : str
        The service and the request, first in the message.
    auth_hint : str
        Appended to the 401/403 explanation (e.g. ``" for program 1534"``).
    setting : str
        The `conf` setting that names this server, suggested for a 404 or a refusal.
    token : bool
        Whether the service takes a MAST token: then 401/403 are an
        `AuthenticationError` that says how to get one.
    """
    status, reason = response.status_code, response.reason
    if token and status in (401, 403):
        meaning = ("the MAST token is missing or invalid" if status == 401
                   else "the MAST token lacks rights")
        return AuthenticationError(
            f"{what}: HTTP {status} — {meaning}{auth_hint}. Create a token at "
            "https://auth.mast.stsci.edu/token and pass token=... or set MAST_API_TOKEN")
    if status == 404:
        return ArchiveError(f"{what}: HTTP 404 {reason} — the server has no such file or "
                            f"service; check {setting}, or query again (the archive may have "
                            "removed or reprocessed it)")
    if status >= 500:
        return ArchiveError(f"{what}: HTTP {status} {reason} — the service failed or is down "
                            "(already retried); try again later")
    if status >= 400:
        return ArchiveError(f"{what}: HTTP {status} {reason} — the service refused the "
                            f"request; check the arguments and {setting}")
    return None


def send(http: requests.Session, method: str, url: str, *, what: str,
         advice: str | None = None, **kwargs) -> requests.Response:
    """``http.request(method, url, **kwargs)``; a failed connection becomes `MastUnreachable`.

    The error is raised outside the ``except`` block so it chains nothing:
    requests' and urllib3's frames hold the request headers (the token) in
    their locals, and a traceback printed with locals (``%xmode Verbose``,
    ``pytest -l``) would show them.
    """
    try:
        return http.request(method, url, **kwargs)
    except (requests.ConnectionError, requests.Timeout) as exc:
        failure: ArchiveError = unreachable(what, exc, advice)
    except requests.RequestException as exc:
        failure = ArchiveError(f"{what}: the request failed ({type(exc).__name__}); "
                               "check conf's server URLs and try again")
    raise failure


def unreachable(what: str, exc: BaseException, advice: str | None = None) -> MastUnreachable:
    """The `MastUnreachable` error for a connection failure or timeout.

    Only the exception's type goes into the message, not its text: requests'
    texts repeat the full URL, query included.
    """
    timed_out = isinstance(exc, (requests.Timeout, TimeoutError))
    kind = f"timed out after {conf.timeout:g} s" if timed_out else type(exc).__name__
    return MastUnreachable(what, kind, advice)
