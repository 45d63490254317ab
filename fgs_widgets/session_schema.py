"""What each `Session` trait is, declared once on the trait, and the one mechanism that
keeps derived results current.

A trait says what it is with tags (as bqplot's ``.tag(sync=True)``)::

    fit = t.Instance(pd.DataFrame, allow_none=True).tag(
        saved="table", exported=True, depends_on=("frames",))

``saved``
    How a save (`fgs_widgets.session_io`) keeps it: ``"json"`` (a value in the
    manifest), ``"table"`` (one Parquet file), ``"tables"`` (a folder, one Parquet file
    per key), or a codec of its own (``"data"``, ``"periodograms"``, ``"science"``).
    Untagged: not saved (the moment's status, results cheap to compute again).
``exported``
    True: every export (the App, the science panel, ``Session.tables()``) offers its
    tables (`session_tables`).
``depends_on``
    The sources (`SOURCES`) the value is computed from or refers to, e.g. a frame index
    refers to the frames.  When any of them changes the value goes back to its default,
    and a result computed from sources that changed meanwhile is refused
    (`Provenance.store`).  A function of the key instead of a tuple: a dict whose
    entries depend on different sources (`series_sources`: a flux periodogram on the
    data, a fit column's on the fit table).

A source is not a trait but an object some traits hold (the frames, the fit table in
use); its version moves when that object is replaced.  So a quick fit under a full one
changes no fit column, and new photometry (the same frames, another flux) keeps the
fits.  Adding a derived result is one declaration: the tags do the rest.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import traitlets as t

from .data import GuideStarData, ScienceSeries
from .engine.decorrelation import Decorrelation

__all__ = ["SOURCES", "Provenance", "Source", "StaleResult", "series_sources",
           "session_tables", "tagged"]


@dataclass(frozen=True)
class Source:
    """Something derived results are computed from.

    Attributes
    ----------
    traits : tuple of str
        The traits whose change can replace it.
    value : callable(session) -> object
        The object itself; its identity is its version.
    """

    traits: tuple[str, ...]
    value: Callable[[Any], Any]


#: every source a ``depends_on`` tag may name
SOURCES: dict[str, Source] = {
    # the pixels: fits, events, the window and the cursor are of them
    "frames": Source(("data",), lambda s: None if s.data is None else s.data.frames),
    # everything read with them: the flux (photometry replaces it alone), times, flags
    "data": Source(("data",), lambda s: s.data),
    # the table fit columns come from (`Session.fit_table`)
    "fit_table": Source(("fit", "quick_fit"), lambda s: s.fit_table),
    "science": Source(("science",), lambda s: s.science),
}


def series_sources(column: str) -> tuple[str, ...]:
    """The sources of a per-frame series: the flux is of the data, any other column of the
    fit table."""
    return ("data",) if column == "flux" else ("fit_table",)


class StaleResult(RuntimeError):
    """A result whose sources changed while it was computed (it is not kept)."""


def tagged(cls: type[t.HasTraits], tag: str) -> list[str]:
    """The names of ``cls``'s traits carrying ``tag``, in the order they are declared."""
    names = [name for klass in reversed(cls.__mro__) for name, value in vars(klass).items()
             if isinstance(value, t.TraitType) and value.metadata.get(tag) is not None]
    return list(dict.fromkeys(names))


def _identity(value: Any) -> Any:
    """What remembers ``value``'s identity without keeping it alive (frames are large)."""
    if value is None:
        return None
    try:
        return weakref.ref(value)
    except TypeError:
        return value


def _same(remembered: Any, value: Any) -> bool:
    if remembered is None or value is None:
        return remembered is value
    held = remembered() if isinstance(remembered, weakref.ref) else remembered
    return held is value


