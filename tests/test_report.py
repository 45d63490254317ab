"""The guiding report: its numbers are the Session's, its findings the sample's truth, and
the file is one self-contained page written atomically (the browser test opens it)."""

from __future__ import annotations

import html as html_module
import math
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from astropy.time import Time

from fgs_widgets.engine.stability import tilt_events, visit_statistics
from fgs_widgets.model import Session
from fgs_widgets.report import RULES
from fgs_widgets.report.content import gather
from fgs_widgets.report.findings import findings, summary
from fgs_widgets.report.rules import DRIFT_FRACTION, significant_peak


class _Page(HTMLParser):
    """Every start tag's attributes, by tag; and the visible text of each ``li``."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, list[dict[str, str]]] = {}
        self.items: list[str] = []
        self._in_li = False

    def handle_starttag(self, tag, attrs):
        self.tags.setdefault(tag, []).append({k: v or "" for k, v in attrs})
        if tag == "li":
            self._in_li, self.items = True, [*self.items, ""]

    def handle_endtag(self, tag):
        if tag == "li":
            self._in_li = False

    def handle_data(self, data):
        if self._in_li:
            self.items[-1] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory, sample_data, sample_quick_fit):
    """The sample's report (quick fit), written once: (session, path, text)."""
    session = Session()
    session.data, session.quick_fit = sample_data, sample_quick_fit
    path = session.report(tmp_path_factory.mktemp("report") / "sample.html")
    return session, path, path.read_text(encoding="utf-8")


def test_the_page_is_self_contained(sample_report):
    _, path, text = sample_report
    page = _parse(text)
    assert "script" not in page.tags, "the report runs no script"
    assert "link" not in page.tags, "no stylesheet or icon is fetched"
    sources = [a.get("src", "") for a in page.tags.get("img", [])]
    assert len(sources) == 1 + 2 * 2  # timeline; series and periodograms of 2 observations
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    hrefs = [a["href"] for a in page.tags.get("a", []) if "href" in a]
    assert hrefs and all(h.startswith("#") for h in hrefs), [h for h in hrefs if h[:1] != "#"]
    csp = [m["content"] for m in page.tags["meta"] if m.get("http-equiv") ==
           "Content-Security-Policy"]
    assert csp == ["default-src 'none'; img-src data:; style-src 'unsafe-inline'"]
    assert not re.search(r"\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", text)
    assert path.stat().st_size < 1.5e6
    assert not list(path.parent.glob(".*partial*")), "no temporary file is left"


def test_every_statistic_is_the_sessions(sample_report):
    session, _, text = sample_report
    expected = visit_statistics(session.data, session.fit_table)
    cells = [a for a in _parse(text).tags["td"] if "data-stat" in a]
    assert len(cells) == 24 * len(expected)
    key = expected["observation"].astype(str) + "." + expected["visit"].astype(str)
    for cell in cells:
        row = expected[key == cell["data-visit"]].iloc[0]
        value = row[cell["data-stat"]]
        if pd.isna(value):
            assert cell["data-value"] == ""
        elif isinstance(value, str):
            assert cell["data-value"] == repr(value)
        else:
            assert math.isclose(float(cell["data-value"]), float(value), rel_tol=1e-15)
    shown = re.findall(r'data-stat="stability_mas" data-visit="([\d.]+)" data-value="[^"]*">'
                       r"([^<]*)<", text)
    assert shown == [(k, f"{v:.2f}") for k, v in zip(key, expected["stability_mas"],
                                                     strict=True)]


def test_findings_are_the_samples_truth(sample, sample_report):
    session, _, text = sample_report
    truth = sample.truth
    content = gather(session)
    found = findings(content)
    by_rule = {rule: [f for f in found if f.rule == rule] for rule in RULES}
    # the injected oscillations, in both observations, with their semi-amplitudes
    periods = [p for part in content.observations for p in part.peaks if p.significant]
    assert sorted({(p.column, round(p.period_s)) for p in periods}) == [("x_mean", 38),
                                                                         ("y_mean", 11)]
    for p in periods:
        assert p.period_s == pytest.approx(truth.periods[p.column], rel=0.01)
        assert p.semi_amplitude_px == pytest.approx(truth.amplitudes[p.column], rel=0.1)
    assert len(by_rule["period"]) == 4
    # every injected tilt, at its time; every HGA move, with its duration
    tilt_seconds = [(t - truth.time[0]) * 86400 for t in truth.jumps["time"]]
    said = [float(m.replace(",", "")) for f in by_rule["tilt"]
            for m in re.findall(r"t = ([\d,.]+) s", f.text)]
    assert said == pytest.approx(tilt_seconds, abs=0.2)
    moves = [float(v.replace(",", "")) for f in by_rule["hga"]
             for pair in re.findall(r"t = ([\d,.]+) s\), lasting (\d+) s", f.text) for v in pair]
    assert moves == pytest.approx([v for a, b in truth.hga_moves
                                   for v in ((a - truth.time[0]) * 86400, (b - a) * 86400)],
                                  abs=0.7)
    assert [f.scope for f in by_rule["quiet"]] == ["Visit 2.2"]
    flagged = {f.scope: int(f.text.split()[0]) for f in by_rule["flagged"]}
    assert flagged == {"Visit 1.1": len(truth.all_nan), "Visit 2.1": len(truth.dropouts)}
    assert not by_rule["width"] and not by_rule["unfitted"] and not by_rule["science"]
    # as the reader sees them, in order, with the summary above
    items = [" ".join(i.split()) for i in _parse(text).items if "rule:" in i]
    assert len(items) == len(found)
    for item, f in zip(items, found, strict=True):  # its words, then links to its evidence
        assert item.startswith(html_module.unescape(f"{f.scope} {f.text} ")), item
        assert item.endswith(f" rule: {f.rule}"), item
    assert summary(content, found) in html_module.unescape(text)
    assert "3 tilts; 2 high-gain-antenna moves" in summary(content, found)


