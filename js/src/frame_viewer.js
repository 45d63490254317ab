// fgs_widgets frame viewer (anywidget ES module).
//
// Python owns the state; this view only draws and plays.  Python sends ONE block of
// frames around the cursor as binary traits: float32 frames with an explicit
// `block_shape`, float64 seconds from `t0_mjd`, and float32 fit columns, shape
// (n, fit_columns.length), or an empty buffer.  The `fit_columns` trait names those
// columns in order; the overlay looks up the ones it draws by name (no fixed stride or
// positions), and draws nothing when the centre's columns are absent or the buffer does
// not match.  Playback runs through the block locally, so there is no round trip
// per frame; the cursor goes back to Python at most every SYNC_MS and on pause/step.
// Python re-centres the block when the cursor nears its end (prefetch); if playback
// still runs off the end, the view asks for the next block by setting `cursor` past
// it and waits.
//
// Colour scale: `scale` is the stretch (linear, log, asinh) and `limits` picks its ends:
// "robust" uses `block_lo`/`block_hi`, percentiles Python computes over the block's good
// frames (constant through the block, so frames played in it are comparable), "frame"
// each frame's finite min/max, "manual" `vmin`/`vmax` (a null end: the robust one).
import { LUT } from "./colormap.js";

const SIZE = 320; // CSS pixels of the square canvas (the App gives the viewer 340 px)
const SYNC_MS = 100; // at most 10 cursor updates a second reach the kernel while playing
const SPEEDS = [1, 2, 4, 8, 16, 32, 64];
const STRETCHES = ["linear", "log", "asinh"];
const LIMITS = ["robust", "frame", "manual"];
// log spans this many decades below the high limit, so faint wings show and v <= lo is
// not -Infinity
const LOG_DECADES = 3;
// asinh softening as a fraction of the range: linear over the faintest tenth (noise),
// logarithmic above (the PSF wings and core together)
const ASINH_SOFTENING = 0.1;
// fit columns the overlay draws, by their names in `fit_columns` (the fit table's,
// fgs_widgets.engine.psf.PARAMETERS): the centre's cross, then the 1-sigma ellipse
const FIT_NAMES = { x: "x_mean", y: "y_mean", sx: "x_stddev", sy: "y_stddev", theta: "theta" };
// The readout under the canvas: frame; time and MJD; colour scale; fit.  Each line fits the
// canvas' width (<= 44 monospace characters at 12 px, even for 10^6 frames and 5-digit
// limits), wraps rather than clips if a font is wider, and the four lines are always kept
// so the viewer's height does not change when a fit appears or a frame is loading.
const READOUT_LINES = 4;

const CSS = `
.fgs-frame-viewer { display: inline-flex; flex-direction: column; gap: 4px;
  font: 12px var(--jp-ui-font-family, sans-serif); color: var(--jp-ui-font-color1, #222); }
.fgs-frame-canvas { width: ${SIZE}px; height: ${SIZE}px; cursor: pointer; outline: none;
  image-rendering: pixelated; border: 1px solid var(--jp-border-color1, #bbb); }
.fgs-frame-canvas:focus { border-color: var(--jp-brand-color1, #1976d2); }
.fgs-fv-controls { display: flex; gap: 4px; align-items: center; width: ${SIZE}px; }
.fgs-fv-controls button { min-width: 32px; height: 24px; padding: 0 6px; cursor: pointer; }
.fgs-fv-controls select { height: 24px; }
.fgs-fv-controls label { display: inline-flex; gap: 2px; align-items: center; }
.fgs-fv-readout { font-family: var(--jp-code-font-family, monospace); line-height: 1.4;
  white-space: pre-wrap; overflow-wrap: anywhere; width: ${SIZE}px;
  min-height: ${READOUT_LINES * 1.4}em; }
`;

// Wrap a binary trait (a DataView) in a typed array, copying only when misaligned.
// Superscript digits and minus for the "×10ⁿ" of `formatRange`.
const SUPERSCRIPT = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };

