"""The reference tool's quickstart API (spelunker ``load``) over fgs_widgets.

``import fgs_widgets as spelunker`` (or ``from fgs_widgets import spelunker``)
and the quickstart's calls work: `load`, `download`, `readfile`,
`gauss2d_fit`, `quick_fit`, `timeseries_binned_plot`, `timeseries_list_plot`,
`periodogram` with ``pgram_*``, `mnemonics`, `mnemonics_local`,
`guidestar_plot`, the animations, and the ``fg_*`` attributes.

This is a thin face of one `fgs_widgets.Session` (``spk.session``): ``fg_array``,
``fg_time``, ``fg_flux``, ``fg_table``, ``object_properties``,
``gaussfit_results``, ``quickfit_results``, ``pgram_*`` and the ``mnemonics_*``
tables are views of it, so ``App(spk.session)`` shows what ``spk.gauss2d_fit()``
did and a fit run from the App is ``spk.gaussfit_results``.  Narrowing the data
the quickstart's way (``spk.fg_array = spk.fg_array[0:10000]``) narrows the
session.  Calls given arrays of their own (``gauss2d_fit(frames)``,
``periodogram(table, time)``) return their results and change nothing.

This module is the adapter: it picks the data (and checks it); the figures and
animations are drawn by `fgs_widgets.spelunker_plots`, given that data.

Deliberate differences from spelunker (listed in the README): frames are
flagged, never dropped; the constructor writes nothing; functions return new
objects instead of changing the caller's tables; the fit is the engine's
weighted batched fit.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astropy.table import Table

from . import spelunker_plots as plots
from .archive.tokens import Token
from .atomic import atomic_write
from .data import GuideStarData
from .engine.psf import PARAMETERS
from .model import Session

__all__ = ["Spelunker", "load"]

_UNSET = "None"  # spelunker's own "not given" marker; accepted alongside None
_FG_TABLE_NAMES = {
    "file_name": "filenames",
    "observation": "obs_num",
    "activity": "activity_number",
    "exposure": "exposure_number",
    "segment": "dir_seg",
}

def _nan_table(frame: pd.DataFrame) -> Table:
    """An astropy Table with NaN where a fit failed, as spelunker's (not masked entries).

    ``Table.from_pandas`` would mask NaN, and ``np.nanmean(column)`` on masked
    columns silently differs from what spelunker users expect.
    """
    return Table({name: (frame[name].astype(str).to_numpy()
                         if isinstance(frame[name].dtype, pd.CategoricalDtype)
                         else frame[name].to_numpy())
                  for name in frame.columns})


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and value in (_UNSET, ""))


def _number(value: Any, name: str) -> int | None:
    """Accept 2, '2', '002' like spelunker; reject anything else with a clear message."""
    if not _given(value):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number; give it as 2 or '2'") from None


def _with_spelunker_columns(table: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """Add spelunker's column names to a guide-star table (ours stay as they are).

    ``guidestar_catalog_id``, ``GAIAdr3sourceID``, ``Jmag``, ``Hmag`` (NaN
    where the catalog did not answer) and ``int_start``/``int_stop``: the
    MJD range in which each star guided.
    """
    table = table.copy()
    table.insert(0, "guidestar_catalog_id", table["gs_id"].astype(str))

    def first(needle: str) -> pd.Series:
        # the catalog's spelling is not fixed: an exact name, else one containing it (not
        # its error column)
        names = [c for c in table.columns if c.lower() == needle] or [
            c for c in table.columns if needle in c.lower() and "err" not in c.lower()]
        return table[names[0]] if names else pd.Series(np.nan, index=table.index)

    table["GAIAdr3sourceID"] = first("gaia")
    table["Jmag"] = first("jmag")
    table["Hmag"] = first("hmag")
    spans = products.groupby(products["gs_id"].astype(str)).agg(
        int_start=("data_start", "min"), int_stop=("data_end", "max"))
    table["int_start"] = table["guidestar_catalog_id"].map(spans["int_start"])
    table["int_stop"] = table["guidestar_catalog_id"].map(spans["int_stop"])
    return table


def _observation_visit(obs_num: Any, visit: Any, call: str) -> tuple[int | None, int | None]:
    """Parsed ``obs_num``, ``visit``; a visit without an observation is a clear error."""
    observation, visit_n = _number(obs_num, "obs_num"), _number(visit, "visit")
    if visit_n is not None and observation is None:
        raise ValueError(
            f"visit={visit!r} needs obs_num: visits are numbered within an observation "
            f"(e.g. {call}(..., obs_num=2, visit={visit_n}))")
    return observation, visit_n


def _range_of(array: Any, base: np.ndarray) -> tuple[int, int] | None:
    """(start, stop) if ``array`` is ``base[start:stop]`` (a view of it), else None."""
    if not isinstance(array, np.ndarray) or array.ndim != base.ndim or len(base) == 0:
        return None
    if array.shape[1:] != base.shape[1:] or array.strides[1:] != base.strides[1:]:
        return None
    if len(array) > 1 and array.strides[0] != base.strides[0]:
        return None
    if len(array) == 0 or not np.shares_memory(array, base):
        return None
    offset = array.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    start, rest = divmod(offset, base.strides[0])
    if rest or start < 0 or start + len(array) > len(base):
        return None
    return int(start), int(start + len(array))


def _in_thread(work: Callable[[threading.Event], Any], threads: int) -> Any:
    """``work(cancel)`` as a `fgs_widgets.jobs.Job` (a thread of its own) with ``threads``
    numba threads; waits for it and returns its result.

    numba's thread count is per thread, so this never changes the caller's (or
    the process's) setting.  Ctrl-C while waiting sets ``cancel`` (the work stops
    at its next chunk) and is raised here, as is the work's own error.
    """
    from .jobs import Job, Run
    from .runtime.executor import use_threads

    results: list[Any] = []

    def run_work(run: Run) -> Any:
        use_threads(threads)
        return work(run.cancel)

    def keep(run: Run, result: Any) -> str:
        results.append(result)
        return "fit done"

    Job("fit", unit="frames").start(run_work, keep, block=True)
    return results[0]


_FIELD_NAMES = {"frames": "fg_array", "time": "fg_time", "flux": "fg_flux"}


class _DataField:
    """``fg_array``, ``fg_time``, ``fg_flux``: a field of the session's data, as spelunker
    names it; assigning goes through `Spelunker._assign` (narrowing or a new flux)."""

    def __init__(self, field: str, doc: str):
        self.field, self.__doc__ = field, doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, spk: Spelunker | None, owner: type | None = None) -> Any:
        return self if spk is None else spk._field(self.field)

    def __set__(self, spk: Spelunker, value: Any) -> None:
        spk._assign(self.name, self.field, value)

#: views of ``session.telemetry`` under spelunker's names (see `Spelunker.mnemonics`)
_MNEMONIC_VIEWS = ("mnemonics_data", "hga_moves", "mnemonics_event_hga",
                   "mnemonics_event_nisfil", "mnemonics_event")


class Spelunker:
    """spelunker's ``load``: guide-star data of a program plus analysis methods.

    Parameters
    ----------
    dir : str, optional
        Working folder; downloads go to ``<dir>/mastDownload/JWST/...`` and
        saved results to ``<dir>/spelunker_outputs``.  Default: the current
        folder.  Nothing is created until something is downloaded or saved.
    pid : int or str, optional
        Program ID.  Without it nothing is downloaded (``load()``).
    obs_num, visit : int or str, optional
        Filter the archive query.  A visit needs an observation.
    visit_group, parallel_sequence_id, activity_number, exposure_number, dir_seg, guider : optional
        Filter the files after download (by their MAST folder names).
    calib_level : int
        2 for ``_cal`` files (default), 1 for ``_uncal``.
    save : bool
        Save tables of results into ``spelunker_outputs`` as they are made.
    token : str, optional
        MAST API token (proprietary data, engineering telemetry).  Never shown
        or written anywhere (nor put in the session); ``MAST_API_TOKEN`` in the
        environment also works.
    session : Session, optional
        The state to be a face of (e.g. an App's ``app.session``); default a new one.

    Attributes
    ----------
    session : Session
        Everything this object shows; widgets on it stay in step.
    """

    fontsize = 14

    def __init__(self, dir: str | os.PathLike | None = None, pid: Any = None,
                 obs_num: Any = None, visit: Any = None, visit_group: Any = None,
                 parallel_sequence_id: Any = None, activity_number: Any = None,
                 exposure_number: Any = None, dir_seg: Any = None, guider: Any = None,
                 calib_level: int = 2, save: bool = False, token: str | None = None,
                 session: Session | None = None):
        self.directory = Path(dir if _given(dir) else os.getcwd()).expanduser()
        self._token = Token(token)
        token = None  # held masked in self._token only, also for a traceback's frames
        self.save_results = bool(save)
        self._session = session if session is not None else Session()
        self.photometry_mask: np.ndarray | None = None
        self.pid = self.obs_num = self.visit = None
        self._views: dict[str, tuple[Any, Any]] = {}  # name -> (source object, view of it)
        # fg_array / fg_time / fg_flux narrowed but not yet applied: field -> (start, stop)
        # of the session's data (see `_sync`)
        self._staged: dict[str, tuple[int, int]] = {}
        self._last_mnemonic: str | None = None
        self._session.observe(self._on_data, names="data")
        self._on_data()
        if _given(pid):
            self.download(pid, obs_num=obs_num, visit=visit, visit_group=visit_group,
                          parallel_sequence_id=parallel_sequence_id,
                          activity_number=activity_number, exposure_number=exposure_number,
                          dir_seg=dir_seg, guider=guider, calib_level=calib_level, save=save)
        elif _given(obs_num) or _given(visit):
            raise ValueError("obs_num/visit filter a program: give pid as well, e.g. "
                             "load(pid=1534, obs_num=2)")

    # -- the token -----------------------------------------------------------
    @property
    def mast_api_token(self) -> Token:
        """The MAST token (shown masked).  Assign a string to set it."""
        return self._token

    @mast_api_token.setter
    def mast_api_token(self, value: str | None) -> None:
        self._token = value if isinstance(value, Token) else Token(value)

    def __repr__(self) -> str:
        data = self._session.data  # never applies the narrowing: a repr must not raise
        what = data.summary() if data is not None else "no data loaded"
        if self._staged:
            what += " (narrowing pending)"
        return f"<fgs_widgets.spelunker.load {what}>"

    # -- views of the session ------------------------------------------------------
    @property
    def session(self) -> Session:
        """The `fgs_widgets.Session` this object is a face of (narrowing applied)."""
        self._sync()
        return self._session

    def _load(self, data: GuideStarData, program: str) -> None:
        """New data into the session; a narrowing still pending was of the old data."""
        self._staged.clear()
        self._session.data = data
        self._session.program = program

    def _on_data(self, change: dict | None = None) -> None:
        self._staged.clear()  # ranges of the data that is gone
        self._views = {k: v for k, v in self._views.items() if k == "object_properties"}
        old = None if change is None else change["old"]
        new = self._session.data
        if new is None:
            self.photometry_mask = None
        elif old is None or old.frames is not new.frames:
            self.photometry_mask = np.ones((8, 8))  # every pixel, as spelunker starts

    def _view(self, name: str, source: Any, make: Callable[[Any], Any]) -> Any:
        """``make(source)``, made once per source object (the same table on every access)."""
        if source is None:
            return None
        cached = self._views.get(name)
        if cached is None or cached[0] is not source:
            cached = self._views[name] = (source, make(source))
        return cached[1]

    @property
    def data(self) -> GuideStarData | None:
        """The session's data (`fgs_widgets.data.GuideStarData`)."""
        return self.session.data

    def _field(self, field: str) -> np.ndarray | None:
        data = self._session.data
        if data is None:
            return None
        span = self._staged.get(field)
        values = getattr(data, field)
        return values if span is None else values[span[0] : span[1]]

    fg_array = _DataField("frames", "Frames (N, 8, 8).  Assign a slice of it to narrow the "
                          "session's data.")
    fg_time = _DataField("time", "Frame times (MJD).  Assign a slice of it to narrow the "
                         "session's data.")
    fg_flux = _DataField("flux", "Flux per frame.  Assign a slice to narrow the data, or a new "
                         "flux (photometry) to replace it; the fits are kept.")

    def _assign(self, name: str, field: str, value: Any) -> None:
        data = self._session.data
        if field == "flux" and data is not None and _range_of(value, data.flux) is None:
            data = self.data  # apply any narrowing first: the new flux is of those frames
            if np.shape(value) != data.flux.shape:
                raise ValueError(f"fg_flux has {np.shape(value)} values for {len(data)} frames")
            # another flux for the same frames (photometry): the fits still hold
            self._session.data = replace(data, flux=np.asarray(value, dtype=np.float64))
            return
        self._stage(value, name, field)

    def _stage(self, value: Any, name: str, field: str) -> None:
        """Remember that ``name`` was narrowed to a range; `_sync` applies it.

        The quickstart narrows the three arrays one by one (``spk.fg_array =
        spk.fg_array[a:b]``, then ``fg_flux``, then ``fg_time``).  Applying the
        first at once would make the next line slice an already narrowed array,
        so each is kept as a range of the session's data until something uses them.
        """
        data = self._session.data
        if data is None:
            raise ValueError(f"no data to set {name} of: download(pid) or readfile(path) first")
        span = _range_of(value, getattr(data, field))
        if span is None:
            raise ValueError(
                f"{name} can be narrowed to a range of the loaded data "
                f"(spk.{name} = spk.{name}[a:b]); to fit or plot other arrays pass them to "
                f"the call (e.g. gauss2d_fit(fg_array=...))")
        self._staged[field] = span

    def _sync(self) -> None:
        """Apply the narrowing of fg_array / fg_time / fg_flux to the session's data."""
        if not self._staged:
            return
        spans = set(self._staged.values())
        if len(spans) > 1:
            shown = ", ".join(f"{_FIELD_NAMES[f]} {a}:{b}" for f, (a, b) in self._staged.items())
            raise ValueError(f"the arrays were narrowed to different frames ({shown}); "
                             "narrow fg_array, fg_time and fg_flux with the same [a:b]")
        (start, stop), data = spans.pop(), self._session.data
        self._staged.clear()
        if (start, stop) != (0, len(data)):
            self._session.data = data[start:stop]

    @property
    def fg_table(self) -> pd.DataFrame | None:
        """One row per file, with spelunker's column names (a view of the data's products)."""
        return self._view("fg_table", self.data, lambda d: self._fg_table(d.products))

    @property
    def object_properties(self) -> pd.DataFrame | None:
        """The guide stars' catalog properties (queried once per set of stars)."""
        if self.data is None:
            return None
        products = self.data.products
        # per stars and files: int_start/int_stop are the files' spans
        ids = (tuple(dict.fromkeys(products["gs_id"].dropna())),
               tuple(products["file_name"].astype(str)))
        cached = self._views.get("object_properties")
        if cached is None or cached[0] != ids:
            cached = self._views["object_properties"] = (
                ids, self._object_properties(self.data.products))
        return cached[1]

    @property
    def gaussfit_results(self) -> Table | None:
        """``session.fit`` as an astropy Table (NaN where a fit failed, as spelunker's)."""
        return self._view("gaussfit", self.session.fit, _nan_table)

    @property
    def quickfit_results(self) -> Table | None:
        """``session.quick_fit`` as an astropy Table."""
        return self._view("quickfit", self.session.quick_fit, _nan_table)

    @property
    def pgram_periodograms(self) -> dict[str, Any]:
        """``session.periodograms``: parameter -> `Periodogram` (peaks, periods, FAP)."""
        return dict(self.session.periodograms)

    @property
    def pgram_results(self) -> Table | None:
        """spelunker's table: ``frequency_<p>``, ``power_<p>`` of the fitted parameters."""
        results = {c: r for c, r in self.session.periodograms.items() if c in PARAMETERS}
        if not results or len({len(r.frequency) for r in results.values()}) != 1:
            return None
        table = Table()
        for name, result in results.items():
            table[f"frequency_{name}"] = result.frequency
            table[f"power_{name}"] = result.power
        return table

    def __getattr__(self, name: str) -> Any:
        # only called for names that are not attributes: spelunker's pgram_<p> and
        # mnemonics_* tables, all views of the session
        if name.startswith("_") or "_session" not in self.__dict__:
            raise AttributeError(name)
        if name.startswith("pgram_") and name[6:] in self.session.periodograms:
            result = self.session.periodograms[name[6:]]
            return (result.frequency, result.power)
        if name in _MNEMONIC_VIEWS or name.startswith(("mnemonics_event_", "mnemonics_local_")):
            return self._mnemonic_view(name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # -- data ------------------------------------------------------------------
    def download(self, pid: Any, obs_num: Any = None, visit: Any = None, visit_group: Any = None,
                 parallel_sequence_id: Any = None, activity_number: Any = None,
                 exposure_number: Any = None, dir_seg: Any = None, guider: Any = None,
                 calib_level: int = 2, save: bool = False, token: str | None = None) -> None:
        """Query MAST for the program's fine-guide files, download, read and stitch them.

        Files already under ``<dir>/mastDownload`` are not downloaded again.  When
        MAST cannot be reached, files of the program already in ``dir`` are used
        (with a warning) so notebooks keep working offline.
        """
        from .archive.errors import MastUnreachable
        from .archive.program import open_program
        from .archive.reader import read_fine_guide

        program = _number(pid, "pid")
        observation, visit_n = _observation_visit(obs_num, visit, "download")
        if token is not None:
            self.mast_api_token = token
            token = None  # held masked in self._token only, also for a traceback's frames
        try:
            data = open_program(program, observation=observation, visit=visit_n,
                                guider=_number(guider, "guider"), calib_level=int(calib_level),
                                cache_dir=self.directory, token=(self._token or None))
        except MastUnreachable:
            local = self._local_files(program)
            if not local:
                raise
            warnings.warn(
                f"MAST is unreachable; using the {len(local)} file(s) of program {program} "
                f"already in {self.directory}", stacklevel=2)
            data = read_fine_guide(local, observation=observation, visit=visit_n,
                                   guider=_number(guider, "guider"))
        data = self._filter(data, visit_group=visit_group,
                            parallel_sequence_id=parallel_sequence_id,
                            activity=activity_number, exposure=exposure_number, segment=dir_seg)
        self.pid, self.obs_num, self.visit = program, observation, visit_n
        self._load(data, str(program))
        if save or self.save_results:
            self.save()

    def _local_files(self, program: int | None) -> list[Path]:
        root = self.directory / "mastDownload"
        if not root.exists():
            return []
        prefix = "jw" if program is None else f"jw{program:05d}"
        return sorted(p for p in root.rglob("*_gs-fg_*_cal.fits") if p.name.startswith(prefix))

    @staticmethod
    def _filter(data: GuideStarData, **criteria: Any) -> GuideStarData:
        wanted = {k: _number(v, k) if k != "activity" else v for k, v in criteria.items()
                  if _given(v)}
        return data.select(**wanted) if wanted else data

    def readfile(self, pid: Any, obs_num: Any = None, visit: Any = None,
                 **filters: Any) -> None:
        """Read fine-guide files already on disk into this object.

        Parameters
        ----------
        pid : int, str or path
            A program id (``2079`` or ``'2079'``): its files downloaded earlier
            under ``<dir>/mastDownload``, filtered by `obs_num` and `visit`, as
            spelunker 1.2 does; or a file, folder, glob or list of files (the
            quickstart's ``readfile('/path/to/..._cal.fits')``).
        obs_num, visit : int or str, optional
            Filters (with a program id, or with files).

        Unlike spelunker, ``fg_table`` and ``object_properties`` are filled too.
        """
        from .archive.reader import read_fine_guide

        program = pid if isinstance(pid, int) else (
            int(pid) if isinstance(pid, str) and pid.strip().isdigit() else None)
        observation, visit_n = _observation_visit(obs_num, visit, "readfile")
        source = pid
        if program is not None:
            source = self._local_files(program)
            if not source:
                raise FileNotFoundError(
                    f"no fine-guide files of program {program} under "
                    f"{self.directory / 'mastDownload'}: download(pid={program}) first, or "
                    "give readfile the path of a file")
        # the reader filters by header before reading pixels: unwanted files are never read
        self._load(read_fine_guide(source, observation=observation, visit=visit_n, **filters),
                   "" if program is None else str(program))
        if program is not None:
            self.pid = program

    @staticmethod
    def _fg_table(products: pd.DataFrame) -> pd.DataFrame:
        table = products.rename(columns=_FG_TABLE_NAMES)
        table.insert(1, "directory", [str(Path(p).parent) for p in products["path"]])
        table["guidestar_time"] = table["data_start"]
        return table

    @staticmethod
    def _object_properties(products: pd.DataFrame) -> pd.DataFrame:
        from .archive.catalog import guide_star_properties

        ids = list(dict.fromkeys(products["gs_id"].dropna()))
        try:
            table = guide_star_properties(ids, fallback=products)
        except Exception as exc:  # the catalog is optional; the data must still load
            warnings.warn(f"guide-star properties unavailable ({exc}); using header values",
                          stacklevel=3)
            table = products.drop_duplicates("gs_id")[["gs_id", "gs_ra", "gs_dec", "gs_mag"]]
            table = table.rename(columns={"gs_ra": "ra", "gs_dec": "dec"})
        return _with_spelunker_columns(table.reset_index(drop=True), products)

    # -- photometry ------------------------------------------------------------
    def optimize_photometry(self, mask: np.ndarray | None = None, min_pixel: int = 1,
                            max_pixel: int = 30, n_bin: int = 100, *,
                            fg_array: np.ndarray | None = None) -> np.ndarray:
        """Aperture photometry with a given or an optimized mask.

        Sets ``photometry_mask`` and ``fg_flux`` (the session's flux; fits are kept).

        Parameters
        ----------
        mask : ndarray (8, 8), optional
            1 for pixels to sum, 0 for the others.  Without it, the apertures of
            the `min_pixel`..`max_pixel` brightest pixels (of the median frame)
            are compared by the scatter of their flux binned by `n_bin` frames,
            relative to the star's flux (background subtracted, so sky pixels are
            not rewarded for the light they add), and the best one is used.

        Returns the new flux (a new array; the old one is not modified).
        """
        from .engine.photometry import aperture_flux, optimize_photometry

        frames = self._frames(fg_array)
        if mask is None:
            mask, _ = optimize_photometry(frames, n_pixels_min=int(min_pixel),
                                          n_pixels_max=int(max_pixel), bin_size=int(n_bin))
        else:
            mask = np.asarray(mask)
            if mask.shape != (8, 8):
                raise ValueError(f"mask must have shape (8, 8) like a frame, got {mask.shape}")
        flux = aperture_flux(frames, mask)
        if self.data is not None and frames is self.data.frames:
            self.fg_flux = flux
        self.photometry_mask = mask
        return flux

    # -- fits ------------------------------------------------------------------
    def _frames(self, fg_array: np.ndarray | None) -> np.ndarray:
        staged = self._staged.get("frames")
        if _given(fg_array) and staged is not None and self._session.data is not None and \
                _range_of(fg_array, self._session.data.frames) == staged:
            fg_array = None  # spk.fg_array as narrowed: the session's frames, once applied
        if not _given(fg_array):
            self._sync()
        frames = fg_array if _given(fg_array) else self.fg_array
        if frames is None:
            raise ValueError("no frames: download(pid) or readfile(path) first, or pass fg_array")
        frames = np.asarray(frames)
        if frames.shape == (8, 8):  # one frame, as spelunker accepts
            frames = frames[None]
        if frames.ndim != 3 or frames.shape[1:] != (8, 8):
            raise ValueError(f"fg_array must have shape (N, 8, 8), got {frames.shape}")
        return frames

    def _errors_for(self, frames: np.ndarray) -> np.ndarray | None:
        """ERR frames matching ``frames`` when it is (a slice of) the loaded data."""
        if self.data is None or self.data.errors is None:
            return None
        span = _range_of(frames, self.data.frames)
        return None if span is None else self.data.errors[span[0] : span[1]]

    def _is_loaded(self, frames: np.ndarray) -> bool:
        """``frames`` are the session's whole frame stack (results then go to the session)."""
        return self.data is not None and frames is self.data.frames

    def gauss2d_fit(self, fg_array: np.ndarray | None = None, ncpus: int = 4,
                    save: bool = False, **kwargs: Any) -> Table:
        """Fit a rotated 2D Gaussian to every frame (weighted by ERR when available).

        Returns an astropy Table with spelunker's seven columns first, then
        uncertainties, ``chi2_red``, ``n_iter`` and ``status``; frames that
        cannot be fitted are NaN rows, never missing.  Fitting the loaded frames
        (the default) is the session's fit (``session.fit_frames``, cached per
        chunk): the table is ``gaussfit_results`` and the App shows it.  Other
        frames passed in are fitted and returned, and change nothing.

        ``ncpus`` caps the cores used: numba threads of this fit only (numba's
        count is per thread; nothing process-wide changes), or the local ray
        workers with ``executor="ray"``; ``address=`` fits on a ray cluster.
        """
        from .runtime.executor import ensure_ray
        from .runtime.fit import fit_gaussians

        frames = self._frames(fg_array)
        executor = kwargs.pop("executor", "auto")
        address = kwargs.pop("address", None)
        if executor == "ray" or address is not None:
            ensure_ray(num_cpus=ncpus, address=address)
        if self._is_loaded(frames):
            self.session.fit_frames("full", executor=executor, address=address,
                                    threads=int(ncpus), block=True, **kwargs)
            table = self.gaussfit_results
        else:
            table = _nan_table(_in_thread(lambda cancel: fit_gaussians(
                frames, self._errors_for(frames), executor=executor, address=address,
                cancel=cancel, **kwargs), int(ncpus)))
        if save or self.save_results:
            self.save(which=("gaussfit",), tables={"gaussfit": table})
        return table

    def quick_fit(self, fg_array: np.ndarray | None = None, save: bool = False) -> Table:
        """Moment-based fit of every frame; far faster, rougher.

        Of the loaded frames (the default) it is the session's quick fit
        (``quickfit_results``); other frames are fitted and returned only.
        """
        from .engine.quickfit import quick_fit

        frames = self._frames(fg_array)
        if self._is_loaded(frames):
            self.session.fit_frames("quick", block=True)
            table = self.quickfit_results
        else:
            table = _nan_table(quick_fit(frames))
        if save or self.save_results:
            self.save(which=("quickfit",), tables={"quickfit": table})
        return table

    def _fit_table(self, table: Any = None) -> pd.DataFrame:
        if _given(table):
            return table.to_pandas() if isinstance(table, Table) else pd.DataFrame(table)
        for candidate in (self.gaussfit_results, self.quickfit_results):
            if candidate is not None:
                return candidate.to_pandas()
        raise ValueError("no fit results: run gauss2d_fit() or quick_fit() first")

    def _time_for(self, n: int, time: Any = None) -> np.ndarray:
        """MJD per row of an n-row fit table: `time` when given, else ``fg_time[:n]``."""
        if _given(time):
            time = np.asarray(time, dtype=np.float64)
            if len(time) != n:
                raise ValueError(f"the time array has {len(time)} entries but the table has "
                                 f"{n} rows")
            return time
        if self.fg_time is None:
            raise ValueError("no fg_time: download(pid) or readfile(path) first")
        if len(self.fg_time) < n:
            raise ValueError(f"fg_time has {len(self.fg_time)} entries but the fit has {n} rows")
        return np.asarray(self.fg_time[:n])

    # -- plots -------------------------------------------------------------------
    def _time_flux(self, fg_time: Any, fg_flux: Any) -> tuple[np.ndarray, np.ndarray]:
        time = np.asarray(fg_time if _given(fg_time) else self.fg_time, dtype=np.float64)
        flux = np.asarray(fg_flux if _given(fg_flux) else self.fg_flux, dtype=np.float64)
        if time.shape != flux.shape:
            raise ValueError(f"fg_time {time.shape} and fg_flux {flux.shape} differ in length")
        return time, flux

    @staticmethod
    def _in_range(time: np.ndarray, start_time: Any, end_time: Any) -> np.ndarray:
        keep = np.ones(len(time), dtype=bool)
        if _given(start_time):
            keep &= time >= float(start_time)
        if _given(end_time):
            keep &= time <= float(end_time)
        return keep

    def timeseries_binned_plot(self, fg_time: Any = None, fg_flux: Any = None,
                               start_time: Any = None, end_time: Any = None, n_bins: int = 96,
                               *, time_bin: float | None = None, ax: Any = None,
                               **plot_kwargs: Any):
        """Relative flux with its binned means and errors of the mean, into the current axes.

        Parameters
        ----------
        fg_time, fg_flux : array, optional
            Default: this object's ``fg_time``, ``fg_flux``.
        start_time, end_time : float, optional
            MJD range to show.
        n_bins : int
            Frames per bin (spelunker's meaning), i.e. bins n_bins x the cadence wide.
        time_bin : float, optional
            Bin width in seconds instead.

        Bins are by time, so no bin straddles a gap between files.  Returns the
        matplotlib Axes.
        """
        time, flux = self._time_flux(fg_time, fg_flux)
        keep = self._in_range(time, start_time, end_time)
        time, flux = time[keep], flux[keep]
        if len(time) < 2:
            raise ValueError("fewer than 2 frames between start_time and end_time")
        relative = flux / np.nanmedian(flux)
        if time_bin is None:
            cadence = float(np.median(np.diff(time))) * 86400.0
            time_bin = int(n_bins) * cadence
        return plots.binned_plot(ax, time, relative, time_bin, self.fontsize, **plot_kwargs)

    def timeseries_list_plot(self, table: Any = None, fg_time: Any = None,
                             start_time: Any = None, end_time: Any = None, *,
                             time_bin: float | None = None):
        """Every fitted parameter (and the flux) against time, in spelunker's 4x2 layout.

        ``axes[0, 0]`` x_mean, ``[0, 1]`` y_mean, ``[1, 0]`` x_stddev,
        ``[1, 1]`` y_stddev, ``[2, 0]`` amplitude, ``[2, 1]`` theta,
        ``[3, 0]`` offset and ``[3, 1]`` the flux (spelunker leaves it empty).
        ``time_bin`` (seconds) overlays binned means.  Returns the (4, 2) array
        of Axes of a new figure.
        """
        fit = self._fit_table(table)
        time = self._time_for(len(fit), fg_time)
        series = {c: fit[c].to_numpy() for c in PARAMETERS if c in fit}
        if self.fg_flux is not None and len(self.fg_flux) >= len(fit):
            series["flux"] = np.asarray(self.fg_flux[: len(fit)])
        keep = self._in_range(time, start_time, end_time)
        return plots.parameter_panels(time, series, keep, time_bin, self.fontsize)

    # -- science integrations -------------------------------------------------------
    def bin_to_times(self, times: Any, columns: Any = None, *, start: Any = None,
                     end: Any = None, table: Any = None, time_system: str = "MJD_UTC",
                     ra: float | None = None, dec: float | None = None) -> Table:
        """Flux and fit columns averaged over science integrations (good frames only).

        What the reference tool's TSO tutorial does with a loop per integration,
        in one vectorized pass, on the right clock.

        Parameters
        ----------
        times : array
            Mid-times of the science integrations.
        columns : list of str, optional
            Default: "flux" and every column of the fit table (full fit, else quick).
        start, end : array, optional
            Integration edges (same system as ``times``); default midway between
            neighbouring mid-times.
        table : Table or DataFrame, optional
            Fit table (default: ``gaussfit_results``, else ``quickfit_results``).
        time_system : {"MJD_UTC", "BJD_TDB"}
            "MJD_UTC": the guide star's own clock.  "BJD_TDB": JD values as light
            curves are published; converted with the barycentric light-travel time
            toward ``ra``/``dec`` (default: the guide star's GS_RA/GS_DEC, ≤ 2 s)
            at the geocentre (≤ 6 s), never by ``- 2400000.5`` (off by > 69 s).
        ra, dec : float, optional

        Returns
        -------
        astropy.table.Table
            ``time`` (the given mid-times), ``time_utc`` (MJD UTC), ``count``, and per
            column its mean and ``<name>_err``.
        """
        from .engine.decorrelation import bin_to_intervals
        from .engine.timesystems import bjd_tdb_to_utc, science_intervals

        mid = np.asarray(times, dtype=np.float64)
        system = time_system.upper()
        if system not in ("MJD_UTC", "BJD_TDB"):
            raise ValueError(f"time_system must be 'MJD_UTC' or 'BJD_TDB', not {time_system!r}")
        if _given(start) != _given(end):
            raise ValueError("give both start and end (or neither: midway between the times)")
        edges = [np.asarray(e, dtype=np.float64) for e in (start, end) if _given(e)]
        if system == "BJD_TDB":
            if (ra is None) != (dec is None):
                raise ValueError("give both ra and dec (or neither: the guide star's)")
            if ra is None:  # the guide star observing then (observations change stars)
                rough = float(np.median(mid)) - 2400000.5  # within the light-travel time
                ra, dec, _ = self.session._guide_star_direction(rough)
            utc = bjd_tdb_to_utc(mid, ra, dec)
            shift = mid - 2400000.5 - utc  # changes < 10^-4 s per s: one for the edges too
            edges = [e - 2400000.5 - shift for e in edges]
            mid = utc
        if not edges:
            edges = list(science_intervals(mid))
        names = list(columns) if _given(columns) else None
        fit = None
        if names is None or any(n != "flux" for n in names):
            try:
                fit = self._fit_table(table)
            except ValueError:
                if names is not None:
                    raise
        names = names or ["flux", *(c for c in PARAMETERS if fit is not None and c in fit)]
        series: dict[str, np.ndarray] = {}
        for name in names:
            if name == "flux":
                series["flux"] = np.asarray(self.fg_flux, dtype=np.float64)
            elif fit is not None and name in fit:
                series[name] = fit[name].to_numpy(dtype=np.float64)
            else:
                raise KeyError(f"no column {name!r}: flux or a fit column {list(PARAMETERS)}")
        n = min(len(v) for v in series.values())
        time = self._time_for(n)
        data = self.data
        good = data.good[:n] if data is not None and len(data) >= n else None
        binned = bin_to_intervals(time, {k: v[:n] for k, v in series.items()}, *edges,
                                  good=good)
        binned.insert(0, "time_utc", mid)
        binned.insert(0, "time", np.asarray(times, dtype=np.float64))
        return Table.from_pandas(binned)

    # -- periodograms --------------------------------------------------------------
    def periodogram(self, table: Any = None, time: Any = None, save: bool = False,
                    plot: bool = True, *, columns: Iterable[str] | None = None, **kwargs: Any):
        """Lomb–Scargle periodogram of every fitted parameter.

        Parameters
        ----------
        table : astropy Table or DataFrame, optional
            Fit results (default ``gaussfit_results``, else ``quickfit_results``).
        time : array, optional
            MJD per row (default ``fg_time``).
        save : bool
            Also write the figure to ``<dir>/spelunker_outputs/<pid>_pgram_results.png``.
        plot : bool
            Draw the seven panels (power against period in seconds).
        columns : list of str, optional
            Parameters to use (default: all seven).
        **kwargs
            Passed to `fgs_widgets.engine.periodogram.periodograms`
            (``min_period``, ``max_period``, ``samples_per_peak``...).

        Of the session's fit (the default) the results are the session's
        periodograms (over ``session.window``: everything unless zoomed in the
        App): ``pgram_results`` (an astropy Table with ``frequency_<p>`` and
        ``power_<p>`` columns, as spelunker's), ``pgram_<p>`` = (frequency [Hz],
        power) and ``pgram_periodograms`` (parameter -> `Periodogram`, with the
        peaks, periods and false-alarm probabilities) are views of them.  A
        table or time passed in is analysed and returned only.  Flagged frames
        and NaN fits are left out; the caller's table is not modified.  Returns
        the Axes (or the `Periodogram` dict when ``plot=False``).
        """
        from .engine.periodogram import periodograms

        if not _given(table) and not _given(time) and (
                self.session.fit is not None or self.session.quick_fit is not None):
            fit = self._fit_table()
            names = [c for c in (columns or PARAMETERS) if c in fit]
            results = self.session.compute_periodograms(names, **kwargs)
        else:
            fit = self._fit_table(table)
            times = self._time_for(len(fit), time)
            names = [c for c in (columns or PARAMETERS) if c in fit]
            good = None
            if not _given(time) and self.data is not None and len(self.data) >= len(fit):
                good = self.data.good[: len(fit)]
            results = periodograms(times, fit[names], names, good=good, **kwargs)
        if not plot and not save:
            return results
        save_to = None
        if save:
            tag = f"{self.pid:05d}" if isinstance(self.pid, int) else "local"
            save_to = self.directory / "spelunker_outputs" / f"{tag}_pgram_results.png"
        axes = plots.periodogram_plot(results, names, self.fontsize, save_to=save_to,
                                      keep_open=plot)
        return axes if plot else results

    # -- events ------------------------------------------------------------------
    def mnemonics(self, mnemonic: str, start: float, end: float, plot: bool = True, *,
                  ax: Any = None):
        """Fetch an engineering mnemonic (needs a MAST token) and draw it on the current axes.

        ``SA_ZHGAUPST`` (high-gain antenna): each move is a shaded span;
        ``mnemonics_event_hga`` = (times, ``'START'``/``'STOP'`` codes) as in
        spelunker, ``hga_moves`` the (time, end) table.  Numeric mnemonics
        (``INIS_FWMTRCURR``, kept in ``mnemonics_event_nisfil``) are plotted on
        a right-hand axis; other text mnemonics draw their transitions
        (``mnemonics_event``).  Every fetched table is in
        ``mnemonics_data[<name>]``.  ``plot=False`` only fetches.  Returns the
        Axes (None with ``plot=False``).
        """
        from .engine import events

        name = mnemonic.strip().upper()
        telemetry = self.session.fetch_mnemonic(name, token=(self._token or None),
                                                start=float(start), end=float(end))
        if name != "SA_ZHGAUPST":
            self._last_mnemonic = name
        if not plot:
            return None
        ax = plots.current_axes(ax)
        found = events.telemetry_events(name, telemetry)  # None: a numeric series
        if name == "SA_ZHGAUPST":
            plots.hga_moves_plot(ax, found, end)
        elif found is None:
            plots.telemetry_plot(ax, *events.numeric_series(telemetry), label=mnemonic)
        else:
            plots.event_lines(ax, found["time"], mnemonic, color="C4")
        return ax

    def _mnemonic_view(self, name: str) -> Any:
        """spelunker's mnemonic attributes, made from ``session.telemetry`` and the files."""
        from .engine import events

        telemetry = self.session.telemetry
        if name == "mnemonics_data":
            return dict(telemetry)
        if name.startswith("mnemonics_local_"):
            kind = name[len("mnemonics_local_"):].upper()
            if self.data is None or kind not in ("GUIDESTAR", "FILENAME"):
                raise AttributeError(name)
            return events.local_events(self.data.products, kinds=(kind,))
        if name in ("hga_moves", "mnemonics_event_hga"):
            if "SA_ZHGAUPST" not in telemetry:
                raise AttributeError(f"{name}: fetch it first (spk.mnemonics('SA_ZHGAUPST', "
                                     "start, end))")
            moves = events.telemetry_events("SA_ZHGAUPST", telemetry["SA_ZHGAUPST"])
            if name == "hga_moves":
                return moves
            times, codes = [], []
            for row in moves.itertuples():
                times.append(float(row.time))
                codes.append("START")
                if np.isfinite(row.end):
                    times.append(float(row.end))
                    codes.append("STOP")
            return (times, codes)
        mnemonic = {"mnemonics_event_nisfil": "INIS_FWMTRCURR",
                    "mnemonics_event": self._last_mnemonic}.get(
            name, name[len("mnemonics_event_"):].upper())
        if mnemonic not in telemetry:
            raise AttributeError(f"{name}: fetch it first (spk.mnemonics({mnemonic!r}, "
                                 "start, end))")
        found = events.telemetry_events(mnemonic, telemetry[mnemonic])
        return telemetry[mnemonic] if found is None else found

    def mnemonics_local(self, mnemonic: str = "GUIDESTAR", plot: bool = True, *,
                        ax: Any = None):
        """Events known from the files themselves (no token needed), drawn on the current axes.

        ``'GUIDESTAR'``: guide-star changes (``guidestar_mnemonics`` = (times,
        guide-star ids), the first star included, as in spelunker);
        ``'FILENAME'``: file starts (``filename_mnemonics`` = (times, file
        names)).  The event tables are in ``mnemonics_local_guidestar`` /
        ``mnemonics_local_filename``.  Returns the Axes (None with ``plot=False``).
        """
        from .engine.events import local_events

        if self.data is None:
            raise ValueError("no data: download(pid) or readfile(path) first")
        kind = mnemonic.upper()
        if kind not in ("GUIDESTAR", "FILENAME"):
            raise ValueError(f"mnemonics_local knows 'GUIDESTAR' and 'FILENAME', not {mnemonic!r}")
        self.session.add_local_events([kind])  # the App draws them too
        table = local_events(self.data.products, kinds=(kind,))
        if not plot:
            return None
        ax = plots.current_axes(ax)
        plots.event_lines(ax, table["time"],
                          "guide star change" if kind == "GUIDESTAR" else "new file",
                          color="C0" if kind == "GUIDESTAR" else "0.5", ls="--")
        return ax

    @property
    def guidestar_mnemonics(self) -> tuple[list[float], list[str]] | None:
        """spelunker's (times, guide-star ids) of each star's first file, the first star too."""
        if self.data is None:
            return None
        products = self.data.products
        stars = products["gs_id"].astype(str)
        first = (stars != stars.shift()).to_numpy()
        return ([float(t) for t in products["data_start"][first]], list(stars[first]))

    @property
    def filename_mnemonics(self) -> tuple[list[float], list[str]] | None:
        """spelunker's (times, file names) of every file's start."""
        if self.data is None:
            return None
        products = self.data.products
        return ([float(t) for t in products["data_start"]],
                [str(n) for n in products["file_name"]])

    def guidestar_plot(self, ax: Any = None):
        """Sky positions of the program's guide stars (from the file headers)."""
        if self.fg_table is None:
            raise ValueError("no fg_table: download(pid) or readfile(path) first")
        return plots.guide_star_plot(ax, self.fg_table.drop_duplicates("gs_id"), self.fontsize)

    # -- animations ----------------------------------------------------------------
    def timelapse_animation(self, fg_array: Any = None, start: int = 0, stop: int = -1,
                            interval: float = 100, filename: str = "movie.gif") -> Path:
        """Animate frames ``start:stop`` (a Python slice, as spelunker) to a GIF or MP4.

        GIFs need nothing extra (Pillow); MP4 needs ffmpeg.  The default range
        is nearly every frame, as in spelunker: give `stop` for long series.
        """
        frames = self._frames(fg_array)[start:stop]
        return plots.animate(frames, None, None, interval, filename)

    def flux_spatial_timelapse_animation(self, fg_array: Any = None, fg_time: Any = None,
                                         fg_flux: Any = None, start: int = 0, stop: int = 100,
                                         interval: float = 100,
                                         filename: str = "movie.gif") -> Path:
        """Frames ``start:stop`` beside the flux curve with a moving time marker."""
        frames = self._frames(fg_array)[start:stop]
        time, flux = self._time_flux(fg_time, fg_flux)
        return plots.animate(frames, time[start:stop], flux[start:stop], interval, filename)

    # -- saving and the widgets ------------------------------------------------------
    def save(self, suffix: str | None = None, *, directory: str | os.PathLike | None = None,
             which: Iterable[str] = ("arrays", "fg_table", "gaussfit", "quickfit"),
             tables: dict[str, Any] | None = None) -> list[Path]:
        """Write arrays (``.npz``) and tables (``.ecsv``) into ``spelunker_outputs``.

        Parameters
        ----------
        suffix : str, optional
            Added to every file name (spelunker's ``save(suffix)``).
        directory : path, optional
            Instead of ``<dir>/spelunker_outputs``.
        which : iterable of str
            Any of ``arrays``, ``fg_table``, ``gaussfit``, ``quickfit``.
        tables : dict, optional
            Tables to write instead of this object's (e.g. a fit of other frames).

        Each file is written under a temporary name and renamed when complete.
        Returns the paths written.
        """
        out = Path(directory) if directory is not None else self.directory / "spelunker_outputs"
        out.mkdir(parents=True, exist_ok=True)
        tag = f"{self.pid:05d}" if isinstance(self.pid, int) else "local"
        if suffix:
            tag = f"{tag}_{suffix}"
        written = []
        which = set(which)
        if "arrays" in which and self.fg_array is not None:
            final = out / f"spelunker_{tag}_arrays.npz"
            with atomic_write(final) as temp:
                np.savez(temp, fg_array=self.fg_array, fg_time=self.fg_time,
                         fg_flux=self.fg_flux)
            written.append(final)
        chosen = {"fg_table": self.fg_table, "gaussfit": self.gaussfit_results,
                  "quickfit": self.quickfit_results, **(tables or {})}
        for name, table in chosen.items():
            if name in which and table is not None:
                astropy_table = table if isinstance(table, Table) else Table.from_pandas(table)
                final = out / f"spelunker_{tag}_{name}.ecsv"
                with atomic_write(final) as temp:
                    astropy_table.write(temp, format="ascii.ecsv")
                written.append(final)
        return written

    def widgets(self):
        """The interactive App on this object's session (display it in a notebook cell).

        The App and this object stay in step: a fit run from either is the other's.
        """
        from .widgets.app import App

        return App(self.session)

    def show(self, where: str = "inline", *, title: str = "FGS guide star",
             anchor: str = "split-right") -> None:
        """Display the App on this object's session (`App.show`): in the cell's output, or
        with ``where="sidecar"`` in a JupyterLab side panel (inline with a note in Notebook 7
        and Voila, which have none).

        Every call shows the same App, moved: showing it again closes its earlier side
        panel.  ``widgets()`` returns a new App instead, to keep or to lay out yourself.

        Parameters
        ----------
        where : {"inline", "sidecar"}
        title, anchor : str
            The side panel's tab title and place (see `App.show`).

        Raises
        ------
        ValueError
            An unknown ``where`` or ``anchor``.
        """
        app = self.__dict__.get("_app")
        if app is None or app.comm is None:  # none yet, or closed
            app = self._app = self.widgets()
        app.show(where, title=title, anchor=anchor)


#: spelunker's entry point: ``spelunker.load(pid=1534)``
load = Spelunker