def test_tilts_listed_are_the_ones_the_statistics_count(sample_data, sample_quick_fit):
    tilts = tilt_events(sample_data, sample_quick_fit)
    stats = visit_statistics(sample_data, sample_quick_fit)
    counted = tilts.groupby(["observation", "visit"]).size()
    for row in stats.itertuples():
        assert counted.get((row.observation, row.visit), 0) == row.n_tilts
    assert (np.diff(tilts["time"]) > 0).all()


def test_a_width_drift_and_failed_fits_are_found_and_said(sample_data, sample_quick_fit):
    """Rules fire on the numbers: a width ramp in visit 2.2 and ten failed fits in 1.1."""
    fit = sample_quick_fit.copy()
    files = np.flatnonzero((sample_data.products["observation"] == 2)
                           & (sample_data.products["visit"] == 2))
    in_visit = np.isin(sample_data.segments, files)
    hours = (sample_data.time - sample_data.time[in_visit][0]) * 24
    ramp = np.where(in_visit, 1 + 0.5 * hours, 1.0)  # +50 %/h: ~1.8 % over 128 s... x2 below
    fit["x_stddev"] *= ramp**2
    fit["y_stddev"] *= ramp**2
    failed = np.flatnonzero(sample_data.good)[:10]
    fit.loc[failed, "x_mean"] = np.nan
    session = Session()
    session.data, session.quick_fit = sample_data, fit
    content = gather(session)
    found = findings(content)
    row = content.visits.iloc[2]
    change = row.psf_width_drift_px_per_h * row.duration_s / 3600
    assert change > DRIFT_FRACTION * row.psf_width_px
    width = [f for f in found if f.rule == "width"]
    assert [f.scope for f in width] == ["Visit 2.2"]
    assert f"{row.psf_width_drift_px_per_h:+.4f} px/h" in width[0].text
    assert not [f for f in found if f.rule == "quiet"]
    unfitted = [f for f in found if f.rule == "unfitted"]
    assert [(f.scope, f.text.split()[0]) for f in unfitted] == [("Visit 1.1", "10")]
    assert content.unfitted.to_dict("records") == [{"status": "non-finite", "frames": 10}]


def test_failed_fits_are_counted_by_status_name_from_integer_codes(sample_data,
                                                                  sample_quick_fit):
    """fit_gaussians' integer status codes are named as the statistics name them."""
    from fgs_widgets.engine.gaussian import STATUS

    code = {name: c for c, name in STATUS.items()}
    fit = sample_quick_fit.copy()
    fit["status"] = code["converged"]
    good = np.flatnonzero(sample_data.good)
    fit.loc[good[:5], "status"] = code["max_iter"]
    fit.loc[good[5:7], "status"] = code["failed"]
    session = Session()
    session.data, session.quick_fit = sample_data, fit
    content = gather(session)
    assert content.unfitted.set_index("status")["frames"].to_dict() == {"max_iter": 5,
                                                                        "failed": 2}
    assert content.visits["n_fit_failed"].sum() == 7


def test_the_science_regressor_is_named(fitted_session, sample, tmp_path):
    fitted_session.load_science(sample.science_path)
    result = fitted_session.decorrelate(["x_mean", "y_mean"], lags=np.arange(-8.0, 8.1, 4.0))
    text = fitted_session.report(tmp_path / "science.html").read_text(encoding="utf-8")
    science = [f for f in findings(gather(fitted_session)) if f.rule == "science"]
    assert len(science) == 1 and "strongest guide-star regressor" in science[0].text
    assert "is x_mean:" in science[0].text
    assert "ppm of the flux per 1 σ of x_mean" in science[0].text
    value, error = result.coefficient("x_mean")
    assert f"{value * 1e6:+.1f} ± {error * 1e6:.1f} ppm" in science[0].text
    assert 'id="science"' in text and text.count("data:image/png;base64,") == 6
    assert f'data-value="{value!r}"' in text
    assert "Lag scan: best lag" in text


