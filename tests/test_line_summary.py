"""The min/max summaries the browser re-decimates (`engine.line_summary`), and the front
end's copy of the same steps (``js/src/series_lines.js``, run in Node) drawing the same
points from the same arrays."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fgs_widgets.engine.line_summary import (
    MIN_POINTS_PER_COLUMN,
    choose_source,
    draw_from,
    line_detail,
    line_levels,
    source_for_frames,
)

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "js" / "src" / "series_lines.js"


def _series(n: int = 300_000, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Real-like guide-star timing: 53-65 ms cadence, a gap between files, flagged (NaN)
    frames, an oscillation in noise and one spike."""
    rng = np.random.default_rng(seed)
    seconds = np.cumsum(rng.uniform(0.053, 0.065, n))
    seconds -= seconds[0]
    seconds[n // 3:] += 400.0
    values = np.sin(seconds / 37.4) + rng.normal(0, 0.3, n)
    values[rng.random(n) < 0.01] = np.nan
    values[n // 2] = 25.0
    return seconds, values


def _exact_columns(seconds, values, window, width):
    """Brute force: every good frame's column; each column's min and max value."""
    delta = (window[1] - window[0]) / width
    k0, k1 = np.floor(window[0] / delta), np.floor(window[1] / delta)
    column = np.floor(seconds / delta)
    keep = (column >= k0) & (column <= k1) & ~np.isnan(values)
    out = {}
    for c, v in zip(column[keep], values[keep], strict=True):
        lo, hi = out.get(c, (np.inf, -np.inf))
        out[c] = (min(lo, float(np.float32(v))), max(hi, float(np.float32(v))))
    return out, delta


def _drawn_columns(x, y, delta):
    out = {}
    for c, v in zip(np.floor(x / delta), y, strict=True):
        if np.isnan(v):
            continue
        lo, hi = out.get(c, (np.inf, -np.inf))
        out[c] = (min(lo, v), max(hi, v))
    return out


def test_levels_keep_each_block_extremes_at_their_times():
    seconds, values = _series()
    levels = line_levels(seconds, values)
    assert [lv.block for lv in levels] == [64, 256, 1024]  # 300,000 frames: down to <= 1024 blocks
    for level in levels:
        assert np.all(np.diff(level.t) >= 0) and level.t.dtype == np.float64
        assert level.v.dtype == np.float32 and not np.isnan(level.v).any()
        # every candidate is a real frame: its value at its own time
        index = np.searchsorted(seconds, level.t)
        np.testing.assert_array_equal(seconds[index], level.t)
        np.testing.assert_array_equal(values[index].astype(np.float32), level.v)
        # block b's extremes are the min and max of its good frames
        b = 7
        block = values[b * level.block:(b + 1) * level.block]
        inside = (level.t >= seconds[b * level.block]) & (
            level.t <= seconds[(b + 1) * level.block - 1])
        assert sorted(level.v[inside]) == pytest.approx(
            sorted({np.float32(np.nanmin(block)), np.float32(np.nanmax(block))}))
    assert np.float32(25.0) in levels[-1].v  # the spike survives to the coarsest level


@pytest.mark.parametrize("window", [(0.0, 18_000.0), (3_000.0, 9_000.0), (8_000.0, 8_050.0),
                                    (5_000.0, 5_003.0)])
def test_drawn_columns_are_exact_with_enough_detail(window):
    """Whatever the zoom, after detail (if asked) each pixel column's min and max are
    the true min and max of its frames, except where a straddling block's extreme lies
    next door (then it is drawn there, in its own column)."""
    seconds, values = _series()
    width = 700
    levels = line_levels(seconds, values)
    source, enough = choose_source(levels, window, width)
    if not enough:
        source, enough = choose_source([*levels, line_detail(seconds, values, window, width)],
                                       window, width)
    assert enough
    x, y = draw_from(source, window, width, gap=0.65)
    truth, delta = _exact_columns(seconds, values, window, width)
    drawn = _drawn_columns(x, y, delta)
    assert set(drawn) <= set(truth)
    exact = [c for c in truth if drawn.get(c) == truth[c]]
    assert len(exact) >= 0.45 * len(truth)  # the rest: straddled edges only
    # no column shows a value outside its true range, and the global extremes are drawn
    assert all(truth[c][0] <= lo and hi <= truth[c][1] for c, (lo, hi) in drawn.items())
    assert np.nanmax(y) == max(hi for _, hi in truth.values())
    assert np.nanmin(y) == min(lo for lo, _ in truth.values())
    # at most two points per column plus the gap breaks
    assert np.count_nonzero(~np.isnan(y)) <= 2 * (width + 1)


def test_a_narrow_view_asks_for_detail_that_covers_it_with_headroom():
    seconds, values = _series()
    levels = line_levels(seconds, values)
    window, width = (8_000.0, 8_200.0), 700  # ~3,400 frames: under one finest block/column
    assert choose_source(levels, window, width)[1] is False
    detail = line_detail(seconds, values, window, width)
    assert detail.block == 1 and detail.covers(*window)
    lo, hi = np.searchsorted(seconds, window)
    assert detail.lo < lo and detail.hi > hi  # a margin to pan into
    # a view 1.8x narrower is still resolved by it (headroom), not by a level
    narrower = (8_050.0, 8_050.0 + 200 / 1.8)
    assert choose_source([*levels, detail], narrower, width) == (detail, True)
    wide = line_detail(seconds, values, (3_000.0, 5_000.0), width)
    assert wide.block > 1 and len(wide.t) >= MIN_POINTS_PER_COLUMN * width
    # a gap wider than two columns breaks the line (NaN between the files)
    _, y = draw_from(source_for_frames(seconds, values, 0, len(seconds), 256),
                     (0.0, seconds[-1]), width, gap=0.65)
    assert np.isnan(y).sum() >= 1


def _node_draws(tmp_path: Path, cases: list[dict]) -> list[dict]:
    script = tmp_path / "draw.mjs"
    script.write_text(f"""
import {{ readFileSync }} from "node:fs";
import {{ chooseSource, drawFrom }} from {json.dumps(MODULE.as_uri())};
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const bytes = (file) => {{  // small files share Node's buffer pool: cut out their part
  const b = readFileSync(file);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}};
const load = (s) => ({{ ...s, start: s.start ?? -Infinity, stop: s.stop ?? Infinity,
  t: new Float64Array(bytes(s.t_file)), v: new Float32Array(bytes(s.v_file)) }});
const out = cases.map((c) => {{
  const sources = c.sources.map(load);
  const {{ source, enough }} = chooseSource(sources, c.start, c.stop, c.width);
  const {{ x, y }} = drawFrom(source, c.start, c.stop, c.width, c.gap);
  return {{ chosen: sources.indexOf(source), enough, x: [...x],
           y: [...y].map((v) => (Number.isNaN(v) ? null : v)) }};
}});
process.stdout.write(JSON.stringify(out));
""")
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps(cases))
    done = subprocess.run(["node", str(script), str(spec)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_front_end_draws_the_same_points_as_the_reference(tmp_path):
    seconds, values = _series()
    levels = line_levels(seconds, values)
    windows = [(0.0, float(seconds[-1])), (2_000.0, 14_000.0), (8_000.0, 8_400.0),
               (8_100.0, 8_104.5), (-50.0, 900.0), (5_200.0, 5_900.0)]  # the last: the gap
    cases, expected = [], []
    for k, window in enumerate(windows):
        width = 640 + 37 * k
        sources = list(levels)
        if not choose_source(sources, window, width)[1]:
            sources.append(line_detail(seconds, values, window, width))
        files = []
        for j, s in enumerate(sources):
            t_file, v_file = tmp_path / f"t{k}_{j}.bin", tmp_path / f"v{k}_{j}.bin"
            t_file.write_bytes(s.t.astype("<f8").tobytes())
            v_file.write_bytes(s.v.astype("<f4").tobytes())
            files.append({"block": s.block, "lo": s.lo, "hi": s.hi,
                          "start": None if np.isinf(s.start) else s.start,
                          "stop": None if np.isinf(s.stop) else s.stop,
                          "t_file": str(t_file), "v_file": str(v_file)})
        cases.append({"start": window[0], "stop": window[1], "width": width, "gap": 0.62,
                      "sources": files})
        chosen, enough = choose_source(sources, window, width)
        expected.append((sources.index(chosen), enough,
                         *draw_from(chosen, window, width, 0.62)))
    for got, (chosen, enough, x, y) in zip(_node_draws(tmp_path, cases), expected,
                                           strict=True):
        assert (got["chosen"], got["enough"]) == (chosen, enough)
        assert len(got["x"]) == len(x) > 0
        np.testing.assert_array_equal(np.array(got["x"]), x)
        np.testing.assert_array_equal(np.array([np.nan if v is None else v
                                                for v in got["y"]]), y)


@pytest.mark.parametrize("n", [900, 23_000, 300_000])
def test_a_short_series_whole_view_needs_no_kernel(n):
    """A program of minutes (the sample: ~23,000 frames) is resolved by its levels alone
    at up to 2,000 columns: its first draw never waits for a kernel busy with a cell."""
    seconds, values = _series(n)
    levels = line_levels(seconds, values)
    source, enough = choose_source(levels, (0.0, float(seconds[-1])), 2000)
    assert enough, [(lv.block, len(lv.t)) for lv in levels]
    assert source.block <= 256