// `value` with `digits` decimals and the reader's thousands separators; never "-0".
function fixed(value, digits) {
  const text = value.toLocaleString(undefined, {
    minimumFractionDigits: digits, maximumFractionDigits: digits,
  });
  return /^-0([.,]0*)?$/.test(text) ? text.slice(1) : text;
}

// Colour limits as "lo…hi", both ends in one notation chosen from the larger magnitude m
// (never one in exponent form and the other not, as toPrecision(4) does from 10^4 up):
// for 0.01 <= m < 10^6 (m rounded to 4 significant digits), fixed with thousands
// separators and the decimals that give m four significant digits ("2,163…213,700",
// "-0.30…12.50"); otherwise both as multiples of one power of ten with three decimals
// ("0.002…2.137×10⁶").  At most 19 characters while |exponent| < 100, so the readout's
// colour line ("colour linear robust " + this) stays within 44.
export function formatRange(lo, hi) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return `${lo}…${hi}`;
  const m = Number(Math.max(Math.abs(lo), Math.abs(hi)).toPrecision(4)); // as printed
  let k = m > 0 ? Math.floor(Math.log10(m)) : 0;
  if (m > 0 && 10 ** (k + 1) <= m) k += 1; // log10 rounding just below a power of ten
  if (m === 0 || (k >= -2 && k <= 5)) {
    const digits = Math.max(0, 3 - k);
    return `${fixed(lo, digits)}…${fixed(hi, digits)}`;
  }
  const power = String(k).replace(/./g, (c) => SUPERSCRIPT[c]);
  return `${fixed(lo / 10 ** k, 3)}…${fixed(hi / 10 ** k, 3)}×10${power}`;
}

function typed(dataView, Type) {
  if (!dataView || dataView.byteLength === 0) return null;
  const { buffer, byteOffset, byteLength } = dataView;
  if (byteOffset % Type.BYTES_PER_ELEMENT === 0) {
    return new Type(buffer, byteOffset, byteLength / Type.BYTES_PER_ELEMENT);
  }
  return new Type(buffer.slice(byteOffset, byteOffset + byteLength));
}

// Where the drawn fit columns sit in a `fits` row of `columns.length` values: {stride,
// x, y, sx, sy, theta, shape}, or null without both centre columns (no overlay).  Without
// a width or theta column (`shape` false) only the cross is drawn.
function fitLayout(columns) {
  if (!Array.isArray(columns) || columns.length === 0) return null;
  const layout = { stride: columns.length };
  for (const [key, name] of Object.entries(FIT_NAMES)) layout[key] = columns.indexOf(name);
  if (layout.x < 0 || layout.y < 0) return null;
  layout.shape = layout.sx >= 0 && layout.sy >= 0 && layout.theta >= 0;
  return layout;
}

function element(tag, className, props = {}) {
  const node = document.createElement(tag);
  node.className = className;
  Object.assign(node, props);
  return node;
}

function choices(select, values, label = (v) => String(v)) {
  select.replaceChildren(...values.map((v) => {
    const option = document.createElement("option");
    option.value = String(v);
    option.textContent = label(v);
    return option;
  }));
}

