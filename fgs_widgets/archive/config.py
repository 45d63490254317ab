"""One place for service URLs, the cache folder and timeouts (astroquery-style ``conf``).

Every value is read from the environment when used, so tests and users share
one mechanism: set ``FGS_MAST_SERVER``, ``ENG_BASE_URL`` (as the JWST
pipeline's own telemetry client does), ``FGS_GSC_URL`` or ``FGS_CACHE_DIR``,
or assign ``conf.mast_server = ...``, or use ``with conf.override(...)``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["conf"]

_DEFAULTS = {
    "mast_server": ("FGS_MAST_SERVER", "https://mast.stsci.edu"),
    "eng_server": ("ENG_BASE_URL", None),  # None: the MAST server
    "gsc_url": ("FGS_GSC_URL", "https://gsss.stsci.edu/webservices/vo/CatalogSearch.aspx"),
    "cache_dir": ("FGS_CACHE_DIR", None),  # None: ~/.cache/fgs_widgets
    "timeout": ("FGS_TIMEOUT", "60"),
}


class _Conf:
    """Archive settings; an attribute set here wins over the environment."""

    def __init__(self) -> None:
        self._set: dict[str, object] = {}

    def _get(self, name: str) -> object:
        if name in self._set:
            return self._set[name]
        env, default = _DEFAULTS[name]
        return os.environ.get(env) or default

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
        """Downloads, catalog and telemetry caches."""
        value = self._get("cache_dir")
        return Path(value).expanduser() if value else Path.home() / ".cache" / "fgs_widgets"

    @property
    def timeout(self) -> float:
        """Seconds to wait for a server to answer."""
        return float(self._get("timeout"))

    def __setattr__(self, name: str, value: object) -> None:
        if name.startswith("_"):
            super().__setattr__(name, value)
        elif name in _DEFAULTS:
            self._set[name] = value
        else:
            raise AttributeError(f"unknown setting {name!r}; settings: {', '.join(_DEFAULTS)}")

    @contextlib.contextmanager
    def override(self, **values: object) -> Iterator[_Conf]:
        """Temporarily change settings (``with conf.override(mast_server=url): ...``)."""
        unknown = set(values) - set(_DEFAULTS)
        if unknown:
            raise AttributeError(f"unknown setting(s) {sorted(unknown)}")
        saved = dict(self._set)
        self._set.update(values)
        try:
            yield self
        finally:
            self._set = saved

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={getattr(self, k)!r}" for k in _DEFAULTS)
        return f"<fgs_widgets.archive.conf {items}>"


conf = _Conf()
