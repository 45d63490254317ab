// fgs_widgets frame viewer: draws 8x8 guide-star frames on a canvas with the fitted
// Gaussian's centroid and 1-sigma ellipse, and plays a block of frames client-side.
// Python sends one binary block (float32 frames, float64 times, float32 fit params);
// the browser plays through it without a round trip per frame and reports the cursor
// back at most ~8 times a second (and on pause / step / click).
import { LUT } from "./colormap.js";

const SIZE = 320; // canvas pixels
const SYNC_MS = 125;

function view(dataView, type) {
  if (!dataView || dataView.byteLength === 0) return null;
  const buffer = dataView.buffer.slice(dataView.byteOffset, dataView.byteOffset + dataView.byteLength);
  return new type(buffer);
}

function button(text, title) {
  const b = document.createElement("button");
  b.className = "fgs-fv-button";
  b.textContent = text;
  b.title = title;
  return b;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "fgs-frame-viewer";
  const canvas = document.createElement("canvas");
  canvas.className = "fgs-frame-canvas";
  canvas.width = SIZE;
  canvas.height = SIZE;
  canvas.title = "click: next frame";
  const bar = document.createElement("div");
  bar.className = "fgs-fv-controls";
  const back = button("◀", "previous frame");
  const play = button("▶", "play / pause");
  const fwd = button("▶|", "next frame");
  fwd.classList.add("fgs-fv-step-forward");
  back.classList.add("fgs-fv-step-back");
  play.classList.add("fgs-fv-play");
  const speed = document.createElement("select");
  speed.className = "fgs-fv-speed";
  for (const fps of [4, 8, 16, 32, 64]) {
    const o = document.createElement("option");
    o.value = String(fps);
    o.textContent = `${fps} fps`;
    speed.appendChild(o);
  }
  const scale = document.createElement("select");
  scale.className = "fgs-fv-scale";
  for (const s of ["linear", "log"]) {
    const o = document.createElement("option");
    o.value = s;
    o.textContent = s;
    scale.appendChild(o);
  }
  const readout = document.createElement("div");
  readout.className = "fgs-fv-readout";
  bar.append(back, play, fwd, speed, scale);
  root.append(canvas, bar, readout);
  el.appendChild(root);
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(8, 8);
  const pixels = document.createElement("canvas");
  pixels.width = 8;
  pixels.height = 8;

  let block = null; // { start, count, frames, times, fits }
  let local = 0; // index within the block
  let timer = null;
  let lastSync = 0;

  function loadBlock() {
    block = {
      start: model.get("block_start"),
      count: model.get("block_count"),
      frames: view(model.get("frames"), Float32Array),
      times: view(model.get("times"), Float64Array),
      fits: view(model.get("fits"), Float32Array),
    };
    local = Math.min(Math.max(model.get("cursor") - block.start, 0), Math.max(block.count - 1, 0));
  }

  function limits(frame) {
    let lo = model.get("vmin");
    let hi = model.get("vmax");
    if (lo === null || hi === null) {
      let mn = Infinity;
      let mx = -Infinity;
      for (const v of frame) {
        if (Number.isFinite(v)) {
          mn = Math.min(mn, v);
          mx = Math.max(mx, v);
        }
      }
      if (lo === null) lo = mn;
      if (hi === null) hi = mx;
    }
    if (!(hi > lo)) hi = lo + 1;
    return [lo, hi];
  }

  function draw() {
    ctx.fillStyle = "#222";
    ctx.fillRect(0, 0, SIZE, SIZE);
    if (!block || !block.frames || block.count === 0) {
      readout.textContent = "no frames";
      return;
    }
    const frame = block.frames.subarray(local * 64, local * 64 + 64);
    const [lo, hi] = limits(frame);
    const log = model.get("scale") === "log";
    const floor = Math.max(hi - lo, 1e-12) * 1e-3;
    for (let i = 0; i < 64; i++) {
      const v = frame[i];
      // FITS row 0 is the bottom row: flip vertically so y grows upwards
      const j = (7 - Math.floor(i / 8)) * 8 + (i % 8);
      if (!Number.isFinite(v)) {
        image.data.set([255, 0, 255, 255], 4 * j); // NaN pixels in magenta
        continue;
      }
      let u = (v - lo) / (hi - lo);
      if (log) u = Math.log10(Math.max(v - lo, floor) / floor) / Math.log10((hi - lo) / floor);
      const k = Math.max(0, Math.min(255, Math.round(u * 255)));
      image.data[4 * j] = LUT[3 * k];
      image.data[4 * j + 1] = LUT[3 * k + 1];
      image.data[4 * j + 2] = LUT[3 * k + 2];
      image.data[4 * j + 3] = 255;
    }
    pixels.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(pixels, 0, 0, SIZE, SIZE);
    const px = SIZE / 8;
    if (block.fits) {
      const p = block.fits.subarray(local * 7, local * 7 + 7);
      const [, x0, y0, sx, sy, theta] = p;
      if (Number.isFinite(x0) && Number.isFinite(y0)) {
        const cx = (x0 + 0.5) * px;
        const cy = SIZE - (y0 + 0.5) * px;
        ctx.strokeStyle = "#ff4040";
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.moveTo(cx - 8, cy);
        ctx.lineTo(cx + 8, cy);
        ctx.moveTo(cx, cy - 8);
        ctx.lineTo(cx, cy + 8);
        ctx.stroke();
        if (Number.isFinite(sx) && Number.isFinite(sy)) {
          ctx.beginPath();
          // canvas y points down, so the counter-clockwise angle flips sign
          ctx.ellipse(cx, cy, sx * px, sy * px, -theta, 0, 2 * Math.PI);
          ctx.stroke();
        }
      }
    }
    const index = block.start + local;
    const t = block.times ? block.times[local] : NaN;
    readout.textContent = `frame ${index} / ${model.get("n_frames")} · t = ${t.toFixed(3)} s`;
    readout.dataset.index = String(index);
  }

  function sync(force) {
    const now = performance.now();
    if (!block) return;
    const index = block.start + local;
    if (force || now - lastSync > SYNC_MS) {
      if (model.get("cursor") !== index) {
        model.set("cursor", index);
        model.save_changes();
      }
      lastSync = now;
    }
  }

  function step(delta) {
    if (!block || block.count === 0) return;
    const next = local + delta;
    if (next >= 0 && next < block.count) {
      local = next;
      draw();
      sync(!timer);
      return;
    }
    // past the block: ask Python for the one holding the next frame
    const target = block.start + next;
    if (target < 0 || target >= model.get("n_frames")) {
      stop();
      return;
    }
    model.set("cursor", target);
    model.save_changes();
  }

  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
    play.textContent = "▶";
    if (model.get("playing")) {
      model.set("playing", false);
      model.save_changes();
    }
    sync(true);
  }

  function start() {
    if (timer) clearInterval(timer);
    const fps = model.get("fps") || 16;
    timer = setInterval(() => step(1), 1000 / fps);
    play.textContent = "❚❚";
  }

  back.addEventListener("click", () => step(-1));
  fwd.addEventListener("click", () => step(1));
  canvas.addEventListener("click", () => step(1));
  play.addEventListener("click", () => {
    const playing = !model.get("playing");
    model.set("playing", playing);
    model.save_changes();
    playing ? start() : stop();
  });
  speed.addEventListener("change", () => {
    model.set("fps", Number(speed.value));
    model.save_changes();
  });
  scale.addEventListener("change", () => {
    model.set("scale", scale.value);
    model.save_changes();
  });

  model.on("change:frames", () => { loadBlock(); draw(); });
  model.on("change:fits", () => { loadBlock(); draw(); });
  model.on("change:cursor", () => {
    const c = model.get("cursor");
    if (block && c >= block.start && c < block.start + block.count) {
      local = c - block.start;
      draw();
    }
  });
  model.on("change:scale", () => { scale.value = model.get("scale"); draw(); });
  model.on("change:vmin", draw);
  model.on("change:vmax", draw);
  model.on("change:fps", () => {
    speed.value = String(model.get("fps"));
    if (timer) start();
  });
  model.on("change:playing", () => (model.get("playing") ? start() : stop()));

  speed.value = String(model.get("fps"));
  scale.value = model.get("scale");
  loadBlock();
  draw();
  if (model.get("playing")) start();
  return () => timer && clearInterval(timer);
}

export default { render };
