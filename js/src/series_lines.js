// SeriesLines: the time-series lines re-decimated in the browser at every zoom and pan.
//
// The kernel sends each shown series once as min/max summaries (levels of blocks of
// frames, binary buffers: times float64, values float32; fgs_widgets/engine/line_summary.py
// defines them and the steps below, which must stay the same as its `choose_source`
// and `draw_from`).  On every change of the shared x scale this module picks, per
// series, the coarsest source that resolves the view, draws each pixel column's min
// and max into the series' bqplot Lines model (set in the browser only: nothing goes
// back to the kernel), and asks the kernel for detail only when no source resolves the
// view (one request in flight; the latest wanted view is asked next).

const MIN_POINTS_PER_COLUMN = 4;
const MAX_DETAILS = 8; // detail answers kept per series (the most recent)
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function typed(view, Type) {
  // buffers arrive as DataViews; copy when unaligned (or on a big-endian host)
  const n = view.byteLength / Type.BYTES_PER_ELEMENT;
  if (LITTLE_ENDIAN && view.byteOffset % Type.BYTES_PER_ELEMENT === 0) {
    return new Type(view.buffer, view.byteOffset, n);
  }
  const out = new Type(n);
  const get = Type === Float64Array ? "getFloat64" : "getFloat32";
  for (let i = 0; i < n; i++) out[i] = view[get](i * Type.BYTES_PER_ELEMENT, true);
  return out;
}

function source(meta, t, v) {
  return {
    block: meta.block, lo: meta.lo, hi: meta.hi,
    start: meta.start === null ? -Infinity : meta.start,
    stop: meta.stop === null ? Infinity : meta.stop,
    t: typed(t, Float64Array), v: typed(v, Float32Array),
  };
}

