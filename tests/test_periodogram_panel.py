"""PeriodogramPanel driven from Python: computed after a fit, top significant peaks labelled
(inside the plot, never over each other; noise said to be noise), nice axes, cancellable,
an opt-out, and what it removed first chosen, drawn and said."""

from __future__ import annotations

import math
import re
import threading
import time

import numpy as np
import pandas as pd
import pytest

import fgs_widgets.engine.periodogram as engine
from fgs_widgets.engine.periodogram import Periodogram, empty_peaks
from fgs_widgets.engine.scales import js_number
from fgs_widgets.jobs import JobState
from fgs_widgets.model import Session
from fgs_widgets.widgets import PeriodogramPanel
from fgs_widgets.widgets.periodogram_panel import (
    FIGURE_HEIGHT,
    FIGURE_MARGIN,
    LABEL_CHAR,
    LABEL_HEIGHT,
    LABEL_PAD,
    LABEL_RISE,
    PLOT_WIDTH,
    SIGNIFICANT_FAP,
    _period_text,
)

TIMEOUT = 60.0
LOG_MANTISSAS = {1.0, 2.0, 2.5, 3.0, 5.0}
STEP_MANTISSAS = {1.0, 2.0, 2.5, 5.0}
SECONDS_PER = {"s": 1.0, "min": 60.0, "h": 3600.0}


@pytest.fixture
def engine_calls(monkeypatch):
    """Count the series the engine is asked for; ``gate`` (set by default) holds them."""
    real = engine.periodograms
    calls: list[str] = []
    gate = threading.Event()
    gate.set()

    def counted(time, table, columns, **kwargs):
        calls.extend(columns)
        assert gate.wait(TIMEOUT), "test never opened the gate"
        return real(time, table, columns, **kwargs)

    monkeypatch.setattr(engine, "periodograms", counted)
    counted.calls, counted.gate = calls, gate
    return counted


def mantissa(value: float) -> float:
    return round(value / 10.0 ** math.floor(math.log10(value)), 9)


def parse_label(text: str) -> float:
    return float(text.replace("−", "-"))


def parse_period(text: str) -> float:
    """ "37.4 s" -> 37.4, "5.02 min" -> 301.2 (seconds)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?) (s|min|h)", text)
    assert match, f"period label {text!r} is not '<number> <unit>'"
    return float(match[1]) * SECONDS_PER[match[2]]


def check_drawn(panel: PeriodogramPanel, column: str) -> None:
    """What the panel draws is the session's periodogram of ``column`` and the fold on its
    highest peak, each computed here independently of the panel: the line is the
    periodogram's period / power (all of it up to 2,000 points; beyond, a min/max envelope:
    points of it, its highest among them); the highest peak is chosen and marked; the fold's
    points are `Session.folded`'s phases and means."""
    session = panel.session
    assert panel.column.value == column
    result = session.periodograms[column]
    keep = result.frequency > 0
    period, power = 1.0 / result.frequency[keep][::-1], result.power[keep][::-1]
    x, y = np.asarray(panel.line.x, dtype=float), np.asarray(panel.line.y, dtype=float)
    if len(period) <= 2000:
        np.testing.assert_allclose(x, period, rtol=1e-12)
        np.testing.assert_array_equal(y, power)
    else:
        assert 100 < len(x) <= 2000
        right = np.clip(np.searchsorted(period, x), 1, len(period) - 1)
        nearest = np.where(np.abs(period[right - 1] - x) < np.abs(period[right] - x),
                           right - 1, right)
        np.testing.assert_allclose(x, period[nearest], rtol=1e-9)
        np.testing.assert_array_equal(y, power[nearest])
        assert y.max() == np.nanmax(power)
    top = float(result.peaks["period"].iloc[0])
    assert panel.peaks.value == top == panel.peaks.options[0][1]
    assert panel.marker.visible and list(panel.marker.x) == [top, top]
    fold = session.folded(column, top)
    assert len(fold) > 0 and len(panel.folded.x) == len(fold)
    np.testing.assert_array_equal(panel.folded.x, fold["phase"].to_numpy())
    np.testing.assert_array_equal(panel.folded.y, fold["mean"].to_numpy())
    assert panel.fold_figure.title.startswith(f"folded at {_period_text(top)}")


def wait_for_periodogram(session: Session) -> None:
    session.periodogram_job.wait(TIMEOUT)
    assert not session.periodogram_job.running, "periodogram still running after the timeout"


Box = tuple[float, float, float, float]


