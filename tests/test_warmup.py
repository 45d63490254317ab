"""The background warm-up of the fit kernels: compiled once, fits wait for it and say so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.jobs import JobState
from fgs_widgets.model import Session
from fgs_widgets.runtime import warmup


def _fresh_env(tmp_path, **extra) -> dict:
    """A subprocess environment with an empty numba cache: every kernel compiles cold."""
    return {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), **extra}


def _until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_warmup_compiles_exactly_the_kernels_a_fit_calls(sample_data):
    from fgs_widgets.engine import lm
    from fgs_widgets.engine.gaussian import fit_chunk
    from fgs_widgets.engine.quickfit import quick_fit

    warm = warmup.start_warmup(sample_data.frames, sample_data.errors)
    assert warm.wait(600) and warm.done and warm.error is None
    assert {"display", "fit", "quick"} <= set(warm.timings) and warm.seconds > 0
    assert "ready" in warm.status() and warm.step == ""
    kernels = (lm._fit_block_errors, lm._quick_block)
    assert all(k.signatures for k in kernels)
    before = [(len(k.signatures), sum(k.stats.cache_misses.values())) for k in kernels]
    fit_chunk(sample_data.frames[:20], sample_data.errors[:20])
    quick_fit(sample_data.frames[:20])
    # the fit found its signature ready: nothing new compiled, nothing new loaded
    assert [(len(k.signatures), sum(k.stats.cache_misses.values())) for k in kernels] == before


def test_start_is_idempotent_per_kind_of_input(sample_data):
    frames, errors = sample_data.frames, sample_data.errors
    first = warmup.start_warmup(frames, errors, kernels=["display"])
    assert warmup.start_warmup(frames[5:9], errors[:3], kernels=("display",)) is first
    assert warmup.warm_kernels(frames, errors, kernels=["display"], background=False) is first
    assert first.done
    other = warmup.start_warmup(frames.astype(np.float64), kernels=["display"])
    assert other is not first and other.key[1:] == ("<f8", True, None)
    other.wait(60)
    with pytest.raises(ValueError, match="unknown kernels"):
        warmup.start_warmup(frames, kernels=["fast"])


def test_no_view_of_the_data_is_kept(sample_data):
    warm = warmup.start_warmup(sample_data.frames, sample_data.errors, kernels=["display"])
    warm.wait(60)
    readonly = sample_data.frames.copy()
    readonly.setflags(write=False)
    assert warmup.start_warmup(readonly, kernels=["display"]).key[2] is False  # typed apart


def test_a_kernel_waited_for_is_warmed_next():
    gate, order = threading.Event(), []

    def step(name):
        def run():
            order.append(name)
            if name == "display":
                gate.wait(30)
        return run

    warm = warmup._launch(("order", object()), [(n, step(n)) for n in warmup.KERNELS])
    assert _until(lambda: warm.step == "display")
    warm.want(["ray"])
    assert not warm.ready(["ray"]) and warm.ready(["not a step"])
    gate.set()
    assert warm.wait(30) and warm.ready()
    assert order == ["display", "ray", "fit", "quick", "periodogram"] \
        and set(warm.timings) == set(order)


_RACE = """
import json, sys
from fgs_widgets.runtime import warmup
warm = warmup.start_warmup(kernels=["display"])
import numpy as np
from fgs_widgets.engine import binning
running = not warm.done
binning.block_extrema(np.arange(600.0), 256)  # while the warm-up compiles it
warm.wait(300)
misses = sum(binning._block_extrema.stats.cache_misses.values())
print(json.dumps({"running": running, "misses": misses, "error": repr(warm.error)}))
"""


@pytest.mark.slow
def test_a_kernel_called_during_its_warmup_compiles_once_without_deadlock(tmp_path):
    done = subprocess.run([sys.executable, "-c", _RACE], env=_fresh_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out == {"running": True, "misses": 1, "error": "None"}


_SESSION = """
import json, sys
from fgs_widgets.engine import lm
from fgs_widgets.runtime import warmup
from fgs_widgets.model import Session