// first index whose column floor(t / delta) is >= k (strict: > k)
function columnSearch(t, delta, k, strict) {
  let lo = 0;
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = Math.floor(t[mid] / delta);
    if (strict ? c <= k : c < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function grid(start, stop, width) {
  const delta = (stop - start) / width;
  return { delta, k0: Math.floor(start / delta), k1: Math.floor(stop / delta) };
}

// the source to draw [start, stop] from, and whether it resolves the view
export function chooseSource(sources, start, stop, width) {
  const { delta, k0, k1 } = grid(start, stop, width);
  if (!(delta > 0)) return { source: null, enough: false };
  let best = null;
  let finest = null;
  for (const s of sources) {
    if (!(s.start <= start && s.stop >= stop)) continue;
    const n = columnSearch(s.t, delta, k1, true) - columnSearch(s.t, delta, k0, false);
    if (s.block === 1 || n >= MIN_POINTS_PER_COLUMN * width) {
      if (best === null || s.block > best.block) best = s;
    }
    if (finest === null || s.block < finest.block) finest = s;
  }
  return best !== null ? { source: best, enough: true } : { source: finest, enough: false };
}

// each pixel column's min and max in time order; NaN where points are far apart
export function drawFrom(s, start, stop, width, gap) {
  const { delta, k0, k1 } = grid(start, stop, width);
  if (!(delta > 0)) return { x: new Float64Array(0), y: new Float64Array(0) };
  const i0 = columnSearch(s.t, delta, k0, false);
  const i1 = columnSearch(s.t, delta, k1, true);
  const t = s.t;
  const v = s.v;
  const px = [];
  const py = [];
  let col = NaN;
  let iMin = -1;
  let iMax = -1;
  const emit = () => {
    const a = Math.min(iMin, iMax);
    const b = Math.max(iMin, iMax);
    px.push(t[a]);
    py.push(v[a]);
    if (b !== a) {
      px.push(t[b]);
      py.push(v[b]);
    }
  };
  for (let i = i0; i < i1; i++) {
    const c = Math.floor(t[i] / delta);
    if (c !== col) {
      if (iMin >= 0) emit();
      col = c;
      iMin = iMax = i;
    } else {
      if (v[i] < v[iMin]) iMin = i;
      if (v[i] > v[iMax]) iMax = i;
    }
  }
  if (iMin >= 0) emit();
  const limit = Math.max(gap, 2 * delta);
  let breaks = 0;
  for (let j = 1; j < px.length; j++) if (px[j] - px[j - 1] > limit) breaks++;
  const x = new Float64Array(px.length + breaks);
  const y = new Float64Array(px.length + breaks);
  let m = 0;
  for (let j = 0; j < px.length; j++) {
    if (j > 0 && px[j] - px[j - 1] > limit) {
      x[m] = (px[j - 1] + px[j]) / 2;
      y[m++] = NaN;
    }
    x[m] = px[j];
    y[m++] = py[j];
  }
  return { x, y };
}

// what tests and benchmarks read: the last draw per widget and a log of draw times
function registry() {
  if (!globalThis.__fgsSeriesLines) {
    globalThis.__fgsSeriesLines = { last: {}, draws: [], requests: 0, answers: 0 };
  }
  return globalThis.__fgsSeriesLines;
}

function modelId(ref) {
  return typeof ref === "string" && ref.startsWith("IPY_MODEL_") ? ref.slice(10) : null;
}

async function initialize({ model }) {
  const manager = model.widget_manager;
  const id = `lines-${Math.random().toString(36).slice(2, 10)}`;
  let scale = null;
  let series = []; // {line, generation, levels, details}
  let inFlight = null; // the request sent and not answered
  let wanted = null; // the latest view that needs detail
  let lastAsked = "";
  let scheduled = false;
  let requestCount = 0;

  function draw() {
    scheduled = false;
    if (!scale) return;
    const start = scale.get("min");
    const stop = scale.get("max");
    const width = model.get("width_px");
    if (start === null || stop === null || !(stop > start) || !(width > 0)) return;
    if (!series.some((s) => s.line)) return; // nothing to draw yet: no draw recorded
    const gap = model.get("gap");
    let pending = false;
    const record = { start, stop, width, series: [] };
    for (const s of series) {
      if (!s.line) continue;
      const { source: src, enough } = chooseSource([...s.levels, ...s.details], start, stop,
                                                    width);
      if (!src) continue;
      const { x, y } = drawFrom(src, start, stop, width, gap);
      s.line.set({ x, y });
      pending = pending || !enough;
      record.series.push({ generation: s.generation, block: src.block, lo: src.lo,
                           hi: src.hi, enough, x, y });
    }
    const reg = registry();
    record.time = performance.now();
    record.pending = pending;
    reg.last[id] = record;
    reg.draws.push({ id, time: record.time, pending, start, stop });
    if (reg.draws.length > 2000) reg.draws.splice(0, reg.draws.length - 1000);
    if (pending) ask(start, stop, width);
  }

  function schedule() {
    // PanZoom sets min then max: draw once, after both
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(draw);
  }

  function ask(start, stop, width) {
    const key = `${start}:${stop}:${width}`;
    if (key === lastAsked) return; // answered already: the detail there is is all there is
    wanted = { start, stop, width, key };
    if (inFlight === null) send();
  }

  function send() {
    if (wanted === null) return;
    inFlight = wanted;
    wanted = null;
    requestCount += 1;
    registry().requests += 1;
    model.send({ kind: "detail", request: requestCount, start: inFlight.start,
                 stop: inFlight.stop, width_px: inFlight.width,
                 generations: series.map((s) => s.generation) });
  }

  function onMessage(msg, buffers) {
    if (!msg || msg.kind !== "detail") return;
    registry().answers += 1;
    lastAsked = inFlight ? inFlight.key : lastAsked;
    inFlight = null;
    msg.series.forEach((meta, i) => {
      const s = series[meta.index];
      if (!s || s.generation !== meta.generation) return; // data changed since asked
      s.details.push(source(meta, buffers[2 * i], buffers[2 * i + 1]));
      if (s.details.length > MAX_DETAILS) s.details.shift();
    });
    draw();
    if (wanted !== null && wanted.key !== lastAsked) send();
  }

  async function loadSeries() {
    const entries = model.get("series") || [];
    const loaded = await Promise.all(entries.map(async (entry) => {
      const ref = modelId(entry.line);
      const line = ref ? await manager.get_model(ref) : null;
      return { line, generation: entry.generation, details: [],
               levels: entry.levels.map((level) => source(level, level.t, level.v)) };
    }));
    if (entries === model.get("series")) { // not replaced while the lines resolved
      series = loaded;
      lastAsked = "";
      wanted = null;
      draw();
    }
  }

  async function loadScale() {
    const ref = modelId(model.get("scale"));
    const next = ref ? await manager.get_model(ref) : null;
    if (scale) scale.off("change:min change:max", schedule);
    scale = next;
    if (scale) scale.on("change:min change:max", schedule);
    schedule();
  }

  model.on("change:series", loadSeries);
  model.on("change:scale", loadScale);
  model.on("change:width_px change:gap", schedule);
  model.on("msg:custom", onMessage);
  await loadScale();
  await loadSeries();
  return () => {
    if (scale) scale.off("change:min change:max", schedule);
    delete registry().last[id];
  };
}

export default { initialize };
