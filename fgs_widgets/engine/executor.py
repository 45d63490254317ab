"""Ray: start or join a cluster quietly, and fit chunks on it.

Frames go into the object store once (`ray.put`); each task gets the
reference plus its slice bounds, so no chunk is copied through the driver
twice.  Progress is reported per finished chunk; cancellation stops
scheduling, cancels what is queued and keeps what finished; ray retries
tasks whose worker died (``max_retries``).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable

import numpy as np

__all__ = ["ensure_ray", "run_ray"]

_lock = threading.Lock()
_remote_fit = None


def _object_store_bytes() -> int | None:
    """Fit the object store into a small /dev/shm (JupyterHub containers) instead of failing."""
    try:
        free = shutil.disk_usage("/dev/shm").free
    except OSError:
        return None
    if free < 2 * 1024**3:
        return max(int(free * 0.6), 80 * 1024**2)
    return None


def ensure_ray(address: str | None = None, num_cpus: int | None = None):
    """Start a quiet local ray (the machine's cores), or join ``address``; return the module.

    Calling it again reuses the running instance.
    """
    import ray

    with _lock:
        if ray.is_initialized():
            return ray
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        kwargs: dict = {"include_dashboard": False, "log_to_driver": False,
                        "logging_level": logging.WARNING, "configure_logging": True}
        if address:
            ray.init(address=address, **kwargs)
        else:
            store = _object_store_bytes()
            # "local" starts a fresh instance: never join a cluster some earlier `ray start`
            # left recorded in /tmp/ray (that would also refuse num_cpus)
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count(),
                     object_store_memory=store, **kwargs)
        return ray


def _remote():
    global _remote_fit
    if _remote_fit is None:
        import ray

        @ray.remote(max_retries=3, num_cpus=1)
        def fit_remote(frames, errors, initial, a, b, max_iter, tol):
            # one worker per core: numba threads inside a worker would oversubscribe
            import numba

            from .gaussian import fit_chunk

            numba.set_num_threads(1)
            return fit_chunk(frames[a:b], None if errors is None else errors[a:b],
                             None if initial is None else initial[a:b], max_iter, tol)

        _remote_fit = fit_remote
    return _remote_fit


def run_ray(frames: np.ndarray, errors: np.ndarray | None, initial: np.ndarray | None,
            pending: list[tuple[int, int, int, str | None]], settings: dict,
            finished: Callable[[int, np.ndarray, str | None], None],
            cancel: threading.Event | None, address: str | None) -> None:
    """Fit the ``pending`` chunks (index, start, stop, cache key) on ray."""
    ray = ensure_ray(address)
    fit_remote = _remote()
    frames_ref = ray.put(np.ascontiguousarray(frames))
    errors_ref = None if errors is None else ray.put(np.ascontiguousarray(errors))
    initial_ref = None if initial is None else ray.put(np.ascontiguousarray(initial))
    running = {}
    for i, a, b, key in pending:
        ref = fit_remote.remote(frames_ref, errors_ref, initial_ref, a, b,
                                settings["max_iter"], settings["tol"])
        running[ref] = (i, key)
    try:
        while running:
            if cancel is not None and cancel.is_set():
                break
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
            for ref in ready:
                i, key = running.pop(ref)
                finished(i, ray.get(ref), key)
    finally:
        for ref in running:
            ray.cancel(ref)
