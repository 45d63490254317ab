"""One program's survey work, where it runs: fetch, read, fit, statistics, write.

`survey_program` is what a ray task executes (it imports no ray itself, so it also runs
in a plain process).  It works observation by observation: each observation's files are
downloaded into the node's cache (or read where they are), read, fitted, summarised
per visit, and written as the dataset partition ``program=…/observation=…``.  An
observation whose partition is already complete and verified for the same inputs and
settings is skipped, so a task retried after its worker died redoes only the
observation it was in the middle of.

Errors leave as `SurveyError` (plain, picklable messages; never a token):
`TransientSurveyError` for what a retry can cure (MAST unreachable, a stalled or
partial download), which ray retries; anything else fails the program at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .dataset import verify_partition, write_partition
from .tasks import FileRef, ProgramTask

__all__ = ["SurveyError", "TransientSurveyError", "settings_key", "survey_program"]

#: what a partition's numbers depend on besides its files (bump when statistics change)
STATISTICS_VERSION = "1"


class SurveyError(RuntimeError):
    """A program could not be surveyed; the message says which file or service and why."""


class TransientSurveyError(SurveyError):
    """A failure a later attempt may not meet (service down, download cut)."""


def settings_key(settings: dict) -> str:
    """A digest of everything besides the inputs that the numbers depend on."""
    from ..engine.gaussian import ENGINE_VERSION

    relevant = {"fit": settings.get("fit", "gaussian"), "engine": ENGINE_VERSION,
                "statistics": STATISTICS_VERSION, "window": settings.get("window"),
                "plate_scale_mas": settings.get("plate_scale_mas")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def _fetch(refs: tuple[FileRef, ...], cache_dir: str | None) -> tuple[list[Path], int]:
    """Local paths of the files (downloading archive URIs); bytes downloaded."""
    local = [r for r in refs if r.local]
    missing = [r.uri for r in local if not Path(r.uri).is_file()]
    if missing:
        raise SurveyError(f"{missing[0]}: no such file on {socket.gethostname()} (local "
                          "paths must be readable where the task runs: a shared file system)")
    paths = {r.file_name: Path(r.uri) for r in local}
    remote = [r for r in refs if not r.local]
    downloaded = 0
    if remote:
        from ..archive.downloads import download

        products = pd.DataFrame({"file_name": [r.file_name for r in remote],
                                 "uri": [r.uri for r in remote],
                                 "size": [np.nan if r.size is None else r.size for r in remote],
                                 "folder": [r.folder for r in remote]})
        # the token, if any, comes from this node's MAST_API_TOKEN or keyring: tasks carry
        # no secret (task arguments are kept in ray's object store and logs)
        result = download(products, cache_dir)
        sizes = {r.file_name: r.size or 0 for r in remote}
        downloaded = sum(sizes.get(name, 0) for name in result.downloaded)
        paths.update({p.name: p for p in result.paths})
    return [paths[r.file_name] for r in refs], downloaded


def _fit(data, method: str) -> pd.DataFrame:
    if method == "quick":
        from ..engine.quickfit import quick_fit

        return quick_fit(data.frames)
    from ..runtime.executor import use_threads
    from ..runtime.fit import fit_gaussians

    use_threads(1)  # one task per core already: the kernel's threads would oversubscribe
    return fit_gaussians(data.frames, data.errors, executor="serial")


def _observation(task: ProgramTask, observation: int, refs: tuple[FileRef, ...], root: str,
                 settings: dict, key: str) -> dict:
    from ..archive.reader import read_fine_guide
    from ..engine.stability import visit_statistics

    started = time.perf_counter()
    paths, downloaded = _fetch(refs, settings.get("cache_dir"))
    data = read_fine_guide(paths)
    fit = _fit(data, settings.get("fit", "gaussian"))
    options = {k: settings[k] for k in ("window", "plate_scale_mas") if settings.get(k)}
    stats = visit_statistics(data, fit, **options)
    problems = [f"{p.path}: {p.reason}" for p in data.problems]
    stats["fit_method"] = settings.get("fit", "gaussian")
    stats["n_problem_files"] = len(problems)
    seconds = time.perf_counter() - started
    write_partition(root, task.program, observation, stats, {
        "inputs": task.inputs_key(observation), "settings": key,
        "files": [r.file_name for r in refs], "problems": problems,
        "n_frames": len(data), "seconds": round(seconds, 3)})
    return {"observation": observation, "state": "written", "n_frames": len(data),
            "downloaded_bytes": downloaded, "seconds": seconds, "problems": problems}


def _classify(exc: BaseException, program: int) -> SurveyError:
    """The `SurveyError` for an exception: transient or not, with a plain message."""
    from ..archive.errors import DownloadStalled, MastUnreachable, PartialDownload

    text = f"program {program}: {type(exc).__name__}: {exc}"
    transient = (MastUnreachable, DownloadStalled, PartialDownload, ConnectionError,
                 TimeoutError)
    return (TransientSurveyError if isinstance(exc, transient) else SurveyError)(text)


def survey_program(task: dict | ProgramTask, root: str | os.PathLike,
                   settings: dict | None = None) -> dict:
    """Survey one program; return its report (small: the head receives it).

    Parameters
    ----------
    task : ProgramTask or its ``to_dict()``
    root : path
        The dataset's folder, the same for every worker (a shared file system on a
        multi-node cluster).
    settings : dict, optional
        ``fit`` ("gaussian" or "quick"), ``cache_dir`` (download cache on this node;
        default ``conf.cache_dir``), ``window`` (s) and ``plate_scale_mas`` for the
        statistics, ``archive``: `fgs_widgets.archive.conf` values to apply (the
        head's servers and limits), ``stop_file``: a path whose existence asks the
        task to stop before its next observation (a cooperative cancel).

    Returns
    -------
    dict
        ``program, state ("done"), observations`` (each ``written`` or ``skipped``),
        ``n_frames`` (all observations'), ``problems`` (files that could not be read),
        ``downloaded_bytes``, ``seconds``, ``host``, ``pid``; or, stopped by the
        ``stop_file``, ``state`` "cancelled" with the observations done before it.

    Raises
    ------
    SurveyError, TransientSurveyError
    """
    from ..archive.config import conf

    task = task if isinstance(task, ProgramTask) else ProgramTask.from_dict(task)
    settings = dict(settings or {})
    with conf.override(**settings.get("archive", {})):
        return _program(task, root, settings)


def _program(task: ProgramTask, root: str | os.PathLike, settings: dict) -> dict:
    key = settings_key(settings)
    started = time.perf_counter()
    done = []
    stop = settings.get("stop_file")
    for observation, refs in task.observations().items():
        if stop and os.path.exists(stop):  # the survey was cancelled: stop between writes
            return {"program": task.program, "state": "cancelled", "observations": done,
                    "n_frames": sum(o["n_frames"] for o in done)}
        kept = verify_partition(root, task.program, observation,
                                inputs=task.inputs_key(observation), settings=key)
        if kept is not None:  # written before (a retry after a worker died, a re-run)
            done.append({"observation": observation, "state": "skipped",
                         "n_frames": int(kept.get("n_frames", 0)), "downloaded_bytes": 0,
                         "seconds": 0.0, "problems": list(kept.get("problems", []))})
            continue
        failure = None
        try:
            done.append(_observation(task, observation, refs, str(root), settings, key))
        except SurveyError:
            raise
        except Exception as exc:  # every cause ends as a plain message
            failure = _classify(exc, task.program)
        if failure is not None:
            raise failure  # outside the except: nothing chained, no frames kept
    return {"program": task.program, "state": "done", "observations": done,
            "n_frames": sum(o["n_frames"] for o in done),
            "problems": [p for o in done for p in o["problems"]],
            "downloaded_bytes": sum(o["downloaded_bytes"] for o in done),
            "seconds": time.perf_counter() - started, "host": socket.gethostname(),
            "pid": os.getpid()}
