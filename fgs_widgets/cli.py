"""``fgs-widgets``: batch use without a notebook.

Commands::

    fgs-widgets info PATHS...                 the files' table (fg_table)
    fgs-widgets fit PATHS... | --program N    fit every frame, write Parquet, ECSV, FITS or CSV
    fgs-widgets periodogram RESULTS           peaks of every column of a results file
    fgs-widgets report PROGRAM | PATHS... -o report.html
                                              fit, then one offline HTML guiding report
    fgs-widgets sample DIR                    write the bundled sample program
    fgs-widgets warmup [--check]              compile every kernel into numba's disk cache
    fgs-widgets survey OUT --programs N... | --programs-file F | --between A B | --paths P...
                                              many programs on ray -> one Parquet dataset

Exit codes: 0 success, 1 the data or a service failed (message on stderr; for a
survey: some programs failed, recorded in OUT/_survey, retried by running it again),
2 bad command line (for a report also an output not ending in .html/.htm, or a
--reference folder or --science file that does not exist: said before any download or
fit), 130 interrupted (finished chunks or partitions are kept).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_write

__all__ = ["main"]

_RESULT_SUFFIXES = (".parquet", ".ecsv", ".fits", ".csv")


class _Progress:
    """A one-line progress bar on stderr (frames/s and ETA), quiet when not a terminal.

    ``unit`` and ``scale`` say what is counted (default frames; "MB", 1e-6 for bytes)."""

    def __init__(self, label: str, stream=sys.stderr, *, unit: str = "frames",
                 scale: float = 1.0):
        self.label, self.stream = label, stream
        self.unit, self.scale = unit, scale
        self.start = time.perf_counter()
        self.tty = stream.isatty()
        self.last = ""

    def __call__(self, done: float, total: float) -> None:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else float("nan")
        width = 30
        filled = int(width * done / total) if total else width
        k = self.scale
        line = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done * k:,.0f}/"
                f"{total * k:,.0f} {rate * k:,.0f} {self.unit}/s ETA {eta:4.0f} s")
        if self.tty:
            self.stream.write("\r" + line)
        elif line.split("]")[0] != self.last:  # in logs: only when the bar moves
            self.stream.write(line + "\n")
        self.last = line.split("]")[0]
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _load(args: argparse.Namespace):
    from .archive.reader import read_fine_guide

    if args.program is not None:
        from .archive.program import open_program

        return open_program(args.program, observation=args.observation, visit=args.visit,
                            guider=args.guider, cache_dir=args.cache_dir)
    if not args.paths:
        raise SystemExit("give PATHS (files, folders or globs) or --program N")
    return read_fine_guide(args.paths, observation=args.observation, visit=args.visit,
                           guider=args.guider)


def _write_table(table: pd.DataFrame, path: Path, meta: dict) -> None:
    """Write atomically: a temporary name in the same folder, renamed when complete.

    ECSV and FITS are astropy tables with units and MJD columns as UTC times
    (`fgs_widgets.astropy_tables`); Parquet keeps ``meta`` in its schema."""
    suffix = path.suffix.lower()
    if suffix not in _RESULT_SUFFIXES:
        raise SystemExit(f"{path}: output must end in {', '.join(_RESULT_SUFFIXES)}")
    if suffix in (".ecsv", ".fits"):
        from .astropy_tables import to_qtable, write_table

        write_table(to_qtable(table, meta=meta), path)
        return
    with atomic_write(path) as temp:
        if suffix == ".parquet":
            table.attrs = {}
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrow = pa.Table.from_pandas(table, preserve_index=False)
            arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                                   b"fgs_widgets": repr(meta).encode()})
            pq.write_table(arrow, temp)
        else:
            table.to_csv(temp, index=False)


def _read_results(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise SystemExit(f"{path}: no such results file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".ecsv", ".fits"):
        from .astropy_tables import read_table, to_pandas

        return to_pandas(read_table(path))
    if suffix == ".csv":
        return pd.read_csv(path)
    raise SystemExit(f"{path}: expected a {', '.join(_RESULT_SUFFIXES)} results file")


def _wait_for_kernels(data, kernel: str) -> None:
    """Compile (or load) the fit's kernel before the progress bar starts, saying so when
    that takes a while (the first fit in an environment `fgs-widgets warmup` did not warm)."""
    from .runtime.warmup import enabled, start_warmup, wait_for_warmup

    if not enabled() or not len(data):
        return
    start_warmup(data.frames[:2], None if data.errors is None else data.errors[:2],
                 kernels=[kernel])
    said = []

    def report(warm) -> None:
        if not said:
            print(f"{warm.status()} (`fgs-widgets warmup` compiles them ahead)",
                  file=sys.stderr, flush=True)
        said.append(warm)

    waited = wait_for_warmup([kernel], report=report)
    if said:
        print(f"fit kernels ready after {waited:.0f} s", file=sys.stderr, flush=True)


def cmd_info(args: argparse.Namespace) -> int:
    data = _load(args)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        columns = ["file_name", "observation", "visit", "segment", "guider", "gs_id",
                   "n_frames", "data_start", "data_end", "level", "centroid_time_offset"]
        print(data.products[columns].to_string(index=False))
    print(data.summary())
    for problem in data.problems:
        print(f"{'skipped' if problem.skipped else 'read in part'}: {problem}", file=sys.stderr)
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    data = _load(args)
    print(data.summary(), file=sys.stderr)
    progress = _Progress("quick fit" if args.quick else "fit")
    cancel = threading.Event()
    _wait_for_kernels(data, "quick" if args.quick else
                      ("ray" if args.executor == "ray" or args.address else "fit"))
    started = time.perf_counter()
    try:
        if args.quick:
            from .engine.quickfit import quick_fit

            result = quick_fit(data.frames)
            progress(len(data), len(data))
        else:
            from .runtime.fit import fit_gaussians

            executor = args.executor
            if args.address:
                executor = "ray"
            result = fit_gaussians(data.frames, data.errors, executor=executor,
                                   address=args.address, chunk_size=args.chunk_size,
                                   progress=progress, cancel=cancel, cache_dir=args.cache_dir)
    except KeyboardInterrupt:
        cancel.set()
        progress.close()
        print("interrupted: finished chunks are kept in the fit cache; run again to resume",
              file=sys.stderr)
        return 130
    progress.close()
    elapsed = time.perf_counter() - started
    table = pd.DataFrame({"frame": np.arange(len(data)), "time": data.time, "flux": data.flux,
                          "quality": data.quality, "file_index": data.segments})
    table = pd.concat([table, result.reset_index(drop=True)], axis=1)
    from .astropy_tables import table_meta

    # FITS-header-friendly: upper-case keys, scalars or lists of text
    meta = {**table_meta(data.products, name="fit"), "FIT": "quick" if args.quick
            else "gaussian", "NFRAMES": len(data),
            "FILES": list(data.products["file_name"].astype(str)), "TIMESYS": "UTC"}
    _write_table(table, Path(args.output), meta)
    print(f"{len(data):,} frames in {elapsed:.1f} s ({len(data) / max(elapsed, 1e-9):,.0f} "
          f"frames/s) -> {args.output}", file=sys.stderr)
    return 0


def cmd_periodogram(args: argparse.Namespace) -> int:
    from .engine.periodogram import periodograms
    from .engine.psf import PARAMETERS

    table = _read_results(Path(args.results))
    if "time" not in table:
        raise SystemExit(f"{args.results}: no 'time' column (write results with `fgs-widgets fit`)")
    columns = args.columns or [c for c in ("flux", *PARAMETERS) if c in table]
    good = None
    if "quality" in table:
        from .data import BAD_QUALITY

        good = (table["quality"].to_numpy() & int(BAD_QUALITY)) == 0
    # pieces: the files a `fgs-widgets fit` table names; else the runs between time gaps
    pieces = table["file_index"].to_numpy() if "file_index" in table else None
    results = periodograms(table["time"].to_numpy(), table, columns, good=good,
                           n_peaks=args.peaks, detrend=args.detrend, pieces=pieces,
                           piece_name="file" if pieces is not None else None)
    print(next(iter(results.values())).removed if results else "", file=sys.stderr)
    rows = []
    for column, result in results.items():
        for peak in result.peaks.itertuples():
            rows.append({"column": column, "period_s": peak.period, "frequency_hz": peak.frequency,
                         "power": peak.power, "false_alarm_probability":
                         peak.false_alarm_probability})
    peaks = pd.DataFrame(rows)
    print(peaks.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    if args.output:
        _write_table(peaks, Path(args.output), {"SOURCE": str(args.results)})
    return 0


_REPORT_SUFFIXES = (".html", ".htm")


def _report_arguments(args: argparse.Namespace) -> str | None:
    """What is wrong with a report's command line (said before any download or fit)."""
    output = Path(args.output)
    if output.suffix.lower() not in _REPORT_SUFFIXES:
        return f"-o {args.output}: the report is one HTML file: end its name in .html or .htm"
    if args.reference is not None and not Path(args.reference).is_dir():
        return (f"--reference {args.reference}: no such folder (a survey dataset, as "
                "`fgs-widgets survey OUT ...` writes)")
    if args.science is not None and not Path(args.science).is_file():
        return f"--science {args.science}: no such file"
    inputs = args.inputs
    if len(inputs) == 1 and inputs[0].isdigit() and Path(inputs[0]).exists():
        return (f"{inputs[0]} is both a program id and a file or folder here: write "
                f"./{inputs[0]} for the folder, or run elsewhere for the program")
    return None


