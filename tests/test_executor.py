"""The ray executor gives the serial executor's results, with progress and cancel."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.engine.psf import gaussian2d
from fgs_widgets.runtime.fit import fit_gaussians

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    n = 6000
    p = np.column_stack([rng.uniform(5e3, 3e4, n), rng.uniform(3, 4.5, n),
                         rng.uniform(3, 4.5, n), rng.uniform(0.9, 1.3, n),
                         rng.uniform(0.7, 0.9, n), rng.uniform(-1.5, 1.5, n),
                         rng.uniform(10, 30, n)])
    clean = gaussian2d(p)
    sigma = np.sqrt(clean + 150)
    return (clean + rng.normal(0, sigma)).astype(np.float32), sigma.astype(np.float32)


def test_ray_equals_serial(ray_local, frames):
    data, sigma = frames
    serial = fit_gaussians(data, sigma, executor="serial", chunk_size=1000)
    done = []
    distributed = fit_gaussians(data, sigma, executor="ray", chunk_size=1000,
                                progress=lambda d, t: done.append((d, t)))
    assert distributed.attrs["executor"] == "ray"
    pd.testing.assert_frame_equal(serial, distributed)
    assert [d for d, _ in done] == [1000, 2000, 3000, 4000, 5000, 6000]
    assert {t for _, t in done} == {6000}


def test_ray_cancel_keeps_finished_chunks(ray_local, frames):
    data, sigma = frames
    cancel = threading.Event()

    def progress(done, total):
        if done >= 1000:
            cancel.set()

    result = fit_gaussians(data, sigma, executor="ray", chunk_size=500, progress=progress,
                           cancel=cancel)
    finished = result["status"] != "cancelled"
    assert 1000 <= finished.sum() < len(data)
    assert result.loc[finished, "x_mean"].notna().all()
    assert result.loc[~finished, "x_mean"].isna().all()
    assert len(result) == len(data)


def test_ray_uses_and_fills_the_cache(ray_local, frames, tmp_path):
    data, sigma = frames
    first = fit_gaussians(data[:3000], sigma[:3000], executor="ray", chunk_size=1000,
                          cache_dir=tmp_path)
    assert first.attrs["cache_hits"] == 0
    assert len(list(tmp_path.glob("chunk-*.npy"))) == 3
    calls = []
    again = fit_gaussians(data[:3000], sigma[:3000], executor="ray", chunk_size=1000,
                          cache_dir=tmp_path, progress=lambda d, t: calls.append(d))
    assert again.attrs["cache_hits"] == 3 and calls == [3000]
    pd.testing.assert_frame_equal(first, again)


def test_auto_picks_serial_for_small_inputs(frames):
    data, sigma = frames
    assert fit_gaussians(data[:100], sigma[:100]).attrs["executor"] == "serial"


def test_object_store_fits_a_small_dev_shm(monkeypatch):
    from collections import namedtuple

    from fgs_widgets.runtime import executor

    usage = namedtuple("usage", "total used free")
    gib = 1024**3
    monkeypatch.setattr(executor.os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096,
                        "SC_PHYS_PAGES": 16 * gib // 4096}[name])
    for free, expect in ((64 * gib, {}), (1 * gib, {"object_store_memory": int(0.8 * gib)})):
        monkeypatch.setattr(executor.shutil, "disk_usage", lambda _p, f=free: usage(f, 0, f))
        assert executor._object_store_options() == expect
    monkeypatch.setattr(executor.shutil, "disk_usage", lambda _p: usage(gib, 0, 64 * 2**20))
    tiny = executor._object_store_options()
    assert tiny["object_store_memory"] == 2 * gib and "_plasma_directory" in tiny


def test_auto_uses_ray_only_when_it_is_already_running(ray_local, frames, monkeypatch):
    import fgs_widgets.runtime.fit as fit

    data, sigma = frames[0][:300], frames[1][:300]
    monkeypatch.setattr(fit, "AUTO_SERIAL_BELOW", 100)
    assert fit_gaussians(data, sigma, chunk_size=100).attrs["executor"] == "ray"
    assert fit_gaussians(data[:50], sigma[:50]).attrs["executor"] == "serial"


def test_auto_never_starts_ray_by_itself():
    # a fresh process: "auto" on a large input fits in the process and never imports ray
    # (its start-up costs ~10 s and, on one machine, buys nothing over numba threads)
    code = (
        "import sys, numpy as np\n"
        "import fgs_widgets.runtime.fit as g\n"
        "from fgs_widgets.engine.psf import gaussian2d\n"
        "g.AUTO_SERIAL_BELOW = 10\n"
        "frames = gaussian2d(np.tile([1e4, 3.5, 3.5, 1.0, 0.9, 0.2, 10.0], (50, 1)))\n"
        "fit = g.fit_gaussians(frames)\n"
        "print(fit.attrs['executor'], 'ray' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.split() == ["serial", "False"]


def test_run_ray_takes_only_functions_its_workers_can_import_by_name():
    # the workers import the chunk function by its name: a lambda or a local function
    # would fail on every worker, so it is refused before ray starts
    from fgs_widgets.engine.gaussian import fit_chunk
    from fgs_widgets.runtime import executor

    assert executor._reference(fit_chunk) == "fgs_widgets.engine.gaussian:fit_chunk"
    assert executor._chunk_function_or_exit(executor._reference(fit_chunk)) is fit_chunk

    def local(frames, errors, initial, max_iter, tol, *, parallel=True):
        return fit_chunk(frames, errors, initial, max_iter, tol, parallel=parallel)

    for function in (local, lambda *a, **k: None):
        with pytest.raises(ValueError, match="module-level function"):
            executor.run_ray(function, np.zeros((2, 8, 8)), None, None, [(0, 0, 2, None)],
                             {"max_iter": 5, "tol": 1e-8}, lambda *a: None, None, None)


def test_the_executor_imports_no_fit():
    # the chunk function is passed in: importing the executor loads no fit module
    code = ("import sys\n"
            "import fgs_widgets.runtime.executor\n"
            "print(sorted(m for m in sys.modules if m.startswith('fgs_widgets.engine')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.split() == ["[]"]
