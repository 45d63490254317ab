"""The ray executor gives the serial executor's results, with progress and cancel."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.engine.gaussian import fit_gaussians
from fgs_widgets.engine.psf import gaussian2d

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
