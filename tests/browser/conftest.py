"""Fixtures for the browser tests (the machinery is in harness.py)."""

from __future__ import annotations

import os

import pytest
from harness import chromium_missing, hub_missing


def _skip_or_fail(reason: str | None) -> None:
    """Skip for ``reason``; fail instead when ``FGS_REQUIRE_BROWSER`` is set (CI)."""
    if reason is not None:
        if os.environ.get("FGS_REQUIRE_BROWSER"):
            pytest.fail(f"FGS_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)


@pytest.fixture
def chromium() -> None:
    """Skip (or, with ``FGS_REQUIRE_BROWSER`` set, fail) when Chromium/Playwright are missing."""
    _skip_or_fail(chromium_missing())


@pytest.fixture(scope="module")
def hub_deps() -> None:
    """As `chromium`, and also when jupyterhub, notebook (7) or configurable-http-proxy
    are missing (``make hub-deps`` installs the proxy into the venv)."""
    _skip_or_fail(chromium_missing() or hub_missing())
