"""Ray: start or join a cluster quietly, and fit chunks on it.

What a chunk's task computes is the caller's: `run_ray` receives the chunk function
(`fgs_widgets.engine.gaussian.fit_chunk` for `fgs_widgets.runtime.fit.fit_gaussians`)
and sends it to the workers by name, so this module imports no fit.

Each chunk of frames (and its ERR) goes into the object store once, as its
own object (`ray.put`): a task pulls only its chunk, so on a multi-node
cluster the head sends each byte once in all, not the whole program to every
node.  Progress is reported per finished chunk; a bounded number of chunks is
in flight; cancellation is cooperative: it stops submitting and keeps what
finished, and never interrupts a running task (`run_bounded`); ray retries tasks
whose worker died (``max_retries``), and a worker whose imports are broken ends
itself so that its chunk is retried on a fresh one (`_chunk_function_or_exit`).

Compiled once per node, not once per worker.  numba keeps the compiled kernels on
disk (``cache=True``) in one directory per node that every worker process of that
node shares: ``$NUMBA_CACHE_DIR`` if set, else ``__pycache__`` next to the package's
sources when that is writable, else the user's cache directory (``~/.cache/numba``).
The rule for the workers' ``NUMBA_CACHE_DIR`` (`_worker_env`):

* a local instance (`ensure_ray` without an address): nothing is passed.  Its
  workers inherit this process's environment and import the same files, so they use
  this process's cache directory, which its own fits and the warm-up
  (`fgs_widgets.runtime.warmup`, kernel "ray") fill;
* joining a cluster: the workers have the environment their node's ``ray start``
  had, not this one's.  If ``NUMBA_CACHE_DIR`` is set here it is passed to them (the
  job's ``runtime_env``; made absolute), so every node's workers use that path (on each
  node's own disk, or one shared folder on a shared file system); if it is not set,
  nothing is passed and each node uses numba's default above, one folder per node.

A folder numba cannot write is skipped by numba itself (it tries the next one), so no
rule depends on whether the package folder is writable.

Then, before the chunks of a run, one two-frame task per node (`_warm_nodes`, once
per node and input type in this process) compiles the kernel there, or loads it from
that cache: the node's other workers find it on disk, instead of each compiling its own
copy at the same time.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

import numpy as np

__all__ = ["ChunkFunction", "ensure_ray", "in_flight_limit", "run_bounded", "run_ray",
           "use_threads"]

T = TypeVar("T")
_END = object()


class ChunkFunction(Protocol):
    """What `run_ray` runs per chunk: `fgs_widgets.engine.gaussian.fit_chunk`'s signature."""

    def __call__(self, frames: np.ndarray, errors: np.ndarray | None,
                 initial: np.ndarray | None, max_iter: int, tol: float, *,
                 parallel: bool = ...) -> np.ndarray: ...


_lock = threading.Lock()
_remote_fit = None
#: (node id, input kind) whose numba cache a warm task has filled (`_warm_nodes`)
_warm: set[tuple[str, tuple]] = set()
log = logging.getLogger(__name__)


def _worker_env() -> dict[str, str]:
    """Environment variables for a cluster's workers: ``NUMBA_CACHE_DIR`` if set here."""
    folder = os.environ.get("NUMBA_CACHE_DIR", "").strip()
    return {"NUMBA_CACHE_DIR": os.path.abspath(os.path.expanduser(folder))} if folder else {}


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
    Joining a cluster passes this process's ``NUMBA_CACHE_DIR``, if set, to its
    workers (the module docstring says why).
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
            # the cluster's workers do not inherit this environment (see the module docstring)
            env = _worker_env()
            ray.init(address=address, **({"runtime_env": {"env_vars": env}} if env else {}),
                     **kwargs)
        else:
            # "local" starts a fresh instance: never join a cluster some earlier `ray start`
            # left recorded in /tmp/ray (that would also refuse num_cpus)
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count(),
                     **_object_store_options(), **kwargs)
        return ray


def _remote():
    """The ray task that runs one chunk: ``(chunk function's name, frames, errors, initial,
    max_iter, tol) -> rows`` (the name from `_reference`)."""
    global _remote_fit
    if _remote_fit is None:
        import ray

        @ray.remote(max_retries=3, num_cpus=1)
        def fit_remote(function, frames, errors, initial, max_iter, tol):
            fit_chunk = _chunk_function_or_exit(function)
            # one worker per core already: the single-threaded kernel avoids oversubscribing
            return fit_chunk(frames, errors, initial, max_iter, tol, parallel=False)

        _remote_fit = fit_remote
    return _remote_fit


