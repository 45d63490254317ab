"""Compile the fit kernels in the background, before the first fit needs them.

numba compiles a kernel on its first call with new argument types (~10-50 s for the
fit kernels on 2 cores) and keeps the result on disk (``cache=True``), so later
processes only load it (well under a second).  `start_warmup` does that compile or load
in a daemon thread as soon as there are frames, with the argument types those frames
will give the kernels, so a fit started later finds them ready:

>>> warm = start_warmup(data.frames, data.errors)    # doctest: +SKIP
>>> warm.done, warm.seconds, warm.error              # doctest: +SKIP
>>> wait_for_warmup()                                # a fit: wait instead of compiling too

What is warmed, in this order (``kernels``):

``"display"``
    the plot decimation (`fgs_widgets.engine.binning`), which the time-series panel
    calls right after a load: first, so the panel never waits behind a fit kernel;
``"fit"``
    the kernels of the default fit (`fgs_widgets.engine.lm.fit_signatures`:
    `~fgs_widgets.engine.lm._fit_block_errors` for frames with ERR, the noise
    model's kernels for frames without);
``"quick"``
    `fgs_widgets.engine.lm._quick_block` (the quick fit's kernel);
``"periodogram"``
    the gridding kernel of the periodograms (`fgs_widgets.engine.periodogram`);
``"ray"``
    the same fit kernels with the read-only arrays a ray worker gets from the object
    store, into the on-disk cache the workers of a local ray share with this process
    (`fgs_widgets.runtime.executor`).  By default only when ray is already running in
    this process.

The fit kernels are compiled, never run (`numba.core.dispatcher.Dispatcher.compile`
with the types the fit's own call will have).

Thread safety: numba compiles under one process-wide re-entrant lock
(``numba.core.compiler_lock.global_compiler_lock``) and, holding it, looks for the
signature among the compiled ones and in the disk cache before compiling.  A thread
that calls a kernel the warm-up is compiling waits for the lock and then uses the
warm-up's result: no deadlock (one lock, no other lock is held while waiting for it)
and no second compile (``tests/test_warmup.py`` checks both).  What waits, though, is
*any* thread that needs *any* not yet compiled kernel while a step compiles; hence
the display kernels first, and fits that wait on purpose, with a message
(`wait_for_warmup`).  Kernels already compiled are called without the lock.

Set ``FGS_WARMUP=0`` to switch the background warm-up off (a kernel then compiles on
its first call, as numba does by itself).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["KERNELS", "WAITING", "KernelReport", "Warmup", "enabled", "running", "start_warmup",
           "wait_for_warmup", "warm_installation", "warm_kernels"]

#: every warm-up step, in the order they run
KERNELS = ("display", "fit", "quick", "periodogram", "ray")
#: how every "waiting for the warm-up" message starts (widgets recognise it by this)
WAITING = "compiling the fit kernels"

_lock = threading.Lock()
_warmups: dict[tuple, Warmup] = {}
_exiting = threading.Event()  # interpreter exit: start no further step


@atexit.register
def _stop_at_exit() -> None:
    # a step already compiling is not waited for (the thread is a daemon): a script
    # that loads data and ends must not wait ~30 s for kernels it never uses
    _exiting.set()


def enabled() -> bool:
    """Whether data loads start a warm-up (``FGS_WARMUP`` is not "0", numba's JIT is on)."""
    if os.environ.get("FGS_WARMUP", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    numba = sys.modules.get("numba")
    return not (numba is not None and numba.config.DISABLE_JIT)


@dataclass(eq=False)
class Warmup:
    """One background warm-up: its steps, its thread and how it went.

    Attributes
    ----------
    key : tuple
        What was warmed (kernels and the inputs' dtype and writeability): one warm-up
        per key per process.
    timings : dict
        step -> seconds, as each finishes.
    error : BaseException or None
        Why a step failed (the next steps still run; the fit then compiles on its own
        call and raises the real error there).
    """

    key: tuple
    steps: list[tuple[str, Callable[[], None]]] = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    error: BaseException | None = None
    step: str = ""  #: the step running now ("" before and after)
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    _event: threading.Event = field(default_factory=threading.Event, repr=False)
    _wanted: list[str] = field(default_factory=list, repr=False)  # waited for: next
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def ready(self, kernels: Iterable[str] | None = None) -> bool:
        """Whether `kernels` (default: all of its steps) are warm, or not among its steps."""
        if self.done:
            return True
        names = {name for name, _ in self.steps}
        return all(k in self.timings for k in (names if kernels is None else kernels)
                   if k in names)

    def want(self, kernels: Iterable[str]) -> None:
        """Warm these next (after the step running now): a fit waits for them."""
        with _lock:
            self._wanted[:0] = [k for k in kernels if k not in self._wanted]

    @property
    def seconds(self) -> float:
        """Seconds from start to end (so far, while it runs)."""
        return (self.finished if self.finished is not None else time.perf_counter()) \
            - self.started

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done (at most `timeout` s); True when done."""
        return self._event.wait(timeout)

    def status(self) -> str:
        """For people: what runs and since when."""
        if self.done:
            failed = f"; {type(self.error).__name__}: {self.error}" if self.error else ""
            return f"fit kernels ready in {self.seconds:.1f} s{failed}"
        return (f"{WAITING} ({self.step or 'starting'}; first use in this environment, then "
                f"cached on disk) — {self.seconds:.0f} s so far")

    def _next(self, remaining: list[tuple[str, Callable[[], None]]]) -> int:
        with _lock:
            names = [name for name, _ in remaining]
            return next((names.index(k) for k in self._wanted if k in names), 0)

    def _run(self) -> None:
        remaining = list(self.steps)
        try:
            while remaining and not _exiting.is_set():
                name, step = remaining.pop(self._next(remaining))
                self.step = name
                began = time.perf_counter()
                try:
                    step()
                except Exception as exc:  # kept for the caller: the fit raises it itself
                    self.error = self.error or exc
                self.timings[name] = time.perf_counter() - began
        finally:
            self.step = ""
            self.finished = time.perf_counter()
            self._event.set()


def running() -> list[Warmup]:
    """The warm-ups of this process that have not finished yet."""
    with _lock:
        return [w for w in _warmups.values() if not w.done]


def _launch(key: tuple, steps: list[tuple[str, Callable[[], None]]]) -> Warmup:
    """The warm-up for `key`: the existing one (running, done or failed), else a new one."""
    with _lock:
        warm = _warmups.get(key)
        if warm is not None:
            return warm
        warm = _warmups[key] = Warmup(key, steps)
        warm.thread = threading.Thread(target=warm._run, name="fgs-warmup", daemon=True)
        warm.thread.start()
        return warm


def _kernel_input(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Two rows of `array` typed as `gaussian.fit_chunk` hands it to the kernels.

    fit_chunk passes ``np.ascontiguousarray(array, dtype)``: the array itself when it is
    C-contiguous of that dtype (read-only stays read-only, which numba types apart),
    else a new, writeable copy.  Rows are copied: a warm-up keeps no view of the data.
    """
    rows = np.array(array[:2], dtype=dtype, order="C")
    if not array.flags.writeable and array.flags.c_contiguous and array.dtype == dtype:
        rows.setflags(write=False)
    return rows


def _readonly(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.setflags(write=False)
    return array


def _compile_fit(frames: np.ndarray, errors: np.ndarray | None) -> None:
    """Compile the kernels `gaussian.fit_chunk` calls for these inputs (never run them)."""
    import numba

    from ..engine import lm

    for kernel, args in lm.fit_signatures(frames, errors):
        kernel.compile(tuple(numba.typeof(a) for a in args))


def _steps(frames: np.ndarray, errors: np.ndarray | None,
           kernels: tuple[str, ...]) -> list[tuple[str, Callable[[], None]]]:
    def display() -> None:
        from ..engine.binning import block_extrema, decimate_for_display

        x = np.arange(600.0)
        block_extrema(x, 256)
        decimate_for_display(x, x, 10)

    def fit() -> None:
        _compile_fit(frames, errors)

    def quick() -> None:
        import numba

        from ..engine import lm

        out = np.empty((7, len(frames)))
        lm._quick_block.compile(tuple(numba.typeof(a) for a in (frames, out, 0, 1, True)))

    def periodogram() -> None:
        from ..engine.periodogram import _trig_sums

        _trig_sums(np.linspace(0.0, 60.0, 64), np.ones((1, 64)), 0.01, 16)

    def ray() -> None:
        # a ray worker gets its chunk (and its ERR) from the object store: read-only
        _compile_fit(_readonly(frames), None if errors is None else _readonly(errors))

    named = {"display": display, "fit": fit, "quick": quick, "periodogram": periodogram,
             "ray": ray}
    return [(name, named[name]) for name in KERNELS if name in kernels]


def _ray_running() -> bool:
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def start_warmup(frames: np.ndarray | None = None, errors: np.ndarray | None = None, *,
                 kernels: Iterable[str] | None = None) -> Warmup:
    """Compile (or load from numba's disk cache) the kernels in a daemon thread.

    Idempotent: the same kernels for inputs of the same dtype and writeability share one
    `Warmup` per process (the one running, or the one that finished).  Returns at once;
    never raises for a failed compile (see `Warmup.error`).

    Parameters
    ----------
    frames : ndarray, shape (N, 8, 8), optional
        The frames that will be fitted (two rows are copied: their types are what
        counts).  Default: float32 frames with errors, as JWST's files have.
    errors : ndarray, shape (N, 8, 8), optional
        Their ERR (None: the fit will run without).
    kernels : iterable of str, optional
        A subset of `KERNELS`; default every one, "ray" only if ray is running here.

    Raises
    ------
    ValueError
        An unknown kernel name.
    """
    if frames is None:
        frames = np.zeros((2, 8, 8), np.float32)
        errors = np.ones((2, 8, 8), np.float32) if errors is None else errors
    frames = np.asarray(frames)
    dtype = frames.dtype if frames.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    rows = _kernel_input(frames, dtype)
    errs = None if errors is None else _kernel_input(np.asarray(errors), dtype)
    chosen = tuple(k for k in KERNELS if k != "ray" or _ray_running()) if kernels is None \
        else tuple(kernels)
    unknown = sorted(set(chosen) - set(KERNELS))
    if unknown:
        raise ValueError(f"unknown kernels {unknown}: choose from {KERNELS}")
    key = (tuple(k for k in KERNELS if k in chosen), dtype.str, rows.flags.writeable,
           None if errs is None else errs.flags.writeable)
    return _launch(key, _steps(rows, errs, key[0]))


def warm_kernels(frames: np.ndarray | None = None, errors: np.ndarray | None = None, *,
                 kernels: Iterable[str] | None = None, background: bool = True) -> Warmup:
    """`start_warmup`; with ``background=False`` also wait for it (scripts, benchmarks)."""
    warm = start_warmup(frames, errors, kernels=kernels)
    if not background:
        warm.wait()
    return warm


def wait_for_warmup(kernels: Iterable[str] | None = None, *,
                    cancel: threading.Event | None = None,
                    report: Callable[[Warmup], None] | None = None, quiet: float = 2.0,
                    every: float = 1.0) -> float:
    """Block until the running warm-ups of this process have `kernels` ready (default:
    until they end); the seconds waited.

    A fit calls this first, so it does not wait silently behind numba's compiler lock
    (or compile a kernel the warm-up is about to have); its kernels are warmed next
    (`Warmup.want`), and it goes on once they are, while the rest warm on.
    ``report(warmup)`` is called once the wait has lasted `quiet` s (a warm cache
    loads in less: no message for it), then every `every` s; `Warmup.status` is the
    text to show.  Returns early (the seconds so far) once `cancel` is set.
    """
    kernels = None if kernels is None else tuple(kernels)
    began = time.perf_counter()
    reported = None
    for warm in running():
        if kernels is not None:
            warm.want(kernels)
        while not warm.ready(kernels) and not warm.wait(0.1):
            if cancel is not None and cancel.is_set():
                return time.perf_counter() - began
            now = time.perf_counter()
            if report is not None and now - began >= quiet and (
                    reported is None or now - reported >= every):
                report(warm)
                reported = now
    return time.perf_counter() - began


@dataclass(frozen=True)
class KernelReport:
    """One kernel warmed by `warm_installation`: compiled now, or loaded from disk."""

    kernel: str  #: a name of `KERNELS`
    inputs: str  #: the input types it was warmed for ("float32 frames with ERR"...)
    seconds: float
    compiled: int  #: numba functions compiled (0: every one came from the disk cache)
    cache: str  #: the folder numba keeps it in

    def __str__(self) -> str:
        how = (f"compiled {self.compiled} function(s)" if self.compiled
               else "loaded from the disk cache")
        return f"{self.kernel:<11} {self.inputs:<34} {how} in {self.seconds:.1f} s"


def _dispatchers() -> list:
    """Every numba kernel of the engine (each has its own disk cache and statistics)."""
    from numba.core.registry import CPUDispatcher

    from ..engine import binning, lm, periodogram

    return [obj for module in (binning, lm, periodogram) for obj in vars(module).values()
            if isinstance(obj, CPUDispatcher)]


def _fit_kernel_name(use_errors: bool) -> str:
    from ..engine import lm

    return lm.fit_signatures(np.zeros((0, 8, 8)), np.zeros((0, 8, 8)) if use_errors
                             else None)[0][0].py_func.__name__


def _misses(dispatchers: list) -> int:
    return sum(sum(d.stats.cache_misses.values()) for d in dispatchers)


def warm_installation(report: Callable[[KernelReport], None] | None = None
                      ) -> list[KernelReport]:
    """Compile every kernel for every input type this package gives them, now, into the
    disk cache numba reads for this installation (`fgs-widgets warmup`).

    Run by whoever installs the package (``make demo``; a JupyterHub or ray node image,
    as the owner of site-packages) so that no user waits for a compile: float32 frames
    (JWST files) and float64 (any array a user passes), with and without ERR, for the
    fit here and in ray workers (read-only inputs), the quick fit, the display
    decimation and the periodogram.  A read-only installation's kernels are copied into
    each user's own cache on first import (`fgs_widgets.engine.kernel_cache`).

    Parameters
    ----------
    report : callable(KernelReport), optional
        Called as each kernel is ready (a command line prints it).

    Returns
    -------
    list of KernelReport
        ``compiled == 0`` everywhere means nothing had to compile: the cache serves
        this installation on this CPU (``fgs-widgets warmup --check``).
    """
    dispatchers = _dispatchers()
    plan = []
    for dtype in (np.float32, np.float64):
        frames = np.zeros((2, 8, 8), dtype)
        errors = np.ones((2, 8, 8), dtype)
        name = np.dtype(dtype).name
        first = dtype is np.float32
        plan += [(k, f"{name} frames", frames, errors)
                 for k in (("display", "fit", "quick", "periodogram") if first
                           else ("fit", "quick"))]
        plan += [("fit", f"{name} frames without ERR", frames, None)]
        plan += [("ray", f"{name} frames with ERR, read-only", frames, errors),
                 ("ray", f"{name} frames, read-only", frames, None)]
    results = []
    for kernel, inputs, frames, errors in plan:
        (_, step), = _steps(frames, errors, (kernel,))
        before, began = _misses(dispatchers), time.perf_counter()
        step()
        where = {"display": "block_extrema", "periodogram": "_spread",
                 "quick": "_quick_block"}.get(kernel) or _fit_kernel_name(
                     errors is not None)
        cache = next((d.stats.cache_path for d in dispatchers
                      if d.py_func.__name__ == where), "")
        done = KernelReport(kernel, inputs, time.perf_counter() - began,
                            _misses(dispatchers) - before, cache)
        results.append(done)
        if report is not None:
            report(done)
    return results
