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


def check_response(response: requests.Response, what: str, auth_hint: str = "") -> None:
    """Raise a user-facing ArchiveError for an HTTP error status (the token never appears)."""
    error = response_error(response, what, auth_hint)
    if error is not None:
        raise error


def response_error(response: requests.Response, what: str,
                   auth_hint: str = "") -> ArchiveError | None:
    """The `ArchiveError` for an HTTP error status, or None for a success.

    Returned, not raised, so that code handling another exception can build it
    without chaining that exception (and its frames) to it.
    """
    status, reason = response.status_code, response.reason
    if status in (401, 403):
        meaning = ("the MAST token is missing or invalid" if status == 401
                   else "the MAST token lacks rights")
        return AuthenticationError(
            f"{what}: HTTP {status} — {meaning}{auth_hint}. Create a token at "
            "https://auth.mast.stsci.edu/token and pass token=... or set MAST_API_TOKEN")
    if status == 404:
        return ArchiveError(f"{what}: HTTP 404 {reason} — the server has no such file or "
                            "service; query again (the archive may have removed or reprocessed "
                            "it) and check conf.mast_server / conf.eng_server / conf.gsc_url")
    if status >= 500:
        return ArchiveError(f"{what}: HTTP {status} {reason} — the service failed or is down "
                            "(already retried); try again later")
    if status >= 400:
        return ArchiveError(f"{what}: HTTP {status} {reason} — the service refused the "
                            "request; check the arguments and conf's server URLs")
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