class Provenance:
    """Versions of a session's sources; drops what depends on a source when it changes.

    Parameters
    ----------
    session : HasTraits
        The model whose traits carry ``depends_on`` tags; observed from here on.
    on_change : callable(list of source names), optional
        Called with the sources that changed, before their dependants are dropped
        (the Session abandons jobs working on old frames there).
    """

    def __init__(self, session: t.HasTraits,
                 on_change: Callable[[list[str]], None] | None = None):
        self._session = weakref.proxy(session)  # the session owns this, not the reverse
        self._on_change = on_change
        self.versions = dict.fromkeys(SOURCES, 0)
        self._seen = {name: _identity(source.value(session)) for name, source in
                      SOURCES.items()}
        cls = type(session)
        self._traits = cls.class_traits()
        self._dependants = {name: self._traits[name].metadata["depends_on"]
                            for name in tagged(cls, "depends_on")}
        watched = sorted({trait for source in SOURCES.values() for trait in source.traits})
        session.observe(self._on_trait, names=watched)

    def dependants(self, source: str) -> list[str]:
        """The traits that depend on ``source`` (for a per-key trait: some of its entries)."""
        return [name for name, sources in self._dependants.items()
                if callable(sources) or source in sources]

    def snapshot(self, sources: Iterable[str]) -> dict[str, int]:
        """The versions of ``sources`` now: what a result started now was computed from."""
        return {name: self.versions[name] for name in sources}

    def snapshot_for(self, name: str) -> dict[str, int]:
        """The versions of every source trait ``name`` depends on, now."""
        sources = self._dependants[name]
        return self.snapshot(SOURCES if callable(sources) else sources)

    def current(self, snapshot: Mapping[str, int]) -> bool:
        """Whether no source of ``snapshot`` changed since it was taken."""
        return all(self.versions[name] == version for name, version in snapshot.items())

    def store(self, name: str, value: Any, snapshot: Mapping[str, int], what: str) -> None:
        """Set trait ``name`` to ``value`` computed from ``snapshot``'s sources, or refuse.

        Raises
        ------
        StaleResult
            A source changed meanwhile (a fit finished in its own thread): nothing kept.
        """
        if not self.current(snapshot):
            changed = ", ".join(n for n, v in snapshot.items() if self.versions[n] != v)
            raise StaleResult(f"the {changed.replace('_', ' ')} changed during the {what} (a "
                              "fit finished?): nothing was kept; run it again")
        setattr(self._session, name, value)

    def store_entries(self, name: str, entries: Mapping[str, Any],
                      snapshot: Mapping[str, int]) -> dict[str, Any]:
        """Merge into the dict trait ``name`` the entries whose sources did not change since
        ``snapshot``; returns those kept."""
        sources = self._dependants[name]
        kept = {key: value for key, value in entries.items()
                if self.current({s: snapshot[s] for s in sources(key) if s in snapshot})}
        if kept:
            setattr(self._session, name, {**getattr(self._session, name), **kept})
        return kept

    def _on_trait(self, change: dict) -> None:
        session = self._session
        changed = []
        for name, source in SOURCES.items():
            if change["name"] in source.traits:
                value = source.value(session)
                if not _same(self._seen[name], value):
                    self._seen[name] = _identity(value)
                    self.versions[name] += 1
                    changed.append(name)
        if not changed:
            return
        if self._on_change is not None:
            self._on_change(changed)
        for source in changed:
            for name in self.dependants(source):
                self._drop(name, source)

    def _drop(self, name: str, source: str) -> None:
        sources = self._dependants[name]
        session = self._session
        if callable(sources):
            entries = getattr(session, name)
            kept = {k: v for k, v in entries.items() if source not in sources(k)}
            if len(kept) != len(entries):
                setattr(session, name, kept)
            return
        default = self._traits[name].default()
        if not _equal_default(getattr(session, name), default):
            setattr(session, name, default)


def _equal_default(value: Any, default: Any) -> bool:
    """Whether ``value`` is its trait's default already (an empty dict, 0, None)."""
    if isinstance(value, (pd.DataFrame, np.ndarray)) or value is None or default is None:
        return value is default
    return type(value) is type(default) and value == default


# -- exports -------------------------------------------------------------------------------
def _tables_of(name: str, value: Any, session: Any) -> dict[str, pd.DataFrame]:
    """The tables an exported trait's value gives (`session_tables`)."""
    if isinstance(value, pd.DataFrame):
        return {name: value}
    if isinstance(value, GuideStarData):
        return {"products": value.products,
                "series": pd.DataFrame({"time": value.time, "flux": value.flux,
                                        "quality": value.quality})}
    if isinstance(value, ScienceSeries):
        return {name: value.table()}
    if isinstance(value, Decorrelation):
        if session.science is None:  # its table is on the science series' times
            return {}
        return {name: value.table(session.science.time),
                f"{name}_coefficients": value.coefficients}
    if isinstance(value, dict) and value and all(hasattr(v, "peaks") for v in value.values()):
        return {"peaks": pd.concat([v.peaks.assign(column=k) for k, v in value.items()],
                                   ignore_index=True)}
    raise TypeError(f"Session.{name} is tagged exported but holds a "
                    f"{type(value).__name__}: say in session_schema._tables_of how it "
                    "becomes tables")


def session_tables(session: Any) -> dict[str, pd.DataFrame]:
    """Every table the session's exported traits hold now, by name (products and series
    from the data, the fits, events, periodogram peaks, the science series, binned, and
    its decorrelation), in the order the traits are declared."""
    tables: dict[str, pd.DataFrame] = {}
    for name in tagged(type(session), "exported"):
        value = getattr(session, name)
        if value is not None and not (isinstance(value, dict) and not value):
            tables.update(_tables_of(name, value, session))
    return tables
