"""Shared fixtures: one local ray instance and one sample program for the whole run."""

from __future__ import annotations

import os

import pytest

# Keep ray quiet and small in tests; the suite shares one instance (starting ray costs seconds).
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")


@pytest.fixture(scope="session")
def ray_local():
    """A local ray instance shared by every test that needs one."""
    ray = pytest.importorskip("ray")
    from fgs_widgets.engine.executor import ensure_ray

    ensure_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """The bundled sample program, written once per test run into a temporary folder."""
    from fgs_widgets.archive.sample import sample_program

    return sample_program(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def sample_data(sample):
    """The sample program read and stitched (treat as read-only)."""
    from fgs_widgets.archive import read_fine_guide

    return read_fine_guide(sample.paths)