def pixel_x(panel: PeriodogramPanel, period: float) -> float:
    """A period's x in the plot area (px from its left), `PLOT_WIDTH` wide, log axis."""
    lo, hi = panel.period_scale.min, panel.period_scale.max
    return PLOT_WIDTH * math.log(period / lo) / math.log(hi / lo)


def text_box(panel: PeriodogramPanel, text: str, period: float, power: float,
             align: str) -> Box:
    """(left, right, top, bottom) in px of a label's text in the plot area: `LABEL_CHAR`
    per character, `LABEL_HEIGHT` high, centred `LABEL_RISE` above its point."""
    return pixel_box(panel, text, pixel_x(panel, period), power, align)


def pixel_box(panel: PeriodogramPanel, text: str, x: float, power: float, align: str) -> Box:
    """`text_box` of a label anchored at ``x`` px."""
    height = FIGURE_HEIGHT - FIGURE_MARGIN["top"] - FIGURE_MARGIN["bottom"]
    width = len(text) * LABEL_CHAR
    left = {"start": x, "end": x - width, "middle": x - width / 2}[align]
    middle = height * (1 - power / panel.power_scale.max) - LABEL_RISE
    return left, left + width, middle - LABEL_HEIGHT / 2, middle + LABEL_HEIGHT / 2


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def drawn_boxes(panel: PeriodogramPanel) -> tuple[list[Box], list[Box]]:
    """The text boxes of the peak labels and of the range end's label, as drawn."""
    peaks = [text_box(panel, str(t), x, y, panel.peak_labels.align) for t, x, y in zip(
        panel.peak_labels.text, panel.peak_labels.x, panel.peak_labels.y, strict=True)]
    ends = [text_box(panel, str(t), x, y, panel.end_label.align) for t, x, y in zip(
        panel.end_label.text, panel.end_label.x, panel.end_label.y, strict=True)]
    return peaks, ends


def check_labels_fit(panel: PeriodogramPanel) -> None:
    """Every label inside the plot area (clear of the axes' tick labels), none over another."""
    height = FIGURE_HEIGHT - FIGURE_MARGIN["top"] - FIGURE_MARGIN["bottom"]
    peaks, ends = drawn_boxes(panel)
    boxes = peaks + ends
    for box in boxes:
        assert 0 <= box[0] and box[1] <= PLOT_WIDTH + 1e-6, box
        assert 0 <= box[2] and box[3] <= height, box
    for i, a in enumerate(boxes):
        assert not any(overlap(a, b) for b in boxes[i + 1:]), boxes


def check_peak_labels(panel: PeriodogramPanel, result: Periodogram,
                      n_labels: int | None = 3) -> None:
    """The top three significant peaks are marked; each is labelled over its marker, its
    text inside the plot area, unless its label would overlap a higher one's (or the range
    end's); ``n_labels``: how many labels (None: not checked)."""
    peaks = result.peaks
    top = peaks[peaks["false_alarm_probability"] < SIGNIFICANT_FAP].head(3)
    np.testing.assert_allclose(panel.peak_marks.x[:len(top)], top["period"])  # + a range end's
    np.testing.assert_allclose(panel.peak_marks.y[:len(top)], top["power"])
    assert len(panel.peak_marks.x) - len(top) == len(panel.end_label.text)
    if n_labels is not None:
        assert len(panel.peak_labels.text) == n_labels, list(panel.peak_labels.text)
    check_labels_fit(panel)
    labels = iter(zip(panel.peak_labels.text, panel.peak_labels.x, panel.peak_labels.y,
                      strict=True))
    label = next(labels, None)
    _, placed = drawn_boxes(panel)
    for period, power in zip(top["period"], top["power"], strict=True):
        if label is not None and label[2] == power:  # this peak's label
            text = str(label[0])
            box = text_box(panel, text, label[1], label[2], panel.peak_labels.align)
            # over its marker (one at the very end of the axis: within LABEL_PAD)
            assert box[0] - LABEL_PAD <= pixel_x(panel, period) <= box[1] + LABEL_PAD
            if label[1] != pytest.approx(period, rel=1e-9):
                # moved in from an end of the axis, as far as it takes (LABEL_PAD clear)
                centred = text_box(panel, text, period, power, "middle")
                assert centred[0] < LABEL_PAD or centred[1] > PLOT_WIDTH - LABEL_PAD
                assert min(box[0], PLOT_WIDTH - box[1]) == pytest.approx(LABEL_PAD)
            unit = text.split()[-1]
            assert unit == ("s" if period < 120 else "min" if period < 7200 else "h")
            # three significant digits (fewer when they end in zeros: "12 s")
            digits = re.sub(r"\D", "", text.split()[0]).lstrip("0")
            assert len(digits) <= 3 and parse_period(text) == pytest.approx(period, rel=5e-3)
            placed.append(box)
            label = next(labels, None)
        else:  # left out: centred over its peak (or moved in), it would come within
            # 2 x LABEL_PAD of a label placed
            text = _period_text(period)
            half = len(text) * LABEL_CHAR / 2
            middle = min(max(pixel_x(panel, period), half), PLOT_WIDTH - half)
            left, right, high, low = pixel_box(panel, text, middle, power, "middle")
            pad = 2 * LABEL_PAD
            near = (left - pad, right + pad, high - pad, low + pad)
            assert any(overlap(near, box) for box in placed), (text, placed)
    assert label is None, "a label on no significant peak"


