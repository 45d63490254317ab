"""One HTTP session factory (retries, timeouts) and error mapping for every client."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .config import conf
from .errors import ArchiveError, AuthenticationError, MastUnreachable

__all__ = ["RetryReport", "add_default_timeout", "check_response", "response_error",
           "retries_made", "send", "session", "unreachable"]

_log = logging.getLogger(__name__)

#: ``on_retry(retry number, seconds until it, HTTP status or None, error or None)``
RetryReport = Callable[[int, float, int | None, Exception | None], None]
#: statuses retried by default (MAST answers a passing overload with 500)
_STATUSES = (500, 502, 503, 504)


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


class _ReportingRetry(Retry):
    """A urllib3 `Retry` that tells ``on_retry`` about each retry before waiting for it.

    urllib3 retries inside one ``send``: without this a caller could say nothing
    while the backoff lasts (minutes under the engineering DB's policy).
    """

    def __init__(self, *args: Any, on_retry: RetryReport | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_retry = on_retry

    def new(self, **kw: Any) -> _ReportingRetry:
        # urllib3 makes a new Retry for every attempt; the callback must travel with it
        retry = super().new(**kw)
        retry.on_retry = self.on_retry
        return retry

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None,
                  _stacktrace: Any = None) -> _ReportingRetry:
        # raises MaxRetryError when the retries are used up: the last failure reports nothing
        retry = super().increment(method=method, url=url, response=response, error=error,
                                  _pool=_pool, _stacktrace=_stacktrace)
        if retry.on_retry is not None:
            retry._report(response, error)
        return retry

    def _report(self, response: Any, error: Exception | None) -> None:
        """Call ``on_retry`` with the wait `sleep` is about to do; never let it fail the request."""
        try:
            wait = None
            if response is not None and self.respect_retry_after_header:
                wait = self.get_retry_after(response)  # what sleep() honours first
            status = getattr(response, "status", None) if error is None else None
            self.on_retry(len(self.history), float(wait or self.get_backoff_time()), status,
                          error)
        except Exception as exc:
            # a progress line is not worth a failed request; only the type is logged, since
            # the frames below hold the request's headers (the token)
            _log.warning("retry report failed: %s", type(exc).__name__)


def _retry(retries: int, *, statuses: Collection[int] = _STATUSES, backoff: float = 0.2,
           on_retry: RetryReport | None = None, connect: int | None = None,
           methods: Collection[str] = ("GET", "HEAD")) -> Retry:
    # connect errors are retried for every method (nothing was sent); reads and the
    # statuses only for `methods`, those a server can be sent twice (idempotent ones)
    return _ReportingRetry(total=retries, connect=retries if connect is None else connect,
                           read=retries, backoff_factor=backoff,
                           status_forcelist=frozenset(statuses),
                           allowed_methods=frozenset(methods), raise_on_status=False,
                           on_retry=on_retry)


def session(retries: int | None = None, *, timeout: float | None = None,
            **policy: Any) -> requests.Session:
    """A requests session with retries and a default timeout.

    Parameters
    ----------
    retries : int, optional
        Retries of a failed connection, read or retried status (default ``conf.retries``).
    timeout : float, optional
        Default timeout (s) of requests that set none (default ``conf.timeout``).
    **policy
        The retry policy, each optional:

        - ``statuses``: HTTP statuses retried (default 500, 502, 503, 504); the
          last answer is returned, not raised, once the retries are used up;
        - ``methods``: the methods whose failed reads and statuses are retried
          (default GET, HEAD: only requests that may be sent twice);
        - ``backoff``: urllib3 backoff factor: the n-th retry waits
          ``backoff * 2**(n-1)`` s, the first none (default 0.2);
        - ``on_retry``: called before each retry waits, with (retry number, seconds
          of the wait, HTTP status or None, the connection/read error or None);
        - ``connect``: retries of a connection that could not be made (default
          `retries`).
    """
    s = requests.Session()
    add_default_timeout(s, retries, timeout=timeout, **policy)
    s.headers["User-Agent"] = "fgs_widgets"
    return s


def add_default_timeout(s: requests.Session, retries: int | None = None, *,
                        timeout: float | None = None, **policy: Any) -> requests.Session:
    """Mount retrying adapters with a default timeout on an existing session (see `session`)."""
    retry = _retry(conf.retries if retries is None else retries, **policy)
    adapter = _TimeoutAdapter(conf.timeout if timeout is None else timeout, max_retries=retry)
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
                   setting: str = "conf.mast_server", token: bool = True,
                   retried: int | None = None) -> ArchiveError | None:
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
    retried : int, optional
        How many times the request was retried before this answer, for a caller
        that retries by itself; default: read from the response (the retries
        urllib3 made inside the session's adapter).  The message says the request
        was retried only when it was.
    """
    status, reason = response.status_code, response.reason
    if status < 400:
        return None
    made = retries_made(response) if retried is None else retried
    note = f" (already retried {made} time{'s' if made != 1 else ''})" if made > 0 else ""
    if token and status in (401, 403):
        meaning = ("the MAST token is missing or invalid" if status == 401
                   else "the MAST token lacks rights")
        return AuthenticationError(
            f"{what}: HTTP {status}{note} — {meaning}{auth_hint}. Create a token at "
            "https://auth.mast.stsci.edu/token and pass token=... or set MAST_API_TOKEN")
    if status == 404:
        return ArchiveError(f"{what}: HTTP 404 {reason}{note} — the server has no such file "
                            f"or service; check {setting}, or query again (the archive may "
                            "have removed or reprocessed it)")
    if status >= 500:
        return ArchiveError(f"{what}: HTTP {status} {reason} — the service failed or is down"
                            f"{note}; try again later")
    return ArchiveError(f"{what}: HTTP {status} {reason}{note} — the service refused the "
                        f"request; check the arguments and {setting}")


def retries_made(response: requests.Response) -> int:
    """Retries urllib3 made before `response` (its `Retry` history), 0 when unknown.

    urllib3 hands the final answer the `Retry` it was fetched under; its history
    holds one entry per retry (connection or read errors and retried statuses).
    """
    history = getattr(getattr(getattr(response, "raw", None), "retries", None), "history", None)
    return len(history) if isinstance(history, tuple | list) else 0


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
        failure: ArchiveError = unreachable(what, exc, advice, kwargs.get("timeout"))
    except requests.RequestException as exc:
        failure = ArchiveError(f"{what}: the request failed ({type(exc).__name__}); "
                               "check conf's server URLs and try again")
    raise failure


def unreachable(what: str, exc: BaseException, advice: str | None = None,
                timeout: float | None = None) -> MastUnreachable:
    """The `MastUnreachable` error for a connection failure or timeout.

    Only the exception's type goes into the message, not its text: requests'
    texts repeat the full URL, query included.  `timeout` is the socket timeout
    the request had (default ``conf.timeout``), said in the message.
    """
    kind = (f"timed out after {conf.timeout if timeout is None else timeout:g} s"
            if _timed_out(exc) else type(exc).__name__)
    return MastUnreachable(what, kind, advice)


def _timed_out(exc: BaseException) -> bool:
    """Whether the request failed by a timeout, also one urllib3 retried until it gave up
    (requests then raises a ConnectionError around the last ``ReadTimeoutError``)."""
    from urllib3.exceptions import ConnectTimeoutError, ReadTimeoutError

    if isinstance(exc, (requests.Timeout, TimeoutError)):
        return True
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, (ReadTimeoutError, ConnectTimeoutError))