def test_percentiles_against_a_reference(sample_report, tmp_path):
    from fgs_widgets.survey.dataset import write_partition, write_status

    session, _, _ = sample_report
    own = visit_statistics(session.data, session.fit_table)
    # 20 reference visits of another program: stability 0.5, 1.0, ... 10.0 mas; and the
    # reported visits themselves, which must not count
    others = pd.concat([own.iloc[[0]]] * 20, ignore_index=True)
    others["program"] = 9999
    others["visit"] = np.arange(1, 21)
    others["stability_mas"] = np.arange(1, 21) * 0.5
    root = tmp_path / "survey"
    for program, table in pd.concat([others, own]).groupby("program"):
        observations = []
        for obs, rows in table.groupby("observation"):
            write_partition(root, program, obs, rows, {"inputs": [], "settings": {}})
            observations.append({"observation": int(obs)})
        write_status(root, program, {"state": "done", "observations": observations,
                                     "settings": {}})
    path = session.report(tmp_path / "with_reference.html", reference=root)
    content = gather(session, reference=root)
    ref = content.reference
    assert ref.n_visits == 20 and ref.n_programs == 1
    for i, value in enumerate(own["stability_mas"]):
        below = np.count_nonzero(others["stability_mas"] < value)
        ties = np.count_nonzero(others["stability_mas"] == value)
        assert ref.percentiles["stability_mas"].iloc[i] == pytest.approx(
            100 * (below + ties / 2) / 20)
    said = [f.text for f in findings(content) if f.rule == "reference"]
    assert len(said) == 3
    first = ref.percentiles["stability_mas"].iloc[0]
    assert said[0].startswith(f"Pointing stability {own['stability_mas'].iloc[0]:.2f} mas is "
                              f"higher than {first:.0f} % of the 20 reference visits")
    assert f"({first:.0f} %)" in path.read_text(encoding="utf-8")


def test_a_reference_without_statistics_is_refused(sample_report, tmp_path):
    session, _, _ = sample_report
    with pytest.raises(ValueError, match="no visit statistics"):
        session.report(tmp_path / "r.html", reference=pd.DataFrame({"a": [1]}))
    own = visit_statistics(session.data, session.fit_table)
    with pytest.raises(ValueError, match="no visit besides the reported ones"):
        session.report(tmp_path / "r.html", reference=own)
    assert not (tmp_path / "r.html").exists()


def test_what_is_missing_is_named(sample_data, tmp_path):
    empty = Session()
    with pytest.raises(ValueError, match=r"load some first \(session.load_sample"):
        empty.report(tmp_path / "a.html")
    unfitted = Session()
    unfitted.data = sample_data
    with pytest.raises(ValueError, match=r"run session.fit_frames\(\)"):
        unfitted.report(tmp_path / "a.html")
    with pytest.raises(ValueError, match=r"should end in .html"):
        unfitted.report(tmp_path / "a.pdf")
    assert list(tmp_path.iterdir()) == []


def test_the_session_is_not_changed(fitted_session, tmp_path):
    before = {name: fitted_session.trait_values()[name] for name in
              ("events", "periodograms", "window", "cursor", "history", "fit", "quick_fit")}
    fitted_session.report(tmp_path / "r.html")
    after = fitted_session.trait_values()
    assert after["events"] is None and after["periodograms"] == {}
    for name, value in before.items():
        assert after[name] is value or after[name] == value, name
    assert fitted_session.message.startswith("report written: r.html (")


def test_a_failed_report_keeps_the_old_file(fitted_session, tmp_path, monkeypatch):
    from fgs_widgets.report import figures

    path = tmp_path / "r.html"
    path.write_text("the previous report")

    def broken(content):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(figures, "timeline", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        fitted_session.report(path)
    assert path.read_text() == "the previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_the_significance_rule():
    assert significant_peak(0.3, 1e-5, 30.0, 256.0)
    assert not significant_peak(0.3, 2e-3, 30.0, 256.0)  # could be noise
    assert not significant_peak(0.04, 1e-9, 30.0, 256.0)  # explains too little
    assert not significant_peak(0.3, 1e-9, 90.0, 256.0)  # under three cycles in a file


def test_times_are_utc_and_since_the_first_frame(sample_report):
    session, _, _ = sample_report
    content = gather(session)
    tilt = content.tilts.iloc[0]
    text = next(f.text for f in findings(content) if f.rule == "tilt")
    iso = Time(tilt["time"], format="mjd", scale="utc").isot[:21]
    assert f"Tilt at {iso} UTC (t = {(tilt['time'] - session.data.time[0]) * 86400:,.1f} s)" \
        in text


def test_a_long_event_list_says_how_much_is_shown(fitted_session, tmp_path):
    from fgs_widgets.engine.events import concat_events
    from fgs_widgets.report.render import MAX_ROWS

    time_ = fitted_session.data.time[::50][:250]
    fitted_session.events = concat_events(pd.DataFrame({
        "time": time_, "end": np.nan, "kind": "outlier", "label": "flux", "source": "detected",
        "value": 1.0}))
    text = fitted_session.report(tmp_path / "r.html").read_text(encoding="utf-8")
    n = len(gather(fitted_session).events)
    assert n > 250 > MAX_ROWS
    assert text.count('<tr class="ev-') == MAX_ROWS
    assert f"The first {MAX_ROWS} of {n} events are listed." in text