session = Session()
messages = []
session.observe(lambda change: messages.append(change["new"]), names="message")
session.read_files(sys.argv[1:-1])  # the warm-up starts here
warm = warmup.running()[0]
pressed_during = not warm.done
session.fit_frames("full", executor="serial", block=True)  # pressed at once
session.fit.to_parquet(sys.argv[-1])
print(json.dumps({"pressed_during": pressed_during, "left": warm.step, "messages": messages,
                  "state": session.fit_job.state.value, "final": session.fit_job.message,
                  "fit_compiles": sum(lm._fit_block_errors.stats.cache_misses.values())}))
# and exits while the warm-up still compiles the quick fit: the exit must not hang
"""


@pytest.mark.slow
def test_a_fit_pressed_during_a_cold_warmup_waits_says_so_and_fits_the_same(
        tmp_path, sample, sample_data):
    from fgs_widgets.runtime.fit import fit_gaussians

    out = tmp_path / "fit.parquet"
    done = subprocess.run([sys.executable, "-c", _SESSION, *map(str, sample.paths), str(out)],
                          env=_fresh_env(tmp_path), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["pressed_during"], seen  # the fit was started during the warm-up
    waiting = [m for m in seen["messages"] if m.startswith(warmup.WAITING)]
    assert waiting and "the full fit starts when they are ready" in waiting[0], seen["messages"]
    assert any(m.startswith("fit kernels ready after") for m in seen["messages"])
    # a blocking call (a cell, a script) says it on stderr too: once waiting, once ready
    said = [line for line in done.stderr.splitlines()
            if line.startswith((warmup.WAITING, "fit kernels ready after"))]
    assert len(said) == 2 and said[0].startswith(warmup.WAITING), done.stderr[-2000:]
    assert seen["state"] == "done" and "compiling the fit kernel" in seen["final"]
    assert seen["fit_compiles"] == 1  # the warm-up's compile, not a second one by the fit
    reference = fit_gaussians(sample_data.frames, sample_data.errors, executor="serial")
    pd.testing.assert_frame_equal(pd.read_parquet(out), reference, check_categorical=False)


@pytest.mark.slow
def test_the_command_line_says_it_waits_for_a_compile_before_its_progress_bar(tmp_path, sample):
    out = tmp_path / "fit.parquet"
    done = subprocess.run([sys.executable, "-m", "fgs_widgets", "fit", str(sample.directory),
                           "--observation", "2", "--visit", "2", "--executor", "serial",
                           "-o", str(out)], env=_fresh_env(tmp_path), capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    waiting = next(i for i, line in enumerate(lines) if line.startswith(warmup.WAITING))
    assert "`fgs-widgets warmup` compiles them ahead" in lines[waiting]
    ready = next(i for i, line in enumerate(lines) if line.startswith("fit kernels ready"))
    bar = next(i for i, line in enumerate(lines) if line.startswith("fit ["))
    assert waiting < ready < bar and len(pd.read_parquet(out)) == 2048


@pytest.fixture
def blocked_warmup():
    """A warm-up that runs until the test lets it go (a long cold compile, on demand)."""
    gate = threading.Event()
    steps = [(name, lambda: gate.wait(60)) for name in ("fit", "quick")]
    warm = warmup._launch(("test", object()), steps)
    yield warm, gate
    gate.set()
    warm.wait(60)


@pytest.fixture
def session(sample):
    s = Session()
    s.read_files(sample.paths)
    for warm in warmup.running():  # the data's own warm-up (a warm cache: quick)
        warm.wait(600)
    return s


def test_fit_frames_waits_for_the_warmup_and_the_fit_runner_says_so(session, blocked_warmup):
    from fgs_widgets.engine.quickfit import quick_fit
    from fgs_widgets.widgets import FitRunner

    warm, gate = blocked_warmup
    runner = FitRunner(session)
    messages = []
    session.observe(lambda change: messages.append(change["new"]), names="message")
    runner.kind.value = "quick"
    runner.run()  # the button: returns at once, the fit job waits
    assert _until(lambda: any(m.startswith(warmup.WAITING) for m in messages))
    assert session.fit_job.running and session.quick_fit is None and not warm.done
    assert "compiling the fit kernels (fit;" in runner.status.value
    assert warm._wanted == ["quick"]  # warmed next
    gate.set()
    session.wait(120)
    assert session.fit_job.state is JobState.DONE
    assert runner.status.value.count("quick fit done")
    assert any(m.startswith("fit kernels ready after") for m in messages)
    pd.testing.assert_frame_equal(session.quick_fit, quick_fit(session.data.frames))
    runner.close()


def test_a_fit_cancelled_while_it_waits_ends_cancelled(session, blocked_warmup):
    run = session.fit_frames("full", executor="serial")
    assert _until(lambda: session.message.startswith(warmup.WAITING))
    session.fit_job.cancel()
    run.thread.join(30)
    assert session.fit_job.state is JobState.CANCELLED and session.fit is None
    assert "before it started" in session.fit_job.message


def test_loading_starts_the_warmup_unless_switched_off(sample_data, monkeypatch):
    started = []
    monkeypatch.setattr(warmup, "start_warmup", lambda *a, **k: started.append(a))
    session = Session()
    monkeypatch.setenv("FGS_WARMUP", "0")
    assert not warmup.enabled()
    session.data = sample_data
    assert started == []
    monkeypatch.setenv("FGS_WARMUP", "1")
    session.data = None
    assert started == []
    session.data = sample_data[:500]
    assert len(started) == 1 and started[0][0].shape == (500, 8, 8)


# --- ray: one cache per node, warmed once --------------------------------------------------


def test_worker_env_passes_only_a_numba_cache_dir_set_here(monkeypatch, tmp_path):
    from fgs_widgets.runtime import executor

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    assert executor._worker_env() == {}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NUMBA_CACHE_DIR", "numba-cache")
    assert executor._worker_env() == {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}


class _FakeRay:
    """Records ``ray.init``'s arguments (ensure_ray's choice) without starting anything."""

    def __init__(self):
        self.calls = []

    def is_initialized(self):
        return False

    def init(self, **kwargs):
        self.calls.append(kwargs)


def test_ensure_ray_passes_the_cache_dir_to_a_cluster_only(monkeypatch, tmp_path):
    from fgs_widgets.runtime import executor

    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    executor.ensure_ray("ray://head:10001")
    executor.ensure_ray()  # local: its workers inherit this environment
    assert fake.calls[0]["runtime_env"] == {"env_vars": {"NUMBA_CACHE_DIR": str(tmp_path)}}
    assert "runtime_env" not in fake.calls[1] and fake.calls[1]["address"] == "local"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    executor.ensure_ray("auto")
    assert "runtime_env" not in fake.calls[2]


@pytest.mark.ray
def test_each_node_is_warmed_once_per_kind_of_input(ray_local):
    from fgs_widgets.engine.gaussian import fit_chunk
    from fgs_widgets.engine.psf import gaussian2d
    from fgs_widgets.runtime import executor

    ray = ray_local
    frames = gaussian2d(np.tile([1e4, 3.5, 3.5, 1.0, 0.9, 0.2, 10.0], (2, 1))).astype(
        np.float32)
    refs = (ray.put(frames), None, None)
    kind = ("<f4-test", False, False)
    settings = {"max_iter": 50, "tol": 1e-8}
    chunk = executor._reference(fit_chunk)
    nodes = set(executor._nodes(ray))
    assert nodes and executor._warm_nodes(ray, executor._remote(), chunk, refs, kind,
                                          settings, None) == nodes
    assert executor._warm_nodes(ray, executor._remote(), chunk, refs, kind, settings,
                                None) == set()
    # a node that cannot take the task in time does not hold the fit back
    assert executor._warm_nodes(ray, executor._remote(), chunk, refs,
                                ("<f4-late", False, False), settings, None, timeout=0) == set()