def _reference(function: ChunkFunction) -> str:
    """``"module:qualname"`` of a module-level function, checked to import back to it.

    The name, not the function, is the task's argument: ray unpickles a function argument
    (an import, as pickle refers to a module-level function by name) before the task
    body runs, where a broken import would fail the task instead of ending the worker
    (`_chunk_function_or_exit`).
    """
    name = f"{function.__module__}:{function.__qualname__}"
    module = importlib.import_module(function.__module__)
    if "<locals>" in function.__qualname__ or getattr(
            module, function.__qualname__, None) is not function:
        raise ValueError(f"the chunk function must be a module-level function that ray's "
                         f"workers can import by name, not {name}")
    return name


def _chunk_function_or_exit(name: str) -> ChunkFunction:
    """The chunk function `name` (`_reference`), imported in a ray worker; a worker whose
    imports are broken exits.

    An import cut in half (by an interrupt in an earlier task, or a crash) leaves a
    module in ``sys.modules`` without its attributes ("module 'numba' has no attribute
    'core'"), and every later task ray gives that worker fails the same way.  Such a
    worker ends its own process: ray sees a dead worker and re-runs the chunk on a fresh
    one (``max_retries``).  A package that is missing (``ModuleNotFoundError``) is the
    node's installation, not the worker's state: that error is raised as it is.
    """
    module, _, qualname = name.partition(":")
    try:
        return getattr(importlib.import_module(module), qualname)
    except ModuleNotFoundError:
        raise
    except (ImportError, AttributeError):
        log.error("this ray worker's imports are broken; it exits so that its task is "
                  "retried on a fresh worker", exc_info=True)
        logging.shutdown()
        os._exit(70)  # EX_SOFTWARE; nothing of ours is open for writing in a fit task


def run_ray(fit_chunk: ChunkFunction, frames: np.ndarray, errors: np.ndarray | None,
            initial: np.ndarray | None, pending: list[tuple[int, int, int, str | None]],
            settings: dict, finished: Callable[[int, np.ndarray, str | None], None],
            cancel: threading.Event | None, address: str | None) -> None:
    """Fit the ``pending`` chunks (index, start, stop, cache key) on ray.

    Each task calls ``fit_chunk(frames, errors, initial, settings["max_iter"],
    settings["tol"], parallel=False)`` on its rows; `fit_chunk` must be a module-level
    function (the workers import it by name; a lambda or a local function raises
    ``ValueError``).  ``finished(index, rows, key)`` is called in this thread for each
    chunk as it completes (any order); at most `in_flight_limit` chunks are submitted at
    once.  Once `cancel` is set no chunk is submitted; those in flight are kept if
    they finish within a second, else left to finish unobserved (`run_bounded`), and
    the rows not delivered are the caller's (status "cancelled").  A chunk whose
    worker died is re-run by ray (``max_retries``), on a new worker; one that still
    fails raises here; chunks finished before it have been delivered.
    """
    function = _reference(fit_chunk)
    ray = ensure_ray(address)
    fit_remote = _remote()

    def put(array: np.ndarray | None, a: int, b: int):
        return None if array is None else ray.put(np.ascontiguousarray(array[a:b]))

    if len(pending) > 1:  # one chunk: no second worker could compile alongside
        kind = (function, frames.dtype.str, errors is not None, initial is not None)
        _warm_nodes(ray, fit_remote, function, (put(frames, 0, 2), put(errors, 0, 2),
                                                put(initial, 0, 2)), kind, settings, cancel)
        if cancel is not None and cancel.is_set():
            return

    def submit(chunk):
        _, a, b, _key = chunk
        return fit_remote.remote(function, put(frames, a, b), put(errors, a, b),
                                 put(initial, a, b), settings["max_iter"], settings["tol"])

    def collect(chunk, ref):
        i, _, _, key = chunk
        finished(i, ray.get(ref), key)

    run_bounded(ray, pending, submit, collect, cancel)


def in_flight_limit(ray) -> int:
    """Tasks to keep submitted at once: two per CPU of the cluster (at least two).

    Enough that a worker finishing a task finds the next one queued on its node, few
    enough that a cancel leaves at most a couple of tasks per worker to finish.
    """
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
    except Exception:  # an older client that cannot say: a small window still works
        log.debug("cannot read the cluster's CPUs", exc_info=True)
        cpus = 1
    return max(2, 2 * cpus)


