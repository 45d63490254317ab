"""A fit through a separate multi-process ray cluster equals the serial fit.

The cluster is ``ray start --head --block`` owned by this test (stopped by its own
handle, never ``ray stop``, which would also stop the suite's shared instance); the
driver is a separate process, since one process talks to one ray cluster at a time.

`ray start` records its address in ``<ray temp dir>/ray_current_cluster`` and only
``ray stop`` removes it; terminating the head leaves it pointing at a dead cluster, which
a user's next plain ``ray.init(num_cpus=...)`` then refuses to start beside.  The test
puts that file back as it found it (conftest's session guard is a second net).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.runtime.fit import fit_gaussians

pytestmark = pytest.mark.ray

DRIVER = """
import sys, numpy as np
from fgs_widgets.runtime.fit import fit_gaussians
frames = np.load(sys.argv[1])
result = fit_gaussians(frames, executor="ray", address=sys.argv[2], chunk_size=1500)
assert result.attrs["executor"] == "ray"
result.to_parquet(sys.argv[3])
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_fit_through_a_ray_cluster_equals_serial(tmp_path, ray_address_file):
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists() and shutil.which("ray") is None:
        pytest.skip("the ray command line is not installed")
    rng = np.random.default_rng(0)
    from fgs_widgets.engine.psf import gaussian2d

    n = 6000
    p = np.column_stack([rng.uniform(5e3, 3e4, n), rng.uniform(3, 4.5, n),
                         rng.uniform(3, 4.5, n), rng.uniform(0.9, 1.3, n),
                         rng.uniform(0.7, 0.9, n), rng.uniform(-1.5, 1.5, n),
                         rng.uniform(10, 30, n)])
    frames = gaussian2d(p) + rng.normal(0, 30, (n, 8, 8))
    np.save(tmp_path / "frames.npy", frames)
    port = _port()
    # ray >= 2.5x clusters started by `ray start` require token authentication: the head
    # and every driver share the token through the documented environment variables
    env = {**os.environ, "RAY_DEDUP_LOGS": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    ray_address_file.claim(port)  # `ray start` records its address for later drivers
    head = subprocess.Popen(
        [str(ray_cli if ray_cli.exists() else "ray"), "start", "--head", "--block",
         f"--port={port}", "--num-cpus=2", "--include-dashboard=false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        out = tmp_path / "cluster.parquet"
        while True:  # the head needs a few seconds before it accepts drivers
            result = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path / "frames.npy"),
                                     address, str(out)], capture_output=True, text=True,
                                    env=env, timeout=120)
            if result.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert result.returncode == 0, result.stderr[-2000:]
        # the head records itself where conftest looks (else the cleanup below misses it)
        deadline = time.monotonic() + 10
        while not ray_address_file.holds(port):
            assert time.monotonic() < deadline, (
                f"`ray start --head` did not record port {port} in {ray_address_file.path}: "
                f"{ray_address_file.current()!r}")
            time.sleep(0.2)
    finally:
        head.terminate()
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            head.kill()
        ray_address_file.release(port)  # put back what it held, if it still holds ours
    # stale, it would send a user's next plain `ray.init(num_cpus=...)` to a dead cluster
    assert not ray_address_file.holds(port), (
        f"{ray_address_file.path} left pointing at the stopped cluster on port {port}")
    serial = fit_gaussians(frames, executor="serial", chunk_size=1500)
    cluster = pd.read_parquet(out)
    pd.testing.assert_frame_equal(serial.reset_index(drop=True), cluster, check_categorical=False)


def test_local_ray_leaves_no_address_file(ray_local, ray_address_file):
    """`ensure_ray()` (``address="local"``) does not record itself for later drivers.

    Should ray ever write ``ray_current_cluster`` for local instances, ``ensure_ray`` must
    remove it at shutdown, or a user's next plain ``ray.init()`` joins a dead cluster.
    """
    own = ray_local.get_runtime_context().gcs_address
    assert own
    assert (ray_address_file.current() or b"").strip() != own.encode()


@pytest.mark.parametrize("env", [{}, {"TMPDIR": "/var/tmp/t"},
                                 {"TMPDIR": "/var/tmp/t", "RAY_TMPDIR": "/srv/r"}])
def test_address_file_path_is_rays(monkeypatch, ray_address_file, env):
    """conftest resolves the file as ray does ($RAY_TMPDIR, else $TMPDIR, else /tmp)."""
    pytest.importorskip("ray")
    try:
        from ray._common.utils import get_ray_address_file
    except ImportError:  # ray < 2.4x
        from ray._private.utils import get_ray_address_file
    for name in ("RAY_TMPDIR", "TMPDIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert ray_address_file.resolve() == Path(get_ray_address_file(None))
