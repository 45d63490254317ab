"""Events from files, telemetry and detection, all in the one event-table shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.engine.events import (
    EVENT_COLUMNS,
    detect_jumps,
    detect_outliers,
    hga_from_pointing,
    hga_moves,
    local_events,
    numeric_series,
    text_transitions,
)


def test_local_events_from_the_sample(sample, sample_data):
    table = local_events(sample_data.products)
    assert list(table.columns) == list(EVENT_COLUMNS)
    changes = table[table["kind"] == "guide_star_change"]
    np.testing.assert_allclose(changes["time"], sample.truth.time[sample.truth.gs_changes])
    bounds = table[table["kind"] == "file_boundary"]
    np.testing.assert_allclose(bounds["time"], sample.truth.time[sample.truth.file_starts])
    with pytest.raises(ValueError, match="GUIDESTAR"):
        local_events(sample_data.products, kinds=("HGA",))


def test_hga_moves_from_sample_telemetry(sample):
    moves = hga_moves(sample.telemetry["SA_ZHGAUPST"])
    assert len(moves) == len(sample.truth.hga_moves)
    for row, (start, stop) in zip(moves.itertuples(), sample.truth.hga_moves, strict=True):
        assert row.time == start and row.end == stop and row.kind == "hga_move"


def test_hga_from_the_files_pointing_table(sample, sample_data):
    moves = hga_from_pointing(sample_data.tables["pointing"])
    assert len(moves) == 2
    for row, (start, stop) in zip(moves.itertuples(), sample.truth.hga_moves, strict=True):
        assert abs(row.time - start) * 86400 <= 1.0 and abs(row.end - stop) * 86400 <= 1.0


def test_unfinished_move_and_text_transitions():
    telemetry = pd.DataFrame({"time": [1.0, 2.0, 3.0, 4.0],
                              "value": ["FINISHED", "MOVING", "FINISHED", "MOVING"],
                              "mnemonic": "SA_ZHGAUPST"})
    moves = hga_moves(telemetry)
    assert list(moves["time"]) == [2.0, 4.0] and moves["end"].iloc[0] == 3.0
    assert np.isnan(moves["end"].iloc[1])
    changes = text_transitions(telemetry)
    assert list(changes["time"]) == [2.0, 3.0, 4.0]
    assert changes["label"].iloc[0] == "SA_ZHGAUPST: FINISHED → MOVING"


def test_numeric_series(sample):
    t, v = numeric_series(sample.telemetry["INIS_FWMTRCURR"])
    assert t.dtype == np.float64 and v.max() > 0.3 and np.all(np.diff(t) > 0)


def test_jumps_recovered_in_the_sample(sample):
    truth = sample.truth
    seconds = (truth.time - truth.time[0]) * 86400
    rng = np.random.default_rng(0)
    for column, index in (("x_mean", 1), ("y_mean", 2)):
        values = truth.params[:, index] + rng.normal(0, 0.0025, len(seconds))
        found = detect_jumps(truth.time, values)
        injected = truth.jumps[truth.jumps["column"] == column]
        for row in injected.itertuples():
            near = np.abs(found["time"] - row.time) * 86400 < 5 * 0.0625
            assert near.sum() == 1, (column, row.frame)
            assert found.loc[near, "value"].iloc[0] == pytest.approx(row.size, abs=0.02)


def test_jump_false_positive_rate_on_jitter():
    rng = np.random.default_rng(1)
    n = 100_000
    white = rng.normal(0, 0.01, n)
    red = np.cumsum(rng.normal(0, 0.0003, n))  # slow wander
    oscillation = 0.03 * np.sin(2 * np.pi * np.arange(n) * 0.0625 / 37.5)
    found = detect_jumps(np.arange(n) / 1.4e6, white + red + oscillation)
    assert len(found) <= 1  # stated rate: < 1e-5 false jumps per frame


def test_outliers():
    rng = np.random.default_rng(2)
    values = rng.normal(0, 1, 10_000)
    values[[500, 4000]] = [15, -12]
    found = detect_outliers(np.arange(10_000.0), values)
    assert list(found["time"]) == [500.0, 4000.0]