def run_bounded(ray, items: Iterable[T], submit: Callable[[T], object],
                collect: Callable[[T, object], None], cancel: threading.Event | None, *,
                limit: int | None = None, grace: float = 1.0) -> dict:
    """Run one ray task per item, at most `limit` submitted at once; cancel cooperatively.

    ``submit(item)`` returns the task's ``ObjectRef``; ``collect(item, ref)`` is called
    in this thread as each task finishes (any order) and may ``ray.get`` it (an exception
    it raises propagates; what is still in flight is left to finish on its own).

    A cancel (`cancel` set, or ``KeyboardInterrupt`` in this thread) stops submitting;
    the tasks in flight are collected if they finish within `grace` seconds and left
    running otherwise, never interrupted: ``ray.cancel`` raises ``KeyboardInterrupt``
    inside a running task, which can land in the middle of an import (that worker keeps
    a half-imported module and ray reuses it) or of a write, and it races ray's own
    bookkeeping of tasks that are completing (a core abort that kills this process).

    Returns
    -------
    dict
        ``ObjectRef -> item`` of the tasks still running when it returned (empty unless
        cancelled): their results are not collected; a caller whose tasks write may
        wait for them before starting the same work again.
    """
    limit = limit or in_flight_limit(ray)
    todo = iter(items)
    running: dict = {}
    exhausted = False
    try:
        while True:
            stop = cancel is not None and cancel.is_set()
            while not stop and not exhausted and len(running) < limit:
                item = next(todo, _END)
                if item is _END:
                    exhausted = True
                else:
                    running[submit(item)] = item
            if stop or not running:
                break
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
            for ref in ready:
                collect(running.pop(ref), ref)
    except KeyboardInterrupt:
        if cancel is not None:
            cancel.set()
        raise
    finally:
        if cancel is not None and cancel.is_set() and running:
            _drain(ray, running, collect, grace)
    return running


def _drain(ray, running: dict, collect: Callable, grace: float) -> None:
    """Collect the tasks of `running` that finish within `grace` s; leave the rest."""
    deadline = time.monotonic() + grace
    while running and (left := deadline - time.monotonic()) > 0:
        ready, _ = ray.wait(list(running), num_returns=len(running), timeout=left)
        for ref in ready:
            try:
                collect(running.pop(ref), ref)
            except Exception:  # cancelled anyway: a late failure is the next run's to see
                log.debug("a task finishing after the cancel failed", exc_info=True)
        if not ready:
            break


def _nodes(ray) -> list[str]:
    """Ids of the alive nodes that run tasks (a CPU or more); [] if ray cannot say."""
    try:
        return [node["NodeID"] for node in ray.nodes()
                if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) >= 1]
    except Exception:  # e.g. an older ray client: no warm-up, workers compile as before
        log.debug("cannot list the ray nodes", exc_info=True)
        return []


def _warm_nodes(ray, fit_remote, function: str, refs: tuple, kind: tuple, settings: dict,
                cancel: threading.Event | None, timeout: float = 120.0) -> set[str]:
    """Fit two frames on every node not yet warmed for this input `kind`; wait for them.

    `function` is the chunk function's name (`_reference`); ``refs`` are the (frames, errors,
    initial) objects (or None) of the two frames: the task sees what a chunk's task sees
    (read-only arrays of the same dtypes), so it compiles, or loads from the node's
    cache, the very kernel the chunks need.  A node
    whose task fails is left for its workers to compile as before (the chunks have
    their retries).  Stops waiting at `cancel` or after `timeout` s
    (a node whose CPUs are all busy must not hold the fit back: its task is left to
    finish and fill the cache).  Returns the nodes warmed now.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    todo = [node for node in _nodes(ray) if (node, kind) not in _warm]
    tasks = {fit_remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        node, soft=False)).remote(function, *refs, settings["max_iter"], settings["tol"]): node
        for node in todo}
    warmed = set()
    deadline = time.monotonic() + timeout
    # the tasks left at a cancel or past the timeout finish on their own and fill their
    # node's cache: never interrupted (`run_bounded` says why)
    while tasks and time.monotonic() < deadline:
        if cancel is not None and cancel.is_set():
            break
        ready, _ = ray.wait(list(tasks), num_returns=1, timeout=0.2)
        for ref in ready:
            node = tasks.pop(ref)
            try:
                ray.get(ref)
            except Exception:  # the node went away, say: its chunks go elsewhere
                log.warning("warming the fit kernel on ray node %s failed", node,
                            exc_info=True)
            else:
                warmed.add(node)
                _warm.add((node, kind))
    return warmed


def use_threads(n: int) -> None:
    """numba threads of the calling thread: ``n``, within 1..``NUMBA_NUM_THREADS``.

    numba's count is per thread, so a fit run in a thread of its own with this
    leaves every other thread (and the user's setting) as it was.
    """
    import numba

    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
