"""Shared fixtures: one local ray instance, one sample program (read and quick-fitted once)
for the whole run, and fresh Sessions over it for each test."""

from __future__ import annotations

import os

import pytest
from loopback import EDB_TOKEN, Behaviour, LoopbackServer, serve_sample
from ray_address import RayAddressFile, ray_address_path

# Keep ray quiet and small in tests; the suite shares one instance (starting ray costs seconds).
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
# The engineering DB keeps the pipeline's 10 retries in tests, but their backoff (1 s doubling,
# minutes in all) would stall every test meeting a refusing or absent EDB: make it ~1 ms.
os.environ.setdefault("FGS_ENG_BACKOFF", "0.0001")


@pytest.fixture(scope="session", autouse=True)
def ray_address_file():
    """Leave ray's ``ray_current_cluster`` as the run found it.

    `ray start` (``test_cluster.py``) writes it and never removes it when its head is
    terminated (only ``ray stop`` does); left behind, it sends a user's next plain
    ``ray.init(num_cpus=...)`` to a dead cluster ("When connecting to an existing cluster,
    num_cpus and num_gpus must not be provided").  The tests undo what they write
    themselves; this guard undoes any claim still open, and any other change that left
    the file pointing at a stopped cluster.  Autouse and session-scoped, so it is set up
    first and torn down last (after ``ray_local``'s shutdown).
    """
    state = RayAddressFile(ray_address_path())
    try:
        yield state
    finally:
        state.close()


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """One cache folder per run (fits, sample, telemetry), never the user's own.

    Set in the environment too, so notebook kernels and JupyterLab started by the
    tests use it.
    """
    folder = tmp_path_factory.mktemp("fgs-cache")
    saved = os.environ.get("FGS_CACHE_DIR")
    os.environ["FGS_CACHE_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if saved is None:
            os.environ.pop("FGS_CACHE_DIR", None)
        else:
            os.environ["FGS_CACHE_DIR"] = saved


@pytest.fixture(scope="session")
def ray_local():
    """A local ray instance shared by every test that needs one."""
    ray = pytest.importorskip("ray")
    from fgs_widgets.runtime.executor import ensure_ray

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


@pytest.fixture(scope="session")
def sample_quick_fit(sample_data):
    """The sample's quick fit table, computed once per test run (treat as read-only)."""
    from fgs_widgets.model import Session

    session = Session()
    session.data = sample_data
    session.fit_frames("quick", block=True)
    return session.quick_fit


@pytest.fixture
def session(sample):
    """A new Session with the sample program read from its files, not fitted: fresh each
    test.  (A test file that needs another session defines its own ``session``.)"""
    from fgs_widgets.model import Session

    s = Session()
    s.read_files(sample.paths)
    return s


@pytest.fixture
def fitted_session(sample_data, sample_quick_fit):
    """A new Session holding the sample and its quick fit: fresh each test (its events,
    periodograms, window, science are its own), yet nothing is read or fitted again (the
    data and fit table are shared, read-only)."""
    from fgs_widgets.model import Session

    s = Session()
    s.data = sample_data
    s.quick_fit = sample_quick_fit
    return s


@pytest.fixture
def mast(sample, tmp_path, monkeypatch):
    """A loopback MAST serving the sample program (query, download, catalog)."""
    from fgs_widgets.archive import conf

    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    behaviour = Behaviour()
    serve_sample(behaviour, sample)
    with LoopbackServer(behaviour) as server, conf.override(
            mast_server=server.url, cache_dir=tmp_path / "cache", timeout=5,
            gsc_url=server.url + "/CatalogSearch.aspx"):
        yield server


@pytest.fixture
def services(sample, tmp_path, monkeypatch):
    """A loopback engineering DB (needing `EDB_TOKEN`) and Guide Star Catalog; MAST is down."""
    from fgs_widgets.archive import conf

    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    behaviour = Behaviour(require_token=EDB_TOKEN)
    serve_sample(behaviour, sample)
    with LoopbackServer(behaviour) as server, conf.override(
            mast_server="http://127.0.0.1:9", eng_server=server.url, timeout=5,
            cache_dir=tmp_path / "cache", gsc_url=server.url + "/CatalogSearch.aspx"):
        yield server
