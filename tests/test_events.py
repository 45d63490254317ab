"""Events from files, telemetry and detection, all in the one event-table shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from baselines import frozen

from fgs_widgets.engine.events import (
    EVENT_COLUMNS,
    _local_maxima,
    _running_max,
    concat_events,
    detect_jumps,
    detect_outliers,
    empty_events,
    find_jumps,
    hga_from_pointing,
    hga_move_starts,
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


def products_table():
    """Four files, guide star changes at the third; deliberately out of order."""
    rows = [("f3", "S2", 60000.30, 60000.39), ("f1", "S1", 60000.00, 60000.09),
            ("f2", "S1", 60000.10, 60000.29), ("f4", "S2", 60000.40, 60000.49)]
    return pd.DataFrame({"file_name": [r[0] for r in rows], "gs_id": [r[1] for r in rows],
                         "data_start": [r[2] for r in rows], "data_end": [r[3] for r in rows],
                         "n_frames": 100})


def test_local_events_from_a_synthetic_products_table():
    products = products_table()
    before = products.copy()
    table = local_events(products)
    pd.testing.assert_frame_equal(products, before)
    changes = table[table["kind"] == "guide_star_change"]
    assert list(changes["time"]) == [60000.30] and list(changes["value"]) == ["S2"]
    assert changes["label"].iloc[0] == "S1 → S2"
    bounds = table[table["kind"] == "file_boundary"]
    assert list(bounds["label"]) == ["f1", "f2", "f3", "f4"]
    assert list(bounds["time"]) == [60000.0, 60000.1, 60000.3, 60000.4]
    assert set(table["source"]) == {"local"} and np.all(np.diff(table["time"]) >= 0)
    only = local_events(products, kinds="GUIDESTAR")
    assert list(only["kind"]) == ["guide_star_change"]
    with pytest.raises(ValueError, match="data_start"):
        local_events(products.drop(columns="data_start"))


def test_hga_moves_edge_cases():
    telemetry = pd.DataFrame({  # shuffled; starts mid-move; an unknown state inside a move
        "time": [5.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0],
        "value": ["MOVING", "MOVING", "FINISHED", "FINISHED", "FINISHED", "SETTLING",
                  "FINISHED", "MOVING"],
        "mnemonic": "SA_ZHGAUPST"})
    moves = hga_moves(telemetry)
    assert list(moves["time"]) == [1.0, 5.0, 8.0]
    np.testing.assert_array_equal(moves["end"], [2.0, 7.0, np.nan])
    assert moves["label"].iloc[0] == "HGA move (started before the range)"
    assert set(moves["source"]) == {"edb"} and set(moves["kind"]) == {"hga_move"}
    assert len(hga_moves(telemetry.iloc[:0])) == 0


def test_hga_from_a_synthetic_pointing_table():
    from fgs_widgets.archive.guider_tables import hga_codes

    # the reader's codes: 0 moving, 1 finished, 2 offline, <NA> unreadable (not moving)
    stored = np.array([b"1", b"1", b"0", b"0", b"1", b"", b"0", b"2", b"1", b"0"], dtype="S16")
    pointing = pd.DataFrame({"time": np.arange(10.0), "file_index": 0,
                             "HGA_motion": hga_codes(stored)})
    moves = hga_from_pointing(pointing)
    assert list(moves["time"]) == [2.0, 6.0, 9.0]
    np.testing.assert_array_equal(moves["end"], [4.0, 7.0, np.nan])
    assert len(hga_from_pointing(pointing.drop(columns="HGA_motion"))) == 0
    # "1" (finished) and "2" (offline) are not moves, whatever text they are stored as
    resting = pointing.assign(HGA_motion=hga_codes(np.array([1, 2] * 5, dtype=">i4")))
    assert len(hga_from_pointing(resting)) == 0


def test_hga_codes_in_every_stored_form():
    from fgs_widgets.archive.guider_tables import hga_codes

    for stored in (np.array([0, 1, 2, 7], dtype=">i4"), np.array([b"0 ", b"1", b" 2", b"7"]),
                   np.array([b"MOVING", b"finished", b"OFFLINE", b"?"])):
        codes = hga_codes(stored)
        assert list(codes[:3]) == [0, 1, 2] and codes.isna().tolist() == [False] * 3 + [True]


def test_concat_and_empty_events():
    empty = empty_events()
    assert list(empty.columns) == list(EVENT_COLUMNS) and len(empty) == 0
    a = text_transitions(pd.DataFrame({"time": [3.0, 1.0], "value": ["B", "A"],
                                       "mnemonic": "M"}))
    b = local_events(products_table())
    both = concat_events(empty, b, a)
    assert np.all(np.diff(both["time"]) >= 0) and len(both) == len(a) + len(b)
    assert both["time"].dtype == np.float64 and both["end"].dtype == np.float64


def test_outliers_at_the_edges_with_nans_and_false_positive_rate():
    rng = np.random.default_rng(5)
    n = 100_000
    values = rng.normal(0, 1, n) + 0.5 * np.sin(np.arange(n) / 500)  # slow wander is no outlier
    values[rng.choice(n, 1000, replace=False)] = np.nan
    spikes = np.array([0, 7, 33_333, n - 1])
    values[spikes] = [12.0, -10.0, 9.0, 11.0]
    found = detect_outliers(np.arange(n, dtype=float), values)
    assert set(spikes).issubset(set(found["time"].astype(int)))
    # 6 sigma on Gaussian noise: expected ~2e-9 per frame; allow 2 extra in 10^5
    assert len(found) - len(spikes) <= 2
    assert found["kind"].eq("outlier").all() and np.isfinite(found["value"]).all()


# -- the same events as before issue 27 (benchmarks/stability_baseline.py, a frozen copy) --
@pytest.fixture(scope="module")
def baseline():
    """The frozen copy of detect_jumps and hga_from_pointing from before issue 27."""
    with frozen("stability_baseline") as module:
        yield module


def awkward_series(rng: np.random.Generator, kind: int) -> np.ndarray:
    """Short and long series: noise, steps, NaNs, ties (zero noise), dense steps, constants."""
    n = int(rng.choice([5, 60, 124, 125, 126, 200, 500, 3000]))
    values = rng.normal(0, 0.01, n)
    if kind >= 1:
        for _ in range(rng.integers(1, 8)):
            values[rng.integers(0, n):] += rng.normal(0, 0.3)
    if kind == 2:
        values[rng.random(n) < 0.1] = np.nan
    if kind == 3:
        values = np.round(values, 1)
    if kind == 4:  # a step every 25 frames: many candidates (the one-pass filter)
        values = (np.arange(n) % 50 < 25) + rng.normal(0, 0.001, n)
    if kind == 5:
        values[:] = np.nan if rng.random() < 0.5 else 1.0
    return values


def test_jumps_identical_to_the_frozen_baseline(baseline):
    rng = np.random.default_rng(6)
    found = 0
    for trial in range(600):
        values = awkward_series(rng, trial % 6)
        time = np.sort(rng.random(len(values)))
        options = {}
        if rng.random() < 0.3:
            options["window"] = int(rng.choice([3, 5, 11]))
        if rng.random() < 0.3:
            options["min_separation"] = int(rng.choice([1, 3, 40]))
        if rng.random() < 0.3:
            options["threshold"] = float(rng.choice([0.5, 3.0]))
        table = detect_jumps(time, values, label="x_mean", **options)
        pd.testing.assert_frame_equal(
            table, baseline.detect_jumps(time, values, label="x_mean", **options),
            check_exact=True)
        index, step = find_jumps(values, **options)
        np.testing.assert_array_equal(time[index], table["time"])
        np.testing.assert_array_equal(step, table["value"])
        assert index.dtype == np.int64 and step.dtype == np.float64
        found += len(table)
    assert found > 500


def test_local_maxima_at_the_candidates_equal_the_running_max():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 400))
        score = np.round(rng.exponential(1.0, n), 1)  # ties
        separation = int(rng.integers(1, 80))
        candidates = np.flatnonzero(score > rng.choice([0.5, 2.0, 4.0]))
        expected = candidates[score[candidates]
                              == _running_max(score, 2 * separation + 1)[candidates]]
        np.testing.assert_array_equal(_local_maxima(score, separation, candidates), expected)


def test_hga_move_starts_identical_to_the_frozen_baseline(baseline):
    rng = np.random.default_rng(8)
    for trial in range(200):
        m = int(rng.integers(0, 60))
        codes = rng.choice([0, 1, 2], m).astype(object)
        codes[rng.random(m) < 0.1] = None
        time = np.round(rng.random(m), 1)  # equal times: the stable order counts
        time[rng.random(m) < 0.05] = np.nan
        pointing = pd.DataFrame({"time": time, "HGA_motion": pd.array(codes, dtype="Int64")
                                 if trial % 2 else codes})
        table = hga_from_pointing(pointing)
        pd.testing.assert_frame_equal(table, baseline.hga_from_pointing(pointing),
                                      check_exact=True)
        np.testing.assert_array_equal(hga_move_starts(pointing), table["time"])
    assert len(hga_move_starts(None)) == 0
    assert len(hga_move_starts(pd.DataFrame({"time": [1.0]}))) == 0