function render({ model, el }) {
  // -- DOM ------------------------------------------------------------------------------
  const root = element("div", "fgs-frame-viewer");
  const style = element("style", "", { textContent: CSS });
  const canvas = element("canvas", "fgs-frame-canvas", {
    tabIndex: 0, title: "click: next frame · ←/→: step · space: play/pause",
  });
  // keys on the focused canvas step/play instead of running JupyterLab's notebook shortcuts
  canvas.setAttribute("data-lm-suppress-shortcuts", "true");
  const dpr = window.devicePixelRatio || 1;
  canvas.width = canvas.height = Math.round(SIZE * dpr);
  const back = element("button", "fgs-fv-step-back", { textContent: "|◀", title: "previous frame" });
  const play = element("button", "fgs-fv-play", { textContent: "▶", title: "play / pause" });
  const fwd = element("button", "fgs-fv-step-forward", { textContent: "▶|", title: "next frame" });
  const speed = element("select", "fgs-fv-speed", { title: "playback speed" });
  const scale = element("select", "fgs-fv-scale", { title: "colour stretch" });
  choices(scale, STRETCHES);
  const limitsSelect = element("select", "fgs-fv-limits", {
    title: "colour limits: robust = 1–99.5th percentile of the block's good frames, "
      + "frame = each frame's range, manual = vmin/vmax",
  });
  choices(limitsSelect, LIMITS);
  const controls = element("div", "fgs-fv-controls");
  const speedLabel = element("label", "");
  speedLabel.append(speed, "fps");
  controls.append(back, play, fwd, speedLabel, scale, limitsSelect);
  const readout = element("div", "fgs-fv-readout");
  root.append(style, canvas, controls, readout);
  el.appendChild(root);

  const ctx = canvas.getContext("2d");
  const pixels = document.createElement("canvas"); // frame at 1 image pixel per detector pixel

  // -- state: the decoded block and the absolute index of the frame wanted --------------
  let block = null; // { start, count, ny, nx, frames, times, fits, layout, lo, hi }
  let index = model.get("cursor");
  let requested = null; // frame index asked from Python, outside the current block
  let timer = null;
  let lastSync = 0;

  function decode() {
    const [count, ny, nx] = model.get("block_shape");
    const layout = fitLayout(model.get("fit_columns"));
    let fits = typed(model.get("fits"), Float32Array);
    // a buffer that is not (count, fit_columns.length) would be read as garbage: none
    if (!layout || (fits && fits.length !== (count || 0) * layout.stride)) fits = null;
    block = {
      start: model.get("block_start"),
      count: count || 0,
      ny: ny || 8,
      nx: nx || 8,
      frames: typed(model.get("frames"), Float32Array),
      times: typed(model.get("times"), Float64Array),
      fits,
      layout,
      lo: model.get("block_lo"),
      hi: model.get("block_hi"),
    };
    pixels.width = block.nx;
    pixels.height = block.ny;
  }

  const inBlock = (i) => block && block.frames && i >= block.start && i < block.start + block.count;

  // -- drawing ----------------------------------------------------------------------------
  // [lo, hi] of the colour scale for `frame`, by the `limits` mode (hi > lo always).
  function colourLimits(frame) {
    const mode = model.get("limits");
    let lo = block.lo;
    let hi = block.hi;
    if (mode === "frame") {
      lo = Infinity;
      hi = -Infinity;
      for (const v of frame) {
        if (v < lo) lo = v; // NaN compares false both ways, so it is skipped
        if (v > hi) hi = v;
      }
      if (!Number.isFinite(lo)) [lo, hi] = [0, 1]; // an all-NaN frame
    } else if (mode === "manual") {
      lo = model.get("vmin") ?? lo;
      hi = model.get("vmax") ?? hi;
    }
    if (!(hi > lo)) hi = lo + 1;
    return [lo, hi];
  }

  // The map from a finite value to [0, 1] (not clipped) for the stretch `kind`.
  function stretch(kind, lo, hi) {
    const range = hi - lo;
    if (kind === "log") {
      const floor = range * 10 ** -LOG_DECADES;
      return (v) => Math.log10(Math.max(v - lo, floor) / floor) / LOG_DECADES;
    }
    if (kind === "asinh") {
      const a = ASINH_SOFTENING * range;
      const top = Math.asinh(range / a);
      return (v) => Math.asinh((v - lo) / a) / top;
    }
    return (v) => (v - lo) / range;
  }

  function paintFrame(local) {
    const { nx, ny } = block;
    const frame = block.frames.subarray(local * nx * ny, (local + 1) * nx * ny);
    const [lo, hi] = colourLimits(frame);
    const map = stretch(model.get("scale"), lo, hi);
    const image = new ImageData(nx, ny);
    for (let i = 0; i < nx * ny; i++) {
      const v = frame[i];
      // row 0 at the bottom (matplotlib's origin="lower", as the seed plots frames)
      const j = 4 * ((ny - 1 - Math.floor(i / nx)) * nx + (i % nx));
      if (!Number.isFinite(v)) {
        image.data.set([255, 0, 255, 255], j); // NaN pixels in magenta: flagged, not hidden
        continue;
      }
      const k = 3 * Math.max(0, Math.min(255, Math.round(map(v) * 255)));
      image.data[j] = LUT[k];
      image.data[j + 1] = LUT[k + 1];
      image.data[j + 2] = LUT[k + 2];
      image.data[j + 3] = 255;
    }
    pixels.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(pixels, 0, 0, SIZE, SIZE);
    return [lo, hi];
  }

  // The fit of frame `local` ({x, y, sx, sy, theta}: widths and theta NaN when their
  // columns are absent), drawn over the frame; null when there is none to draw.
  function paintFit(local) {
    const { fits, layout } = block;
    if (!fits) return null;
    const row = fits.subarray(local * layout.stride, (local + 1) * layout.stride);
    const value = (i) => (i >= 0 ? row[i] : NaN);
    const fit = {
      x: row[layout.x], y: row[layout.y], sx: Math.abs(value(layout.sx)),
      sy: Math.abs(value(layout.sy)), theta: value(layout.theta),
    };
    if (!Number.isFinite(fit.x) || !Number.isFinite(fit.y)) return null;
    const px = SIZE / block.nx;
    const py = SIZE / block.ny;
    const cx = (fit.x + 0.5) * px;
    const cy = SIZE - (fit.y + 0.5) * py;
    ctx.lineWidth = 2;
    // dark halo under the red line keeps it visible on viridis' yellow and purple alike
    for (const [colour, width] of [["rgba(0,0,0,0.6)", 4], ["#ff4d4d", 2]]) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(cx - 7, cy);
      ctx.lineTo(cx + 7, cy);
      ctx.moveTo(cx, cy - 7);
      ctx.lineTo(cx, cy + 7);
      if (Number.isFinite(fit.sx) && Number.isFinite(fit.sy) && Number.isFinite(fit.theta)) {
        ctx.moveTo(cx + fit.sx * px * Math.cos(fit.theta), cy - fit.sx * py * Math.sin(fit.theta));
        // theta turns counter-clockwise from +x with y up; the canvas' y points down,
        // so the same turn is clockwise-negative here
        ctx.ellipse(cx, cy, fit.sx * px, fit.sy * py, -fit.theta, 0, 2 * Math.PI);
      }
      ctx.stroke();
    }
    return fit;
  }

  function draw() {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const n = model.get("n_frames");
    if (!inBlock(index)) {
      if (!block || !block.frames || n === 0) {
        ctx.fillStyle = "#222";
        ctx.fillRect(0, 0, SIZE, SIZE);
        readout.textContent = "no frames";
      } else {
        readout.textContent = `frame ${index.toLocaleString()} · loading…`;
      }
      return;
    }
    const local = index - block.start;
    const [lo, hi] = paintFrame(local);
    const fit = paintFit(local);
    const seconds = block.times ? block.times[local] : NaN;
    const mjd = model.get("t0_mjd") + seconds / 86400;
    const lines = [
      `frame ${index.toLocaleString()} of ${n.toLocaleString()}`,
      `t = ${seconds.toFixed(3)} s  MJD ${mjd.toFixed(8)}`,
      `colour ${model.get("scale")} ${model.get("limits")} ${formatRange(lo, hi)}`,
    ];
    if (fit) {
      const widths = block.layout.shape ? `  σ ${fit.sx.toFixed(2)}/${fit.sy.toFixed(2)}` : "";
      lines.push(`x ${fit.x.toFixed(3)}  y ${fit.y.toFixed(3)}${widths}`);
    }
    readout.textContent = lines.join("\n");
    readout.dataset.index = String(index);
    canvas.dataset.index = String(index);
  }

  // -- cursor and playback ----------------------------------------------------------------
  function sync(force) {
    const now = performance.now();
    if (!force && now - lastSync < SYNC_MS) return;
    lastSync = now;
    if (model.get("cursor") !== index) {
      model.set("cursor", index);
      model.save_changes();
    }
  }

  // Move to frame `target`; returns false at either end of the data.
  function go(target, force) {
    const n = model.get("n_frames");
    if (target < 0 || target >= n) return false;
    index = target;
    if (inBlock(index)) {
      requested = null;
      draw();
      sync(force);
    } else if (requested !== index) {
      requested = index; // Python sends the block holding it when it sees the cursor
      draw();
      sync(true);
    }
    return true;
  }

  function setPlaying(on) {
    if (model.get("playing") !== on) {
      model.set("playing", on); // the change:playing handler starts or stops the timer
      model.save_changes();
    }
  }

  function tick() {
    if (requested !== null && !inBlock(requested)) return; // wait for the next block
    if (!go(index + 1, false)) setPlaying(false); // end of the data
  }

  function startTimer() {
    stopTimer();
    const fps = Math.max(model.get("fps") || 16, 0.1);
    timer = setInterval(tick, 1000 / fps);
    play.textContent = "❚❚";
  }

  function stopTimer() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    play.textContent = "▶";
  }

  function step(delta) {
    setPlaying(false);
    go(index + delta, true);
  }

  function showSpeed() {
    const fps = model.get("fps");
    const values = SPEEDS.includes(fps) ? SPEEDS : [...SPEEDS, fps].sort((a, b) => a - b);
    choices(speed, values);
    speed.value = String(fps);
  }

  // -- events ------------------------------------------------------------------------------
  back.addEventListener("click", () => step(-1));
  fwd.addEventListener("click", () => step(1));
  canvas.addEventListener("click", () => { canvas.focus(); step(1); });
  canvas.addEventListener("keydown", (event) => {
    const actions = {
      ArrowRight: () => step(1), ArrowLeft: () => step(-1),
      " ": () => setPlaying(!model.get("playing")),
    };
    if (actions[event.key]) {
      event.preventDefault(); // keep JupyterLab from scrolling or running a cell
      event.stopPropagation();
      actions[event.key]();
    }
  });
  play.addEventListener("click", () => setPlaying(!model.get("playing")));
  speed.addEventListener("change", () => {
    model.set("fps", Number(speed.value));
    model.save_changes();
  });
  scale.addEventListener("change", () => {
    model.set("scale", scale.value);
    model.save_changes();
  });
  limitsSelect.addEventListener("change", () => {
    model.set("limits", limitsSelect.value);
    model.save_changes();
  });

  // One kernel message sets several traits at once and fires one event per trait; handle
  // them together after the message so a block and its cursor are never seen apart.
  let pending = { block: false, cursor: false };
  let queued = false;
  function later(kind) {
    pending[kind] = true;
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      const { block: blockChanged, cursor: cursorChanged } = pending;
      pending = { block: false, cursor: false };
      queued = false;
      if (blockChanged) {
        decode();
        requested = null; // answered; if it is not the frame wanted, the next tick asks again
      }
      // a cursor set by Python (or by another view) wins; a re-centred block keeps the
      // frame playing if it still holds it
      if (cursorChanged || !inBlock(index)) index = model.get("cursor");
      draw();
    });
  }
  for (const name of ["frames", "fits", "fit_columns", "times", "block_start", "block_shape",
    "block_lo", "block_hi"]) {
    model.on(`change:${name}`, () => later("block"));
  }
  model.on("change:cursor", () => {
    if (model.get("cursor") !== index) later("cursor");
  });
  function showScale() {
    scale.value = model.get("scale");
    limitsSelect.value = model.get("limits");
  }
  for (const name of ["scale", "limits", "vmin", "vmax", "n_frames", "t0_mjd"]) {
    model.on(`change:${name}`, () => { showScale(); draw(); });
  }
  model.on("change:fps", () => {
    showSpeed();
    if (timer !== null) startTimer();
  });
  model.on("change:playing", () => {
    if (model.get("playing")) {
      startTimer();
    } else {
      stopTimer();
      sync(true); // Python learns where playback stopped
    }
  });

  showSpeed();
  showScale();
  decode();
  draw();
  if (model.get("playing")) startTimer();
  return () => stopTimer();
}

export default { render };
