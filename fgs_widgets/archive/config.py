"""One place for service URLs, the cache folder and timeouts (astroquery-style ``conf``).

Every value is read from the environment when used, so tests and users share
one mechanism: set ``FGS_MAST_SERVER``, ``ENG_BASE_URL`` (as the JWST
pipeline's own telemetry client does), ``FGS_GSC_URL`` or ``FGS_CACHE_DIR``,
or assign ``conf.mast_server = ...``, or use ``with conf.set_temp("mast_server", url):``
/ ``with conf.override(mast_server=url):``.

astroquery computes its MAST URLs when it is imported; `fgs_widgets.archive.mast`
therefore sets them from this object on a fresh client right before each query,
so changing ``conf`` takes effect immediately, also for astroquery.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["conf"]

#: setting -> (environment variable, default); None defaults are derived (see properties)
_DEFAULTS: dict[str, tuple[str, str | None]] = {
    "mast_server": ("FGS_MAST_SERVER", "https://mast.stsci.edu"),
    "eng_server": ("ENG_BASE_URL", None),  # None: the MAST server
    "gsc_url": ("FGS_GSC_URL", "https://gsss.stsci.edu/webservices/vo/CatalogSearch.aspx"),
    "cache_dir": ("FGS_CACHE_DIR", None),  # None: $XDG_CACHE_HOME or ~/.cache, /fgs_widgets
    "timeout": ("FGS_TIMEOUT", "60"),
    "query_deadline": ("FGS_QUERY_DEADLINE", "600"),
    "retries": ("FGS_RETRIES", "2"),
    "edb_chunk_days": ("FGS_EDB_CHUNK_DAYS", "1.0"),
    # the JWST pipeline's EDB client policy (jwst.lib.engdb_mast) and its env names
    "eng_timeout": ("ENG_TIMEOUT", "600"),
    "eng_retries": ("ENG_RETRIES", "10"),
    "eng_backoff": ("FGS_ENG_BACKOFF", "1.0"),
    "download_deadline": ("FGS_DOWNLOAD_DEADLINE", "14400"),
    "min_download_rate": ("FGS_MIN_DOWNLOAD_RATE", "2048"),
    "rate_window": ("FGS_RATE_WINDOW", "30"),
}


class _Conf:
    """Archive settings; an attribute set here wins over the environment.

    Attributes
    ----------
    mast_server : str
        Base URL of MAST (query and download). Env ``FGS_MAST_SERVER``.
    eng_server : str
        Base URL of the engineering database. Env ``ENG_BASE_URL``; default the MAST server.
    gsc_url : str
        Guide Star Catalog ``CatalogSearch.aspx`` endpoint. Env ``FGS_GSC_URL``.
    cache_dir : Path
        Downloads, catalog, telemetry and fit-chunk caches, and the sample. Env
        ``FGS_CACHE_DIR``.
    timeout : float
        Seconds to wait for a server to connect or send data: the socket timeout
        of each request (a server silent that long fails the request; one that
        keeps sending is not stopped by it). Env ``FGS_TIMEOUT``; default 60.
    query_deadline : float
        Longest time (s) of one MAST query as a whole: its re-polls while MAST
        answers ``EXECUTING`` and all its pages (astroquery's ``TIMEOUT``).
        astroquery checks it whenever an answer arrives, so one request can run
        past it by up to ``timeout`` per read. Env ``FGS_QUERY_DEADLINE``;
        default 600, as astroquery.
    retries : int
        Retries of a failed connection (and of idempotent requests on 502/503/504).
        Env ``FGS_RETRIES``. Not used by the engineering DB (``eng_retries``).
    edb_chunk_days : float
        Longest telemetry range asked of the engineering DB in one request.
    eng_timeout : float
        Seconds to wait for the engineering DB to connect or send data. Env
        ``ENG_TIMEOUT`` (the JWST pipeline's name); default 600, as the pipeline.
    eng_retries : int
        Retries of an engineering-DB request, as the JWST pipeline's client
        does: no answer in time, and HTTP 400-403, 405-459 and 500-519 (404 is
        final); a server that cannot be reached at all at most ``retries``
        times (offline, ten backoffs would be minutes spent for nothing). Env
        ``ENG_RETRIES``; default 10.
    eng_backoff : float
        Backoff factor of those retries: the n-th retry waits
        ``eng_backoff * 2**(n-1)`` s (the first none, at most 120 s). Env
        ``FGS_ENG_BACKOFF``; default 1.0, as the pipeline.
    download_deadline : float
        Longest time (s) one `download` call may take, connecting and waiting
        for each answer's headers included; when it passes, what the file being
        fetched received is kept as ``.part`` (the next call resumes it) and the
        files not started are reported as not tried.  0: no deadline.
        Env ``FGS_DOWNLOAD_DEADLINE``; default 14400 (4 h).
    min_download_rate : float
        Bytes/s below which a download is given up as stalled, measured over
        the last ``rate_window`` seconds; a request whose answer's headers have
        not all arrived after the larger of ``timeout`` and ``rate_window``
        counts as stalled too (what was received is kept as ``.part`` for
        resuming; later files are not tried, the server is the same).  0: no
        minimum.  Env ``FGS_MIN_DOWNLOAD_RATE``; default 2048.
    rate_window : float
        Seconds over which ``min_download_rate`` is measured. Env ``FGS_RATE_WINDOW``; 30.
    """

    def __init__(self) -> None:
        self._set: dict[str, object] = {}

    def _get(self, name: str) -> object:
        if name in self._set:
            return self._set[name]
        env, default = _DEFAULTS[name]
        return os.environ.get(env) or default

    def _number(self, name: str, kind: type) -> float | int:
        value = self._get(name)
        try:
            return kind(value)
        except (TypeError, ValueError):
            env = _DEFAULTS[name][0]
            raise ValueError(f"fgs_widgets setting {name} (env {env}) must be a number, "
                             f"not {value!r}") from None

    @property
    def mast_server(self) -> str:
        """Base URL of MAST (query, download)."""
        return str(self._get("mast_server")).rstrip("/")

    @property
    def eng_server(self) -> str:
        """Base URL of the engineering database (defaults to the MAST server)."""
        return str(self._get("eng_server") or self.mast_server).rstrip("/")

    @property
    def gsc_url(self) -> str:
        """Guide Star Catalog CatalogSearch endpoint."""
        return str(self._get("gsc_url"))

    @property
    def cache_dir(self) -> Path:
        """Downloads, catalog, telemetry and fit-chunk caches, and the sample program."""
        value = self._get("cache_dir")
        if value:
            return Path(value).expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "fgs_widgets"

    @property
    def timeout(self) -> float:
        """Seconds to wait for a server to answer."""
        return float(self._number("timeout", float))

    @property
    def query_deadline(self) -> float:
        """Longest time (s) of one MAST query, polls and pages included."""
        return float(self._number("query_deadline", float))

    @property
    def retries(self) -> int:
        """Retries of failed connections."""
        return int(self._number("retries", int))

    @property
    def edb_chunk_days(self) -> float:
        """Longest engineering-DB range per request (days)."""
        return float(self._number("edb_chunk_days", float))

    @property
    def eng_timeout(self) -> float:
        """Seconds to wait for the engineering DB to answer."""
        return float(self._number("eng_timeout", float))

    @property
    def eng_retries(self) -> int:
        """Retries of an engineering-DB request (connections and HTTP 4xx/5xx but 404)."""
        return int(self._number("eng_retries", int))

    @property
    def eng_backoff(self) -> float:
        """Backoff factor (s) of the engineering-DB retries."""
        return float(self._number("eng_backoff", float))

    @property
    def download_deadline(self) -> float:
        """Longest time (s) of one download call; 0 for none."""
        return float(self._number("download_deadline", float))

    @property
    def min_download_rate(self) -> float:
        """Bytes/s below which a download counts as stalled; 0 for none."""
        return float(self._number("min_download_rate", float))

    @property
    def rate_window(self) -> float:
        """Seconds over which the download rate is measured."""
        return float(self._number("rate_window", float))

    def __setattr__(self, name: str, value: object) -> None:
        if name.startswith("_"):
            super().__setattr__(name, value)
        elif name in _DEFAULTS:
            self._set[name] = value
        else:
            raise AttributeError(f"unknown setting {name!r}; settings: {', '.join(_DEFAULTS)}")

    def reset(self, name: str | None = None) -> None:
        """Forget values set in Python (one setting or all): the environment/default applies."""
        if name is None:
            self._set.clear()
        else:
            self._set.pop(name, None)

    @contextlib.contextmanager
    def override(self, **values: object) -> Iterator[_Conf]:
        """Temporarily change settings (``with conf.override(mast_server=url): ...``)."""
        unknown = set(values) - set(_DEFAULTS)
        if unknown:
            raise AttributeError(f"unknown setting(s) {sorted(unknown)}; "
                                 f"settings: {', '.join(_DEFAULTS)}")
        saved = dict(self._set)
        self._set.update(values)
        try:
            yield self
        finally:
            self._set = saved

    def set_temp(self, name: str, value: object) -> contextlib.AbstractContextManager[_Conf]:
        """astroquery-style spelling of `override` for one setting."""
        return self.override(**{name: value})

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={getattr(self, k)!r}" for k in _DEFAULTS)
        return f"<fgs_widgets.archive.conf {items}>"


conf = _Conf()