def _report_session(args: argparse.Namespace):
    """A Session holding the program (MAST) or the files given, fitted as asked."""
    from .model import Session

    session = Session()
    inputs = args.inputs
    if len(inputs) == 1 and inputs[0].isdigit():
        program = int(inputs[0])
        print(f"program {program}: querying MAST and downloading what the cache lacks",
              file=sys.stderr, flush=True)
        bar = _Progress("download", unit="MB", scale=1e-6)
        session.open_program(program, observation=args.observation, visit=args.visit,
                             guider=args.guider, progress=lambda done, total, *_: bar(done, total))
        bar.close()
    else:
        filters = {k: v for k in ("observation", "visit", "guider")
                   if (v := getattr(args, k)) is not None}
        session.read_files(inputs, **filters)
    for problem in session.data.problems:
        print(f"{'skipped' if problem.skipped else 'read in part'}: {problem}", file=sys.stderr)
    print(session.data.summary(), file=sys.stderr, flush=True)
    kind = "quick" if args.quick else "full"
    progress = _Progress("quick fit" if args.quick else "fit")
    job = session.fit_job
    job.observe(lambda change: progress(job.done, job.total), names="done")
    executor = "ray" if args.address else args.executor
    session.fit_frames(kind, executor=executor, address=args.address, block=True)
    progress.close()
    print(session.message, file=sys.stderr, flush=True)
    if args.science is not None:
        session.load_science(args.science)
        print(session.message, file=sys.stderr, flush=True)
        # the lag scan checks the clocks: the best lag should be near 0 s
        session.decorrelate(lags=np.arange(-60.0, 60.5, 5.0))
        print(session.message, file=sys.stderr, flush=True)
    return session