def check_period_axis(panel: PeriodogramPanel, unit: str) -> None:
    axis, per = panel.period_axis, SECONDS_PER[unit]
    assert axis.label == f"period ({unit})"
    values = np.asarray(axis.tick_values)
    assert len(values) >= 3 and axis.num_ticks is None
    assert set(axis.tick_labels) >= {js_number(v) for v in values}  # how bqplot finds them
    lo, hi = panel.period_scale.min, panel.period_scale.max
    assert lo * (1 - 1e-9) <= values.min() and values.max() <= hi * (1 + 1e-9)
    for value in values:
        label = parse_label(axis.tick_labels[js_number(value)])
        assert mantissa(label) in LOG_MANTISSAS, (label, sorted(axis.tick_labels.values()))
        assert label * per == pytest.approx(value, rel=1e-9)


def check_power_axis(panel: PeriodogramPanel) -> None:
    axis = panel.power_axis
    values = np.asarray(axis.tick_values)
    assert len(values) >= 2 and axis.num_ticks is None
    assert values[0] == 0.0 and values[-1] <= panel.power_scale.max
    steps = np.diff(values)
    step = float(steps[0])
    np.testing.assert_allclose(steps, step, rtol=1e-9)
    assert mantissa(step) in STEP_MANTISSAS
    suffix = re.search(r"×10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)", axis.label)
    exponent = 0 if suffix is None else int(suffix[1].translate(
        str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")))
    for value in values:
        label = parse_label(axis.tick_labels[js_number(value)])
        assert label * 10.0**exponent == pytest.approx(value, rel=1e-9, abs=1e-15)


def check_noise(panel: PeriodogramPanel, result: Periodogram) -> None:
    """No peak of ``result`` is significant: none marked or labelled, the plot says so,
    the list says so of each, and the fold (of the highest, chosen) says so."""
    fap = result.peaks["false_alarm_probability"]
    assert len(fap) and (fap >= SIGNIFICANT_FAP).all()
    assert len(panel.peak_labels.text) == 0
    assert len(panel.peak_marks.x) == len(panel.end_label.x)  # a range end's at most
    assert list(panel.note.text) == [
        f"no significant peak (lowest false-alarm probability {fap.min():.2g})"]
    assert list(panel.note.x) == [0.5] and list(panel.note.y) == [1.0]  # top middle
    assert all(text.endswith("  not significant") for text, _ in panel.peaks.options)
    period = result.peaks["period"].iloc[0]
    assert panel.peaks.value == period and 0 < len(panel.folded.x) <= 100
    match = re.fullmatch(r"folded at (.+) \(not significant\)", panel.fold_figure.title)
    assert match and parse_period(match[1]) == pytest.approx(period, rel=5e-3)


def test_a_fit_draws_the_periodogram_without_a_click(session):
    panel = PeriodogramPanel(session)
    wait_for_periodogram(session)  # the data's own series, shown at once
    assert panel.column.value == "flux" and len(panel.line.x) > 0
    # the sample's flux, each file's mean and slope removed, is noise: said so, no peak
    # labelled (there were three: 1.77 s, 0.125 s, 0.147 s, false-alarm probability >= 0.47)
    check_noise(panel, session.periodograms["flux"])
    assert panel.fold_figure.title == "folded at 1.77 s (not significant)"
    assert panel.peaks.options[0][0] == "    1.770 s  power 0.00155  FAP 0.47  not significant"
    session.fit_frames("quick", block=True)
    job = session.periodogram_job
    assert job.kind == "x_mean"  # started by the end of the fit, before fit_frames returned
    wait_for_periodogram(session)
    assert job.state is JobState.DONE and panel.column.value == "x_mean"
    result = session.periodograms["x_mean"]
    assert len(panel.line.x) > 100 and np.nanmax(panel.line.y) == pytest.approx(
        float(np.nanmax(result.power)))
    check_peak_labels(panel, result)
    assert len(panel.note.text) == 0  # significant peaks: nothing said
    assert not any("not significant" in text for text, _ in panel.peaks.options)
    assert max(panel.line.x) >= 600  # so the axis must be in minutes
    check_period_axis(panel, "min")
    check_power_axis(panel)
    assert panel.figure.fig_margin["right"] >= 20
    assert panel.cancel_button.disabled and panel.progress.value == 1.0
    assert "x_mean" in panel.status.value
    # the computing is the Session's: a script of the history does the same
    assert session.history[-1] == ("session.compute_periodograms(['x_mean'], "
                                   "detrend='linear', by='file')")
    # a clicked peak still draws the red marker and the fold
    period = panel.peaks.options[0][1]
    panel.peaks.value = period
    assert panel.marker.visible and list(panel.marker.x) == [period, period]
    assert 0 < len(panel.folded.x) <= 100


def test_parameter_of_the_session_is_the_series_after_a_fit(session):
    session.parameter = "y_mean"  # not a column before the fit: flux shown
    panel = PeriodogramPanel(session)
    wait_for_periodogram(session)
    assert panel.column.value == "flux"
    session.fit_frames("quick", block=True)
    wait_for_periodogram(session)
    assert panel.column.value == "y_mean" and "y_mean" in session.periodograms
    check_peak_labels(panel, session.periodograms["y_mean"])


def test_choosing_a_series_computes_it_once(session, engine_calls):
    panel = PeriodogramPanel(session)
    wait_for_periodogram(session)
    session.fit_frames("quick", block=True)
    wait_for_periodogram(session)
    assert engine_calls.calls == ["flux", "x_mean"]
    panel.column.value = "y_mean"  # as the browser does
    assert session.parameter == "y_mean"
    wait_for_periodogram(session)
    assert engine_calls.calls[-1] == "y_mean"
    check_peak_labels(panel, session.periodograms["y_mean"])
    panel.column.value = "x_mean"  # has one: drawn, not computed again
    panel.column.value = "y_mean"
    wait_for_periodogram(session)
    assert engine_calls.calls == ["flux", "x_mean", "y_mean"]
    check_peak_labels(panel, session.periodograms["y_mean"])


def test_cancelling_the_auto_run_draws_nothing(session, engine_calls):
    panel = PeriodogramPanel(session)
    wait_for_periodogram(session)
    engine_calls.gate.clear()  # the next periodogram waits until the test lets it go
    session.fit_frames("quick", block=True)
    job = session.periodogram_job
    assert job.running and job.kind == "x_mean" and panel.column.value == "x_mean"
    assert not panel.cancel_button.disabled and "fa-spin" in panel.status.value
    assert len(panel.line.x) == 0  # the flux line is not left under the x_mean title
    run = panel.last_run
    # the job's thread calls the engine a moment after the job starts: wait for that call
    # (else the count below races it), then the same series again: no second run
    deadline = time.monotonic() + TIMEOUT
    while len(engine_calls.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    session.quick_fit = session.quick_fit.copy()
    panel.column.value = "flux"
    panel.column.value = "x_mean"
    assert panel.last_run is run and engine_calls.calls == ["flux", "x_mean"]
    panel.cancel_button.click()
    engine_calls.gate.set()
    wait_for_periodogram(session)
    assert job.state is JobState.CANCELLED
    assert len(panel.line.x) == 0 and len(panel.peak_labels.text) == 0
    assert panel.peaks.options == () and not panel.marker.visible
    assert "cancelled" in panel.status.value
    # choosing it again is asking for it: computed, and drawn this time
    panel.column.value = "flux"
    assert len(panel.line.x) > 0  # flux's periodogram (whole run, DONE) is still shown
    panel.column.value = "x_mean"
    wait_for_periodogram(session)
    assert job.state is JobState.DONE and engine_calls.calls[-1] == "x_mean"
    check_peak_labels(panel, session.periodograms["x_mean"])


def test_opting_out_computes_nothing_after_a_fit(session, engine_calls):
    panel = PeriodogramPanel(session, auto=False)
    assert not panel.auto.value and panel.auto.description == "compute after fit"
    session.fit_frames("quick", block=True)
    panel.column.value = "y_mean"
    session.wait(TIMEOUT)
    assert session.periodogram_job.state is JobState.IDLE
    assert engine_calls.calls == [] and session.periodograms == {}
    assert len(panel.line.x) == 0 and "press Periodogram" in panel.status.value
    panel.compute(block=True)  # the button still works
    assert engine_calls.calls == ["y_mean"] and len(panel.line.x) > 0
    # the box turned off after building: the same
    other = PeriodogramPanel(session)
    wait_for_periodogram(session)
    other.auto.value = False
    before = list(engine_calls.calls)
    session.fit_frames("quick", block=True)
    session.wait(TIMEOUT)
    assert engine_calls.calls == before
    other.close()
    panel.close()


def test_update_on_zoom_and_a_seconds_axis(session):
    panel = PeriodogramPanel(session, follow_zoom=True)
    session.fit_frames("quick", block=True)
    wait_for_periodogram(session)
    session.window = (session.data.time[0], session.data.time[4095])  # 256 s
    wait_for_periodogram(session)
    assert max(panel.line.x) < 600
    check_period_axis(panel, "s")
    check_power_axis(panel)
    # 37.6 s and 3.05 min; the next peak (14.2 s) is noise: listed, not labelled
    result = session.periodograms["x_mean"]
    check_peak_labels(panel, result, n_labels=2)
    assert [text.endswith("not significant") for text, _ in panel.peaks.options] == list(
        result.peaks["false_alarm_probability"] >= SIGNIFICANT_FAP)
    assert panel.peaks.options[2][0].endswith("not significant")
    assert "window" in panel.status.value


def test_weak_power_ticks_are_keyed_as_javascript_writes_them(session):
    panel = PeriodogramPanel(session, auto=False)
    frequency = np.linspace(0.01, 4.0, 4000)  # periods 0.25-100 s
    power = 1.2e-4 * np.abs(np.sin(frequency * 7.0))
    session.periodograms = {"flux": Periodogram("flux", frequency, power, empty_peaks(),
                                                n_used=100, n_excluded=0, start=60000.0)}
    assert len(panel.line.x) > 0 and panel.power_axis.label == "power (×10⁻⁴)"
    # JavaScript's String(0.00005) is "0.00005" (exponent notation only below 1e-6)
    keys = set(panel.power_axis.tick_labels)
    assert {"0", "0.00005", "0.0001"} <= keys and not any("e" in key for key in keys)
    check_period_axis(panel, "s")


def test_new_data_clear_the_plot_and_compute_again(session, sample):
    panel = PeriodogramPanel(session)
    session.fit_frames("quick", block=True)
    wait_for_periodogram(session)
    assert len(panel.peak_labels.text) == 3
    session.read_files(sample.paths[:1])
    wait_for_periodogram(session)
    assert panel.column.value == "flux" and list(panel.column.options) == ["flux"]
    assert set(session.periodograms) == {"flux"} and len(panel.line.x) > 0
    assert isinstance(session.periodograms["flux"].peaks, pd.DataFrame)


def test_a_new_fit_makes_the_fit_periodograms_stale(session):
    session.data = session.data[:3000]
    session.fit_frames("quick", block=True)
    session.wait(TIMEOUT)
    session.compute_periodograms(["flux", "x_mean", "y_mean"])
    before = session.periodograms["x_mean"]
    session.quick_fit = session.quick_fit.copy()  # another table: what was computed is stale
    assert set(session.periodograms) == {"flux"}
    session.compute_periodograms(["x_mean"])
    session.fit = session.quick_fit.copy()  # a full fit takes over the fit columns
    assert "x_mean" not in session.periodograms
    session.compute_periodograms(["x_mean"])
    kept = session.periodograms["x_mean"]
    session.quick_fit = session.quick_fit.copy()  # under the full fit: columns unchanged
    assert session.periodograms["x_mean"] is kept and kept is not before


def test_reopening_a_session_keeps_its_saved_periodograms_whatever_the_panel_starts(
        session, tmp_path):
    session.data = session.data[:3000]
    session.fit_frames("quick", block=True)
    session.window = (float(session.data.time[100]), float(session.data.time[1500]))
    session.compute_periodograms(["x_mean"])
    saved = session.periodograms["x_mean"]
    folder = session.save(tmp_path / "s")
    again = Session()
    panel = PeriodogramPanel(again)  # computes a series as soon as data and fits arrive
    again.restore(folder)
    again.wait(TIMEOUT)
    restored = again.periodograms["x_mean"]
    np.testing.assert_array_equal(restored.power, saved.power)  # the window's, not the panel's
    assert restored.n_used == saved.n_used
    assert len(panel.line.x) > 0
    panel.close()


def check_highest_drawn_is_labelled(panel: PeriodogramPanel) -> None:
    """The highest point of the drawn line carries a label and a marker (a peak's, or the
    range end's), and every label has its marker."""
    top = float(np.nanmax(panel.line.y))
    labelled = np.concatenate([panel.peak_labels.y, panel.end_label.y])
    assert top == pytest.approx(float(np.max(labelled)), rel=1e-9)
    # a peak label may be moved in from an end of the axis: its marker is at its power
    for power in panel.peak_labels.y:
        assert np.isclose(power, panel.peak_marks.y, rtol=1e-9).any()
    n_end = len(panel.end_label.x)
    np.testing.assert_allclose(panel.peak_marks.x[len(panel.peak_marks.x) - n_end:],
                               panel.end_label.x)
    assert len(panel.peak_labels.text) == len(panel.peak_labels.x)
    assert len(panel.end_label.text) == len(panel.end_label.x) <= 1
    check_labels_fit(panel)


def test_the_plot_says_what_it_removed_and_leads_with_the_oscillations(session, sample):
    panel = PeriodogramPanel(session)
    assert (panel.detrend.value, panel.by.value) == ("linear", "file")
    assert panel.detrend.description == "levels removed" and not panel.by.disabled
    session.fit_frames("quick", block=True)
    wait_for_periodogram(session)
    result = session.periodograms["x_mean"]
    assert panel.figure.title == ("x_mean, each file's mean and slope removed (4 files), "
                                  "whole series")
    check_peak_labels(panel, result)
    check_highest_drawn_is_labelled(panel)
    assert len(panel.end_label.text) == 0  # the highest point is the highest peak
    # the first label, over the highest point drawn, is the sample's 37.5 s oscillation
    assert parse_period(panel.peak_labels.text[0]) == pytest.approx(
        sample.truth.periods["x_mean"], rel=0.02)
    assert panel.peak_labels.y[0] == pytest.approx(float(np.nanmax(panel.line.y)))
    # the highest peak is chosen and folded without a click (ipywidgets 8's Select leaves
    # a new list unselected)
    assert panel.peaks.value == panel.peaks.options[0][1] == result.peaks["period"].iloc[0]
    assert 0 < len(panel.folded.x) <= 100 and panel.marker.visible
    assert panel.fold_figure.title == f"folded at {panel.peak_labels.text[0]}"
    panel.column.value = "y_mean"
    wait_for_periodogram(session)
    assert panel.figure.title.startswith("y_mean, each file's mean and slope removed")
    assert parse_period(panel.peak_labels.text[0]) == pytest.approx(
        sample.truth.periods["y_mean"], rel=0.02)
    check_highest_drawn_is_labelled(panel)
    assert len(panel.folded.x) > 0 and panel.fold_figure.title == "folded at 11.3 s"
    # a redraw (another series' periodogram arriving) keeps the user's chosen peak
    second = panel.peaks.options[1][1]
    panel.peaks.value = second
    session.compute_periodograms(["flux"])
    assert panel.peaks.value == second and list(panel.marker.x) == [second, second]


def test_choosing_what_is_removed_recomputes_and_the_labels_follow(session):
    panel = PeriodogramPanel(session)
    session.fit_frames("quick", block=True)
    wait_for_periodogram(session)
    panel.detrend.value = "none"  # as the browser does: recomputed with the steps kept
    wait_for_periodogram(session)
    assert panel.by.disabled
    assert session.history[-1] == ("session.compute_periodograms(['x_mean'], detrend='none', "
                                   "by='file')")
    result = session.periodograms["x_mean"]
    assert result.detrend == "none"
    assert panel.figure.title == "x_mean, only the overall mean removed (steps kept), whole series"
    # the steps' power rises to the long-period end: no peak there, but it is labelled,
    # its text ending at the right edge so that it stays in the figure
    check_highest_drawn_is_labelled(panel)
    # under the steps' power the peaks are low: 60.8 s's label would sit on 106 s's (both
    # 8-10 px above the axis, 0.24 decades apart), so only its marker is drawn
    check_peak_labels(panel, result, n_labels=2)
    assert [parse_period(text) for text in panel.peak_labels.text] == pytest.approx(
        list(result.peaks["period"].iloc[:2]), rel=5e-3)
    assert list(panel.end_label.text) == ["23.9 min (range end)"]
    assert panel.end_label.align == "end"
    assert panel.end_label.x[0] == pytest.approx(panel.period_scale.max)
    assert panel.end_label.y[0] == pytest.approx(float(result.power.max()))
    assert panel.end_label.y[0] > 5 * panel.peak_labels.y[0]
    assert len(panel.folded.x) > 0  # the new table's highest peak is folded
    panel.detrend.value = "mean"
    wait_for_periodogram(session)
    panel.by.value = "observation"
    wait_for_periodogram(session)
    assert not panel.by.disabled
    assert session.history[-1] == ("session.compute_periodograms(['x_mean'], detrend='mean', "
                                   "by='observation')")
    assert panel.figure.title == ("x_mean, each observation's mean removed (2 observations), "
                                  "whole series")
    check_highest_drawn_is_labelled(panel)
    # a window is said in elapsed time since the first frame
    panel.detrend.value = "linear"
    wait_for_periodogram(session)
    session.window = (session.data.time[0], session.data.time[4095])
    panel.compute(block=True)
    assert panel.figure.title == ("x_mean, each observation's mean and slope removed "
                                  "(1 observation), window 0–4.266 min")
    panel.close()


def test_a_panel_without_auto_recomputes_only_what_it_shows(session, engine_calls):
    panel = PeriodogramPanel(session, auto=False, detrend="mean", by="visit")
    session.fit_frames("quick", block=True)
    panel.detrend.value = "linear"  # nothing shown: nothing computed
    session.wait(TIMEOUT)
    assert engine_calls.calls == []
    panel.compute(block=True)
    assert session.periodograms["x_mean"].removed == ("each visit's mean and slope removed "
                                                      "(3 visits)")
    panel.by.value = "file"  # shown: the choice recomputes it
    wait_for_periodogram(session)
    assert engine_calls.calls == ["x_mean", "x_mean"]
    assert session.periodograms["x_mean"].piece_name == "file"
    panel.close()


def peak_table(rows: list[tuple[float, float, float]]) -> pd.DataFrame:
    """A `Periodogram.peaks` table of (period s, power, false-alarm probability) rows."""
    period, power, fap = np.array(rows, dtype=float).reshape(-1, 3).T
    return pd.DataFrame({"frequency": 1.0 / period, "period": period, "power": power,
                         "false_alarm_probability": fap})


def test_labels_stay_inside_the_plot_and_off_each_other(session):
    panel = PeriodogramPanel(session, auto=False)
    frequency = np.linspace(0.01, 4.0, 4000)  # periods 0.25-100 s
    power = np.full(frequency.size, 0.01)

    def show(rows: list[tuple[float, float, float]]) -> Periodogram:
        result = Periodogram("flux", frequency, power, peak_table(rows), n_used=100,
                             n_excluded=0, start=60000.0)
        session.periodograms = {"flux": result}
        return result

    # 10.5 s's label would cover 10 s's; 0.26 s, at the left end, would cover the power
    # axis's tick labels; 50 s is noise
    result = show([(10.0, 0.9, 1e-10), (10.5, 0.85, 1e-8), (50.0, 0.6, 0.2),
                   (0.26, 0.5, 1e-5)])
    check_peak_labels(panel, result, n_labels=2)
    assert list(panel.peak_labels.text) == ["10 s", "0.26 s"]
    np.testing.assert_allclose(panel.peak_marks.x, [10.0, 10.5, 0.26])  # 50 s: none
    assert panel.peak_labels.x[1] > 0.26  # moved in: its text starts right of the axis
    assert text_box(panel, "0.26 s", panel.peak_labels.x[1], 0.5, "middle")[0] > 0
    assert len(panel.note.text) == 0
    assert [text.endswith("  not significant") for text, _ in panel.peaks.options] == [
        False, False, True, False]
    assert panel.peaks.options[2][0] == "   50.000 s  power 0.6  FAP 0.2  not significant"
    assert panel.peaks.options[3][0] == "    0.260 s  power 0.5  FAP 1.0e-05"
    assert panel.fold_figure.title == "folded at 10 s"
    panel.peaks.value = 50.0
    assert panel.fold_figure.title == "folded at 50 s (not significant)"
    # at the right end the label is moved left; a noise peak only listed
    result = show([(98.0, 0.7, 1e-6), (0.3, 0.3, 0.5)])
    check_peak_labels(panel, result, n_labels=1)
    assert panel.peak_labels.x[0] < 98.0
    assert text_box(panel, "98 s", panel.peak_labels.x[0], 0.7, "middle")[1] < PLOT_WIDTH
    assert panel.fold_figure.title == "folded at 98 s"
    # nothing significant: said so, with the lowest false-alarm probability
    result = show([(3.0, 0.2, 0.03), (7.0, 0.1, 0.8)])
    check_noise(panel, result)
    assert list(panel.note.text) == [
        "no significant peak (lowest false-alarm probability 0.03)"]
    # an empty table: the same words, no probability to give
    show([])
    assert list(panel.note.text) == ["no significant peak"] and panel.peaks.options == ()
    panel.close()


def test_every_periodogram_arriving_draws_its_highest_peaks_fold(fitted_session):
    """However a periodogram arrives, the line is it and its highest peak is chosen and
    folded (issue 28: the list was left with no choice and the fold empty)."""
    session = fitted_session
    # computed by a script with the panel open (the panel itself computes nothing)
    panel = PeriodogramPanel(session, auto=False)
    assert panel.column.value == "x_mean" and panel.peaks.value is None
    assert len(panel.folded.x) == 0 and len(panel.line.x) == 0
    session.compute_periodograms(["x_mean"])
    check_drawn(panel, "x_mean")
    # another series chosen: computed before it was shown
    session.compute_periodograms(["y_mean"])
    panel.column.value = "y_mean"
    check_drawn(panel, "y_mean")
    # replaced (another choice of what is removed): the new table's highest peak, not the
    # peak the user had chosen in the old one
    panel.peaks.value = panel.peaks.options[1][1]
    session.compute_periodograms(["y_mean"], detrend="mean")
    check_drawn(panel, "y_mean")
    # replaced by a window's
    session.window = (float(session.data.time[0]), float(session.data.time[6000]))
    session.compute_periodograms(["y_mean"])
    check_drawn(panel, "y_mean")
    # computed before the panel was made
    later = PeriodogramPanel(session, auto=False)
    check_drawn(later, "y_mean")
    later.close()
    # computed by the panel itself, in the background, after a fit (as in the App)
    session.window = None
    auto = PeriodogramPanel(session)
    session.fit_frames("quick", block=True)
    wait_for_periodogram(session)
    check_drawn(auto, "y_mean")  # the series the user chose last (session.parameter)
    auto.close()
    panel.close()


def synthetic(column: str, rows: list[tuple[float, float, float]],
              n_used: int = 100) -> Periodogram:
    """A small periodogram of ``column`` (1,500 points, periods 0.25-100 s: drawn as it is)
    with the peak table ``rows`` (period s, power, false-alarm probability)."""
    frequency = np.linspace(0.01, 4.0, 1500)
    power = 0.3 * np.abs(np.sin(frequency * 5.0))
    return Periodogram(column, frequency, power, peak_table(rows), n_used=n_used,
                       n_excluded=0, start=60000.0)


def test_a_table_whose_highest_peak_is_the_last_ones_still_folds_anew(fitted_session):
    """Another series, or a new window, whose highest peak is at the period already chosen:
    the Select's value does not change (so says nothing), yet the fold must be redrawn (it
    showed the previous series', or the previous window's, fold)."""
    session = fitted_session
    panel = PeriodogramPanel(session, auto=False)
    rows = [(37.5, 0.5, 1e-9), (11.3, 0.3, 1e-6), (60.0, 0.1, 0.3)]
    session.periodograms = {"x_mean": synthetic("x_mean", rows),
                            "y_mean": synthetic("y_mean", rows)}
    check_drawn(panel, "x_mean")
    x_fold = np.asarray(panel.folded.y).copy()
    panel.column.value = "y_mean"
    check_drawn(panel, "y_mean")
    assert not np.allclose(panel.folded.y, x_fold, equal_nan=True)  # y_mean's, not x_mean's
    assert panel.fold_value_axis.label.startswith("y_mean")
    session.window = (float(session.data.time[0]), float(session.data.time[4095]))
    session.periodograms = {**session.periodograms,
                            "y_mean": synthetic("y_mean", rows, n_used=4000)}
    check_drawn(panel, "y_mean")  # the window's fold
    # the same table again keeps the peak the user chose, and its fold
    panel.peaks.value = 11.3
    session.periodograms = {**session.periodograms, "flux": synthetic("flux", rows)}  # a redraw
    assert panel.peaks.value == 11.3 and list(panel.marker.x) == [11.3, 11.3]
    np.testing.assert_array_equal(panel.folded.y, session.folded("y_mean", 11.3)["mean"])
    # nothing to show: nothing chosen, nothing folded
    session.periodograms = {}
    assert panel.peaks.value is None and len(panel.folded.x) == 0
    assert not panel.marker.visible and panel.fold_figure.title == ""
    panel.close()
