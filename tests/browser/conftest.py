"""Fixtures for the browser tests (the machinery is in harness.py)."""

from __future__ import annotations

import os

import pytest
from harness import chromium_missing


@pytest.fixture
def chromium() -> None:
    """Skip (or, with ``FGS_REQUIRE_BROWSER`` set, fail) when Chromium/Playwright are missing."""
    reason = chromium_missing()
    if reason is not None:
        if os.environ.get("FGS_REQUIRE_BROWSER"):
            pytest.fail(f"FGS_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
