"""The guiding report (one offline HTML file) opened in headless Chromium.

The report is written from Python in the test process, then opened as a ``file://``
page: it must load nothing but itself (its figures are PNG data URIs, which Chromium
draws in-page and Playwright does not report as requests), log no console error,
draw every figure, and show exactly the numbers `fgs_widgets.engine.stability`
computes.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.time import Time
from harness import browser_page

from fgs_widgets.engine.stability import tilt_events, visit_statistics
from fgs_widgets.report import write_report

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts"  # gitignored, as the others

#: every <img>: (complete, naturalWidth, naturalHeight, id of its figure)
_IMAGES_JS = """() => [...document.images].map(i => ({
    complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
    figure: i.closest('figure') ? i.closest('figure').id : null,
    data: i.src.startsWith('data:image/png;base64,')}))"""
#: every stat cell of the visit table: statistic, visit, exact value, text shown
_CELLS_JS = """() => [...document.querySelectorAll('#visit-statistics td[data-stat]')].map(td => ({
    stat: td.dataset.stat, visit: td.dataset.visit, value: td.dataset.value,
    text: td.innerText.trim()}))"""
#: the findings: rule and visible text
_FINDINGS_JS = """() => [...document.querySelectorAll('ul.findings li')].map(li => ({
    rule: li.dataset.rule, scope: li.querySelector('.scope')?.innerText.trim(),
    text: li.innerText}))"""


class _Opened:
    """A report opened in Chromium: the page, its errors and every request it made."""

    def __init__(self, page, errors: list[str], url: str) -> None:
        self.page, self.errors, self.url = page, errors, url
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))

    def open(self) -> None:
        self.page.goto(self.url, wait_until="load")
        self.page.wait_for_function(
            "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)",
            timeout=30_000)

    def assert_offline(self) -> None:
        """No request leaves the page: the one request is the file itself.  (Chromium draws
        ``data:`` images in-page; Playwright does not report them as requests, and any
        that were reported would not leave the page either.)"""
        leaving = [url for url in self.requests if not url.startswith("data:")]
        assert leaving == [self.url], leaving
        assert self.page.evaluate("() => document.scripts.length") == 0

    def assert_images_loaded(self) -> list[dict]:
        images = self.page.evaluate(_IMAGES_JS)
        assert images, "the report has no figure"
        for image in images:
            assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
            assert image["data"], f"a figure is not an inline PNG: {image}"
        return images

    def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 10_000, path
        return path


def _parse(text: str):
    """A ``data-value`` (Python repr) back to its value; "" is a missing one (NaN)."""
    if text == "":
        return math.nan
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _same(shown, expected) -> bool:
    if isinstance(expected, np.generic):
        expected = expected.item()
    if pd.isna(expected):
        return isinstance(shown, float) and math.isnan(shown)
    if isinstance(expected, float):
        return isinstance(shown, (int, float)) and math.isclose(shown, expected, rel_tol=1e-12)
    if isinstance(expected, (bool, int)):
        return type(shown) is type(expected) and shown == expected
    return shown == expected or str(shown) == str(expected)


def test_sample_report_in_chromium(fitted_session, tmp_path, chromium):
    session = fitted_session
    path = write_report(session, tmp_path / "report.html")
    stats = visit_statistics(session.data, session.fit_table)
    tilts = tilt_events(session.data, session.fit_table)
    with browser_page({"width": 1400, "height": 1000}) as (page, errors):
        report = _Opened(page, errors, path.as_uri())
        report.open()
        assert "1534" in page.title(), page.title()
        report.assert_offline()

        # figures: the timeline, and per observation its series and its periodograms
        images = report.assert_images_loaded()
        observations = list(pd.unique(session.data.products["observation"]))
        expected = {"timeline"} | {f"obs-{o}-{kind}" for o in observations
                                   for kind in ("series", "periodogram")}
        drawn = [image["figure"] for image in images]
        assert sorted(drawn) == sorted(expected), drawn
        for figure in expected:
            assert page.locator(f"#{figure} img").count() == 1, figure

        # the visit table: each cell's exact value is the Session's own statistic
        cells = page.evaluate(_CELLS_JS)
        visits = [f"{o}.{v}" for o, v in zip(stats["observation"], stats["visit"], strict=True)]
        assert visits == ["1.1", "2.1", "2.2"], visits
        by_visit = dict(zip(visits, stats.itertuples(index=False), strict=True))
        shown_stats = list(dict.fromkeys(cell["stat"] for cell in cells))
        assert {"stability_mas", "jitter_15s_mas", "n_tilts", "gs_id"} <= set(shown_stats)
        assert len(cells) == len(shown_stats) * len(visits), (len(cells), shown_stats)
        wrong = []
        for cell in cells:
            assert cell["stat"] in stats.columns, cell
            expected_value = getattr(by_visit[cell["visit"]], cell["stat"])
            if not _same(_parse(cell["value"]), expected_value):
                wrong.append((cell["stat"], cell["visit"], cell["value"], expected_value))
            if cell["stat"] == "stability_mas":
                assert cell["text"] == f"{expected_value:.2f}", (cell, expected_value)
            if pd.isna(expected_value):
                assert cell["text"] == "—", cell
        assert not wrong, wrong
        nan_cells = [c for c in cells if c["value"] == ""]
        assert nan_cells, "the sample's visit 2.2 has no pointing jitter (NaN): none shown"

        # the findings: every tilt at its UTC second, and visit 2.2 (no event) is quiet
        found = page.evaluate(_FINDINGS_JS)
        assert found, "no finding"
        assert len(tilts) == 3, tilts
        for tilt in tilts.itertuples():
            second = Time(tilt.time, format="mjd", scale="utc").isot[:19]
            scope = f"Visit {tilt.observation}.{tilt.visit}"
            matching = [f for f in found if f["rule"] == "tilt" and second in f["text"]]
            assert len(matching) == 1, (second, [f["text"] for f in found])
            assert matching[0]["scope"] == scope, matching
        quiet = [f for f in found if f["rule"] == "quiet"]
        assert [f["scope"] for f in quiet] == ["Visit 2.2"], quiet
        assert "Quiet" in quiet[0]["text"], quiet
        assert "1.48 mas" in quiet[0]["text"], quiet  # its stability_mas, as the table shows

        report.screenshot("report_sample.png", full_page=True)
        page.evaluate("() => window.scrollTo(0, 0)")
        report.screenshot("report_top.png")
        report.assert_offline()  # still nothing but the file, after scrolling and drawing
        assert errors == [], errors


def test_report_with_science_in_chromium(fitted_session, sample, tmp_path, chromium):
    session = fitted_session
    session.load_science(sample.science_path)
    lags = np.arange(-30.0, 31.0, 2.0)
    result = session.decorrelate(["x_mean", "y_mean"], lags=lags)
    assert result.lags is not None and len(result.lags) == len(lags)
    path = write_report(session, tmp_path / "science.html")
    with browser_page({"width": 1400, "height": 1000}) as (page, errors):
        report = _Opened(page, errors, path.as_uri())
        report.open()
        report.assert_offline()
        images = report.assert_images_loaded()
        assert page.locator("section#science").count() == 1
        assert "science-figure" in [image["figure"] for image in images], images
        science_image = next(i for i in images if i["figure"] == "science-figure")
        assert science_image["width"] > 300 and science_image["height"] > 200, science_image

        # coefficients and residual rms: the exact values of the Session's decorrelation
        value, _error = result.coefficient("x_mean")
        cell = page.locator("#science-coefficients tr", has_text="x_mean").locator(
            "td[data-value]").first
        assert math.isclose(float(cell.get_attribute("data-value")), value, rel_tol=1e-12)
        rms = page.locator("#science-summary td[data-before]").first
        assert math.isclose(float(rms.get_attribute("data-before")),
                            result.residual_rms_before, rel_tol=1e-12)
        assert math.isclose(float(rms.get_attribute("data-after")),
                            result.residual_rms_after, rel_tol=1e-12)
        assert result.residual_rms_after < result.residual_rms_before

        # the lag scan's best lag: the largest |r| over lags and regressors
        scores = result.lags[["x_mean", "y_mean"]].abs().to_numpy()
        best = np.unravel_index(np.nanargmax(scores), scores.shape)
        best_lag = float(result.lags["lag_s"].iloc[best[0]])
        lag_cell = page.locator("#science-summary tr", has_text="best lag").locator("td")
        assert lag_cell.count() == 1, "no best lag in the science summary"
        assert math.isclose(float(lag_cell.get_attribute("data-value")), best_lag,
                            rel_tol=1e-12, abs_tol=1e-12)
        assert "x_mean" in lag_cell.inner_text(), lag_cell.inner_text()

        # the science finding names the regressor the sample's light curve couples to
        found = page.evaluate(_FINDINGS_JS)
        science = [f for f in found if f["rule"] == "science"]
        assert len(science) == 1, found
        assert "x_mean" in science[0]["text"], science

        page.locator("#science").evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(200)
        report.screenshot("report_science.png")
        report.assert_offline()
        assert errors == [], errors