def cmd_report(args: argparse.Namespace) -> int:
    problem = _report_arguments(args)
    if problem is not None:
        print(f"fgs-widgets report: {problem}", file=sys.stderr)
        return 2  # a bad command line, as argparse's own errors
    from .archive.config import conf

    settings = {"cache_dir": args.cache_dir} if args.cache_dir else {}
    try:
        with conf.override(**settings):
            session = _report_session(args)
            print("writing the report (periodograms, events, findings)…", file=sys.stderr,
                  flush=True)
            path = session.report(args.output, reference=args.reference)
    except KeyboardInterrupt:
        print("interrupted: finished fit chunks and downloads are kept in the cache; run "
              "again to resume", file=sys.stderr)
        return 130
    size = Path(path).stat().st_size
    print(f"{path} ({size / 1e6:.1f} MB)" if size >= 1e5 else f"{path} ({size / 1e3:.0f} kB)")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .archive.sample import sample_program

    sample = sample_program(args.directory)
    for path in sample.paths:
        print(path)
    return 0


def cmd_warmup(args: argparse.Namespace) -> int:
    from .runtime.warmup import warm_installation

    print("compiling every kernel into numba's disk cache (first time: about a minute)",
          file=sys.stderr, flush=True)
    reports = warm_installation(report=lambda r: print(r, flush=True))
    folders = sorted({r.cache for r in reports if r.cache})
    print(f"cache: {', '.join(folders)}")
    compiled = [r for r in reports if r.compiled]
    if args.sample:
        from .archive.sample import sample_program

        print(f"sample program: {sample_program().directory}")
    if args.check and compiled:
        print(f"fgs-widgets warmup --check: {len(compiled)} kernel(s) had to compile here "
              "(not warmed for this installation, Python, numba or CPU): run "
              "`fgs-widgets warmup` as the owner of the installation, on this kind of CPU",
              file=sys.stderr)
        return 1
    return 0


