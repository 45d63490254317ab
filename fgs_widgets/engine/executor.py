"""Ray: start or join a cluster quietly, and fit chunks on it.

Each chunk of frames (and its ERR) goes into the object store once, as its
own object (`ray.put`): a task pulls only its chunk, so on a multi-node
cluster the head sends each byte once in all, not the whole program to every
node.  Progress is reported per finished chunk; cancellation stops
scheduling, cancels what is queued and keeps what finished; ray retries
tasks whose worker died (``max_retries``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable

import numpy as np

__all__ = ["ensure_ray", "run_ray", "use_threads"]

_lock = threading.Lock()
_remote_fit = None


def _object_store_options() -> dict:
    """Object-store settings that fit this machine's /dev/shm.

    ray's default store is 30% of RAM in /dev/shm; in containers /dev/shm is
    often tiny (64 MiB in docker, ~1 GiB in some hubs) and ray then warns and
    falls back to disk on its own.  Size the store to 80% of a /dev/shm
    that can hold a useful store (>= 512 MiB), else put it on disk
    explicitly (2 GiB or 30% of RAM, whichever is less).
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        free = shutil.disk_usage("/dev/shm").free
    except (OSError, ValueError):
        return {}
    default = int(0.3 * total)
    if free >= default:
        return {}
    if free >= 512 * 1024**2:
        return {"object_store_memory": int(free * 0.8)}
    return {"object_store_memory": min(2 * 1024**3, default),
            "_plasma_directory": tempfile.gettempdir()}


def _drop_auth_enabled_notice(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Token authentication is enabled")


def ensure_ray(address: str | None = None, num_cpus: int | None = None):
    """Start a quiet local ray, or join a cluster; return the ``ray`` module.

    Parameters
    ----------
    address : str, optional
        Cluster to join ("auto", "host:6379", "ray://host:10001").  Default:
        a new local instance with `num_cpus` (default: the machine's cores)
        — explicitly local, so a stale ``/tmp/ray/ray_current_cluster`` or
        another user's ``ray start`` on the same machine is never joined by
        accident.
    num_cpus : int, optional
        Local instance only.

    Notes
    -----
    Quiet: no dashboard, workers' output is not forwarded, ray logs at
    WARNING.  In containers with a small /dev/shm (JupyterHub) the object
    store is sized to fit it, instead of ray warning and falling back to
    /tmp.  Calling it again reuses the running instance (whatever it is).
    Nothing is left behind for a later plain ``ray.init()``: ``ray.init`` does not
    write ``ray_current_cluster`` (only ``ray start`` and ``ray.cluster_utils`` do, in
    ray 2.60), so there is no address file to clean up at exit.
    """
    import ray

    with _lock:
        if ray.is_initialized():
            return ray
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        kwargs: dict = {"include_dashboard": False, "log_to_driver": False,
                        "logging_level": logging.WARNING, "configure_logging": True}
        # ray >= 2.5x enables token auth on local clusters (good: keep it) and says so at
        # WARNING on every start; that notice is noise here, other warnings are not
        logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(
            _drop_auth_enabled_notice)
        if address:
            ray.init(address=address, **kwargs)
        else:
            # "local" starts a fresh instance: never join a cluster some earlier `ray start`
            # left recorded in /tmp/ray (that would also refuse num_cpus)
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count(),
                     **_object_store_options(), **kwargs)
        return ray


def _remote():
    global _remote_fit
    if _remote_fit is None:
        import ray

        @ray.remote(max_retries=3, num_cpus=1)
        def fit_remote(frames, errors, initial, max_iter, tol):
            # one worker per core already: the single-threaded kernel avoids oversubscribing
            from fgs_widgets.engine.gaussian import fit_chunk

            return fit_chunk(frames, errors, initial, max_iter, tol, parallel=False)

        _remote_fit = fit_remote
    return _remote_fit


def run_ray(frames: np.ndarray, errors: np.ndarray | None, initial: np.ndarray | None,
            pending: list[tuple[int, int, int, str | None]], settings: dict,
            finished: Callable[[int, np.ndarray, str | None], None],
            cancel: threading.Event | None, address: str | None) -> None:
    """Fit the ``pending`` chunks (index, start, stop, cache key) on ray.

    ``finished(index, rows, key)`` is called in this thread for each chunk as
    it completes (any order).  Between completions `cancel` is checked; once
    set, the remaining tasks are cancelled and their rows left to the caller
    (status "cancelled").  A chunk that still fails after ray's retries
    raises here; chunks finished before it have been delivered.
    """
    ray = ensure_ray(address)
    fit_remote = _remote()

    def put(array: np.ndarray | None, a: int, b: int):
        return None if array is None else ray.put(np.ascontiguousarray(array[a:b]))

    running = {}
    for i, a, b, key in pending:
        ref = fit_remote.remote(put(frames, a, b), put(errors, a, b), put(initial, a, b),
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


def use_threads(n: int) -> None:
    """numba threads of the calling thread: ``n``, within 1..``NUMBA_NUM_THREADS``.

    numba's count is per thread, so a fit run in a thread of its own with this
    leaves every other thread (and the user's setting) as it was.
    """
    import numba

    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
