"""bin_series against a slow reference; decimation keeps every column's extremes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.engine.binning import bin_series, decimate_for_display


def test_bin_series_matches_slow_reference():
    rng = np.random.default_rng(0)
    time = np.sort(rng.uniform(0, 100, 5000))
    values = rng.normal(1e5, 30, 5000)
    values[::97] = np.nan
    table = bin_series(time, values, n_bins=20)
    width = (time.max() - time.min()) / 20
    for row in table.itertuples():
        sel = (np.abs(time - row.time) <= width / 2 + 1e-12) & np.isfinite(values)
        assert row.count == sel.sum()
        assert row.mean == pytest.approx(values[sel].mean(), rel=1e-12)
        assert row.error == pytest.approx(values[sel].std(ddof=1) / np.sqrt(sel.sum()), rel=1e-9)


def test_bin_width_and_empty_bins():
    time = np.r_[np.arange(10.0), np.arange(50.0, 60.0)]
    table = bin_series(time, np.ones(20), bin_width=5.0)
    assert list(table["count"]) == [5, 5, 5, 5]  # the gap's empty bins are left out
    with pytest.raises(ValueError, match="exactly one"):
        bin_series(time, np.ones(20))


def test_decimation_keeps_column_extremes_and_size():
    rng = np.random.default_rng(1)
    n, width = 1_000_000, 500
    time = np.arange(n, dtype=float)
    values = rng.normal(0, 1, n)
    values[123_456] = 50.0  # a single-frame spike must survive
    values[777_777] = -40.0
    t, v = decimate_for_display(time, values, width)
    assert len(t) <= 2 * width and np.all(np.diff(t) >= 0)
    assert v.max() == 50.0 and v.min() == -40.0
    columns = np.minimum((time * width / (n - 1)).astype(int), width - 1)
    for c in (0, 17, 250, width - 1):
        sel = columns == c
        in_col = (t >= time[sel][0]) & (t <= time[sel][-1])
        assert v[in_col].max() == values[sel].max() and v[in_col].min() == values[sel].min()


def test_decimation_window_and_nan():
    time = np.arange(10_000, dtype=float)
    values = np.sin(time / 100)
    values[5000:5100] = np.nan
    t, v = decimate_for_display(time, values, 100, window=(4000.0, 6000.0))
    assert t.min() >= 4000 and t.max() <= 6000 and not np.isnan(v).any()
    small_t, _ = decimate_for_display(time[:50], values[:50], 100)
    np.testing.assert_array_equal(small_t, time[:50])


def test_block_extrema_decimation_keeps_the_envelope_at_a_fraction_of_the_work():
    from fgs_widgets.engine.binning import block_extrema

    rng = np.random.default_rng(11)
    n = 2_000_000
    time = np.arange(n) * 0.0625
    values = rng.normal(0.0, 1.0, n)
    values[1_234_567] = 40.0  # one spike, inside a block
    values[rng.integers(0, n, 500)] = np.nan
    values[256 * 100: 256 * 101] = np.nan  # an all-NaN block has no extremes
    blocks = block_extrema(values)
    assert blocks.i_min[100] == -1 and blocks.i_max[100] == -1
    for window in (None, (5_000.0, 110_000.0)):
        exact = decimate_for_display(time, values, 900, window)
        fast = decimate_for_display(time, values, 900, window, blocks=blocks)
        assert len(fast[0]) <= 1800 and np.all(np.diff(fast[0]) >= 0)
        assert fast[1].max() == exact[1].max() and fast[1].min() == exact[1].min()
        # every column's extremes agree but for the blocks straddling column edges
        columns = np.linspace(fast[0][0], fast[0][-1], 901)
        top_exact = pd.Series(exact[1]).groupby(np.digitize(exact[0], columns)).max()
        top_fast = pd.Series(fast[1]).groupby(np.digitize(fast[0], columns)).max()
        shared = top_exact.index.intersection(top_fast.index)
        close = np.isclose(top_exact[shared], top_fast[shared], atol=0.5)
        assert close.mean() > 0.95
    assert 40.0 in decimate_for_display(time, values, 900, blocks=blocks)[1]
    # a window narrower than four blocks per column takes the exact path
    small = (100.0, 200.0)
    np.testing.assert_array_equal(decimate_for_display(time, values, 900, small, blocks=blocks)[1],
                                  decimate_for_display(time, values, 900, small)[1])