def _survey_tasks(args: argparse.Namespace):
    from .survey import tasks as survey_tasks

    given = [name for name in ("programs", "programs_file", "between", "paths")
             if getattr(args, name)]
    if len(given) != 1:
        print("fgs-widgets survey: give one of --programs, --programs-file, --between or "
              "--paths", file=sys.stderr)
        raise SystemExit(2)  # a bad command line, as argparse's own errors
    if args.paths:
        return survey_tasks.tasks_from_paths(args.paths), {}
    if args.between:
        return survey_tasks.tasks_observed_between(*args.between, guider=args.guider), {}
    programs = (args.programs if args.programs
                else survey_tasks.programs_from_file(args.programs_file))
    return survey_tasks.tasks_for_programs(programs, guider=args.guider)


def cmd_survey(args: argparse.Namespace) -> int:
    from .survey.dataset import survey_status
    from .survey.run import Survey

    if args.status:
        table = survey_status(args.output)
        if table.empty:
            raise SystemExit(f"{args.output}: no survey recorded here")
        with pd.option_context("display.width", 200, "display.max_colwidth", 80):
            print(table[["program", "state", "runs", "n_frames", "seconds", "error"]
                        if "runs" in table else table.columns].to_string(index=False))
        return 0
    if args.retries < 0:
        print("fgs-widgets survey: --retries must be 0 or more", file=sys.stderr)
        return 2
    tasks, missing = _survey_tasks(args)
    files = sum(len(t) for t in tasks)
    print(f"survey of {len(tasks) + len(missing)} program(s), {files} file(s) -> "
          f"{args.output}", file=sys.stderr)
    survey = Survey(tasks, args.output, fit=args.fit, cache_dir=args.cache_dir,
                    address=args.address, retries=args.retries, missing=missing)

    def line(program: int, state: str, record: dict) -> None:
        print(survey.message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    try:
        survey.run(line)
    except KeyboardInterrupt:
        survey.cancel()
        print("interrupted: waiting for the running programs to finish the observation "
              "they are writing (Ctrl-C again to leave now: that observation is redone "
              "next time)", file=sys.stderr, flush=True)
        try:
            survey.settle()
        except KeyboardInterrupt:
            pass
        print("finished partitions are kept; run the same command again to resume",
              file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - started
    print(f"{survey.n_done} done, {survey.n_skipped} already complete, {survey.n_failed} "
          f"failed; {survey.n_frames:,} frames in {elapsed:.1f} s", file=sys.stderr)
    if survey.n_failed:
        print(f"failed programs are recorded in {Path(args.output) / '_survey'} "
              "(`fgs-widgets survey OUT --status`); run the same command again to retry them",
              file=sys.stderr)
        return 1
    return 0


def _report_parser(sub) -> None:
    """The ``report`` command's arguments (its data options are the ``fit`` command's)."""
    report = sub.add_parser("report", help="fit, then write one offline HTML guiding report")
    report.add_argument("inputs", nargs="+", metavar="PROGRAM_OR_PATHS",
                        help="a MAST program id (one integer), or fine-guide files, folders "
                             "or globs")
    report.add_argument("-o", "--output", required=True, help="the report, .html or .htm")
    report.add_argument("--reference", metavar="DIR",
                        help="a survey dataset: each statistic's percentile among its visits")
    report.add_argument("--quick", action="store_true",
                        help="moment-based quick fit instead of the Gaussian fit")
    report.add_argument("--science", metavar="FILE",
                        help="a science light curve: loaded, decorrelated against x_mean and "
                             "y_mean (with a lag scan of ±60 s), and reported")
    report.add_argument("--observation", type=int)
    report.add_argument("--visit", type=int)
    report.add_argument("--guider", type=int, choices=(1, 2))
    report.add_argument("--cache-dir", help="download and fit cache folder")
    report.add_argument("--executor", default="auto", choices=("auto", "serial", "ray"))
    report.add_argument("--address", help="ray cluster address (e.g. auto or ray://host:10001)")
    report.set_defaults(func=cmd_report)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fgs-widgets", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def data_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("paths", nargs="*", help="fine-guide files, folders or globs")
        p.add_argument("--program", type=int, help="a MAST program id instead of paths")
        p.add_argument("--observation", type=int)
        p.add_argument("--visit", type=int)
        p.add_argument("--guider", type=int, choices=(1, 2))
        p.add_argument("--cache-dir", help="download and fit cache folder")

    info = sub.add_parser("info", help="list the files (fg_table)")
    data_args(info)
    info.set_defaults(func=cmd_info)

    fit = sub.add_parser("fit", help="fit every frame and write a results table")
    data_args(fit)
    fit.add_argument("--quick", action="store_true", help="moment-based quick fit")
    fit.add_argument("--executor", default="auto", choices=("auto", "serial", "ray"))
    fit.add_argument("--address", help="ray cluster address (e.g. auto or ray://host:10001)")
    fit.add_argument("--chunk-size", type=int, default=50_000)
    fit.add_argument("-o", "--output", required=True,
                     help="results .parquet, .ecsv, .fits or .csv (ECSV and FITS with units)")
    fit.set_defaults(func=cmd_fit)

    pgram = sub.add_parser("periodogram", help="periodogram peaks of a results table")
    pgram.add_argument("results")
    pgram.add_argument("--columns", nargs="+")
    pgram.add_argument("--peaks", type=int, default=3, help="peaks listed per column")
    pgram.add_argument("--detrend", default="linear", choices=("linear", "mean", "none"),
                       help="removed from each file first (default: its mean and slope; "
                            "steps between files are not periods)")
    pgram.add_argument("-o", "--output", help="also write the peaks table")
    pgram.set_defaults(func=cmd_periodogram)

    _report_parser(sub)

    survey = sub.add_parser("survey", help="per-visit statistics of many programs on ray")
    survey.add_argument("output", help="the dataset folder (shared by every node)")
    survey.add_argument("--programs", nargs="+", type=int, help="program ids")
    survey.add_argument("--programs-file", help="text file of program ids, or a table "
                        "with a 'program' column")
    survey.add_argument("--between", nargs=2, metavar=("START", "END"),
                        help="every program with fine-guide data in this UTC range "
                             "(MAST query), e.g. 2023-01-01 2023-02-01")
    survey.add_argument("--paths", nargs="+", help="fine-guide files or folders on disk")
    survey.add_argument("--guider", type=int, choices=(1, 2))
    survey.add_argument("--fit", default="gaussian", choices=("gaussian", "quick"))
    survey.add_argument("--address", help="ray cluster address (default: a local ray)")
    survey.add_argument("--cache-dir", help="download cache on each node")
    survey.add_argument("--retries", type=int, default=2,
                        help="attempts after a worker died or a transient failure")
    survey.add_argument("--status", action="store_true",
                        help="print each program's recorded state and exit")
    survey.set_defaults(func=cmd_survey)

    sample = sub.add_parser("sample", help="write the bundled sample program")
    sample.add_argument("directory")
    sample.set_defaults(func=cmd_sample)

    warm = sub.add_parser("warmup", help="compile every kernel into numba's disk cache "
                          "(image builds, make demo): no user waits for a compile")
    warm.add_argument("--check", action="store_true",
                      help="exit 1 if any kernel had to compile (the cache missed)")
    warm.add_argument("--sample", action="store_true",
                      help="also write the bundled sample program into the cache folder")
    warm.set_defaults(func=cmd_warmup)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    from .archive.errors import ArchiveError
    from .archive.reader import ReadError

    try:
        return args.func(args)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(f"fgs-widgets {args.command}: {exc.code}", file=sys.stderr)
            return 1
        raise
    except (ReadError, ArchiveError, OSError, ValueError) as exc:
        print(f"fgs-widgets {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
