"""The Session's schema: the tags on its traits, walked.

Every derived trait goes back to its default when any of its sources changes (and only
then), a result computed from sources that changed meanwhile is refused, and a new
result declared with tags alone is saved, reopened, exported and kept current.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import traitlets as t

from fgs_widgets.engine.psf import PARAMETERS
from fgs_widgets.engine.timesystems import utc_to_bjd_tdb
from fgs_widgets.model import Session
from fgs_widgets.session_schema import SOURCES, StaleResult, tagged

#: how each source is replaced by a new object, and what that replacement changes
#: (new frames come in new data)
CHANGES = {
    "frames": (lambda s: setattr(s, "data", dataclasses.replace(s.data,
                                                                frames=s.data.frames.copy())),
               {"frames", "data"}),
    "data": (lambda s: setattr(s, "data", dataclasses.replace(s.data, flux=s.data.flux * 1.0)),
             {"data"}),
    "fit_table": (lambda s: setattr(s, "fit", s.fit.copy()), {"fit_table"}),
    "science": (lambda s: setattr(s, "science", dataclasses.replace(s.science)), {"science"}),
}


def filled(sample_data, cls: type[Session] = Session) -> Session:
    """A session with every tagged trait holding a value that is not its default."""
    part = sample_data.select(observation=2)[:4000]
    s = cls(data=part)
    rng = np.random.default_rng(3)
    s.quick_fit, s.fit = (pd.DataFrame(rng.normal(size=(len(part), len(PARAMETERS))),
                                       columns=list(PARAMETERS)) for _ in range(2))
    s.compute_periodograms(["flux", "x_mean"], max_period=200.0)
    s.add_local_events(["FILENAME"])
    t_ = part.time
    s.telemetry = {"INIS_FWMTRCURR": pd.DataFrame({"time": t_[:3], "utc": ["a", "b", "c"],
                                                   "value": [0.1, 0.2, 0.3],
                                                   "mnemonic": "INIS_FWMTRCURR"})}
    s.window = (float(t_[10]), float(t_[3000]))
    s.cursor, s.parameter, s.program = 77, "x_mean", "1534"
    mid = t_[100:3900:40]
    star = part.products.iloc[0]
    s.load_science(pd.DataFrame({"bjd_tdb": utc_to_bjd_tdb(mid, star["gs_ra"], star["gs_dec"]),
                                 "flux": 1 + 0.01 * np.sin(mid), "flux_err": 1e-4}))
    s.decorrelate(["x_mean"])  # bins first: science_binned too
    unfilled = [n for n in tagged(Session, "depends_on")
                if _is_default(s, n)]
    assert not unfilled, f"the test must fill every derived trait: {unfilled}"
    return s


def _is_default(session: Session, name: str) -> bool:
    value, default = getattr(session, name), session.traits()[name].default()
    if value is None or default is None:
        return value is default
    return bool(value == default) if not isinstance(value, pd.DataFrame) else False


def _dropped_by(session: Session, changed: set[str]) -> set[str]:
    """The traits a change of ``changed`` must reset, following the tags: a trait reset
    that is itself (part of) a source changes that source too (new frames reset the fits,
    and so the fit table)."""
    traits = Session.class_traits()
    sources = set(changed)
    dropped: set[str] = set()
    while True:
        more = {n for n in tagged(Session, "depends_on")
                if not callable(traits[n].metadata["depends_on"])
                and sources & set(traits[n].metadata["depends_on"])}
        new_sources = {name for name, source in SOURCES.items()
                       if set(source.traits) & more and name not in sources}
        if more <= dropped and not new_sources:
            return dropped
        dropped |= more
        sources |= new_sources


@pytest.mark.parametrize("source", sorted(CHANGES))
def test_every_derived_trait_goes_stale_when_a_source_changes(sample_data, source):
    s = filled(sample_data)
    change, changed = CHANGES[source]
    before = {name: getattr(s, name) for name in s.trait_names()}
    before_periodograms = dict(s.periodograms)
    change(s)
    dropped = _dropped_by(s, changed)
    assert dropped, f"nothing depends on {source}?"
    for name in dropped:
        assert _is_default(s, name), f"{name} kept after the {source} changed"
    # the others are the very same objects
    derived = set(tagged(Session, "depends_on"))
    for name in derived - dropped - {"periodograms"} - set(SOURCES[source].traits):
        assert getattr(s, name) is before[name], f"{name} dropped by a change of {source}"
    # a periodogram goes with its own series' source: flux with the data, x_mean with the
    # fit table (new frames: both, the fit table going with the fits)
    gone = {"frames": {"flux", "x_mean"}, "data": {"flux"}, "fit_table": {"x_mean"},
            "science": set()}[source]
    assert set(s.periodograms) == set(before_periodograms) - gone
    for name, result in s.periodograms.items():
        assert result is before_periodograms[name]


def test_a_quick_fit_under_a_full_fit_changes_no_fit_column(sample_data):
    s = filled(sample_data)
    kept = (s.periodograms["x_mean"], s.science_binned, s.decorrelation)
    s.quick_fit = s.quick_fit.copy()  # under the full fit: the columns come from the fit
    assert (s.periodograms["x_mean"], s.science_binned, s.decorrelation) == kept
    s.fit = None  # now they come from the quick fit: stale
    assert "x_mean" not in s.periodograms and s.science_binned is None


@pytest.mark.parametrize("source", sorted(CHANGES))
def test_a_result_of_sources_that_changed_meanwhile_is_refused(sample_data, source):
    s = filled(sample_data)
    provenance = s._provenance
    traits = Session.class_traits()
    whole = [n for n in tagged(Session, "depends_on")
             if not callable(traits[n].metadata["depends_on"])
             and source in traits[n].metadata["depends_on"]]
    started = {n: provenance.snapshot_for(n) for n in whole}
    periodograms_started = provenance.snapshot_for("periodograms")
    results = {n: getattr(s, n) for n in whole}
    entries = dict(s.periodograms)
    CHANGES[source][0](s)
    for name in whole:
        was = getattr(s, name)
        with pytest.raises(StaleResult, match=f"changed during the {name}"):
            provenance.store(name, results[name], started[name], name)
        assert getattr(s, name) is was
    kept = provenance.store_entries("periodograms", entries, periodograms_started)
    stale = {"frames": {"flux", "x_mean"}, "data": {"flux"}, "fit_table": {"x_mean"},
             "science": set()}[source]
    assert set(kept) == set(entries) - stale


class _WithResult(Session):
    """A Session with one more result: its declaration is all it takes."""

    x_summary = t.Instance(pd.DataFrame, allow_none=True).tag(
        saved="table", exported=True, depends_on=("fit_table",))


def test_a_new_result_is_one_declaration(sample_data, tmp_path):
    s = filled(sample_data, _WithResult)
    s.x_summary = s.quick_fit.describe().reset_index()
    assert "x_summary" in s.tables()
    again = _WithResult.open(s.save(tmp_path / "with"))
    pd.testing.assert_frame_equal(again.x_summary, s.x_summary)
    again.fit = again.fit.copy()
    assert again.x_summary is None
    assert "x_summary" not in again.tables()


def test_every_tag_names_what_exists():
    traits = Session.class_traits()
    codecs = {"json", "table", "tables", "data", "periodograms", "science"}
    for name in tagged(Session, "saved"):
        assert traits[name].metadata["saved"] in codecs, name
    for name in tagged(Session, "depends_on"):
        sources = traits[name].metadata["depends_on"]
        if callable(sources):
            assert set(sources("flux")) | set(sources("x_mean")) <= set(SOURCES), name
        else:
            assert set(sources) <= set(SOURCES), name
    # a source is never derived from itself
    for name, source in SOURCES.items():
        for trait in source.traits:
            depends = traits[trait].metadata.get("depends_on", ())
            assert callable(depends) or name not in depends
