// fgs_widgets plot pointer (anywidget ES module): hover readout and click-to-pick for the
// bqplot panels (class `panel_class`) inside one element (class `root_class`): a
// TimeseriesViewer's, or the science panel's.
//
// bqplot 0.13 sends no pointer position to Python, and one figure holds one interaction
// (PanZoom here).  So this view listens on the viewer's element itself (one delegated
// listener, so panels rebuilt by Python need no re-binding), turns the pointer's pixel
// into data x with the domain and margins Python last drew (`x_min`, `x_max`,
// `margin_left`, `margin_right`), and sends `hover` {panel, x} at most every
// HOVER_MS, or `pick` {x, n} on a click that did not drag (a drag is a pan).  Python
// answers with the `readout` text this view shows.  The plot width, measured whenever the
// viewer's size changes, goes back as `plot_width`, so decimation and tick counts follow
// the real size.

const HOVER_MS = 50; // 20 readouts a second: smooth, and little kernel work
const CLICK_SLOP_PX = 4; // a press that moves less than this is a click, not a pan

// The readout is a row of items ("t = 12.5 s ·", "frame 200 ·", "x_mean = 3.51 ·", flags),
// each a span of class fgs-ts-item (Python's `readout_html`).  A narrow panel (a side bar
// open, a small window) wraps it between items, never inside one and never clipped, so
// the value and flags at its end always show; two lines are kept for it either way, so
// the plots under it do not jump as the pointer moves.
const CSS = `
.fgs-ts-readout { font-family: var(--jp-code-font-family, monospace); font-size: 12px;
  line-height: 1.4; min-height: 2.8em; white-space: normal; overflow-wrap: anywhere;
  color: var(--jp-ui-font-color1, #222); }
.fgs-ts-readout .fgs-ts-item { display: inline-block; white-space: nowrap; max-width: 100%;
  vertical-align: top; }
.fgs-ts-readout .fgs-ts-flag { color: #d62728; }
`;

function panelAt(root, target, panelClass) {
  const figure = target.closest ? target.closest(`.${panelClass}`) : null;
  if (!figure || !root.contains(figure)) return null;
  const panels = [...root.querySelectorAll(`.${panelClass}`)];
  return { figure, index: panels.indexOf(figure) };
}

function render({ model, el }) {
  if (!document.getElementById("fgs-ts-pointer-css")) {
    const style = document.createElement("style");
    style.id = "fgs-ts-pointer-css";
    style.textContent = CSS;
    document.head.append(style);
  }
  const readout = document.createElement("div");
  readout.className = "fgs-ts-readout";
  el.append(readout);
  const showReadout = () => { readout.innerHTML = model.get("readout"); };
  model.on("change:readout", showReadout);
  showReadout();

  // the x window as the browser has it: a zoom or pan changes the scale here first
  let scale = null;
  const ref = model.get("scale");
  if (typeof ref === "string" && ref.startsWith("IPY_MODEL_") && model.widget_manager) {
    model.widget_manager.get_model(ref.slice(10)).then((m) => { scale = m; }, () => {});
  }
  const windowX = () => {
    const lo = scale ? scale.get("min") : null;
    const hi = scale ? scale.get("max") : null;
    return lo !== null && hi !== null && hi > lo ? [lo, hi]
      : [model.get("x_min"), model.get("x_max")];
  };
  // wheel zoom and drag pan of the x scale when Python asks (`navigate`): min and max
  // set together, once per animation frame (bqplot's PanZoom sets them one by one, and
  // every figure on the scale re-renders at each)
  let nav = null; // the window to show at the next frame
  let frame = null;
  const current = () => (nav ? [nav.min, nav.max] : windowX());
  function applyNav() {
    frame = null;
    if (!nav || !scale) return;
    const next = nav;
    nav = null;
    scale.set({ min: next.min, max: next.max });
    scale.save_changes();
  }
  function show(min, max) {
    if (!(max > min) || !Number.isFinite(min) || !Number.isFinite(max)) return;
    nav = { min, max };
    if (frame === null) frame = requestAnimationFrame(applyNav);
  }
  // the viewer's root appears once ipywidgets has attached this view to the page
  let root = null;
  const findRoot = () => (root = root || el.closest(`.${model.get("root_class")}`));

  // data x under the pointer in a panel, or null outside the plot area
  function locate(event) {
    if (!findRoot()) return null;
    const hit = panelAt(root, event.target, model.get("panel_class"));
    if (!hit) return null;
    const box = hit.figure.getBoundingClientRect();
    const left = model.get("margin_left");
    const width = box.width - left - model.get("margin_right");
    const px = event.clientX - box.left - left;
    if (width <= 0 || px < 0 || px > width) return null;
    const [lo, hi] = current();
    return { panel: hit.index, x: lo + (px / width) * (hi - lo), width };
  }

  function onWheel(event) {
    if (!model.get("navigate") || !scale) return;
    const where = locate(event);
    if (!where) return;
    event.preventDefault(); // the page does not scroll under a zoom
    const [lo, hi] = current();
    const factor = Math.exp(event.deltaY * 0.001); // as bqplot's PanZoom: 200 px, e^0.2
    show(where.x + factor * (lo - where.x), where.x + factor * (hi - where.x));
  }
  let drag = null;
  function startDrag(event) {
    const where = model.get("navigate") && scale ? locate(event) : null;
    if (!where) return;
    event.preventDefault(); // no text selection while dragging
    const [lo, hi] = current();
    drag = { x: event.clientX, lo, hi, width: where.width };
  }
  function onDrag(event) {
    if (!drag) return;
    if (!(event.buttons & 1)) { drag = null; return; }
    const shift = -((event.clientX - drag.x) / drag.width) * (drag.hi - drag.lo);
    show(drag.lo + shift, drag.hi + shift);
  }

  let last = 0;
  let pending = null;
  let timer = null;
  function sendHover() {
    timer = null;
    last = performance.now();
    model.set("hover", pending || {});
    model.save_changes();
  }
  function onMove(event) {
    const where = locate(event);
    pending = where ? { panel: where.panel, x: where.x } : null;
    const wait = HOVER_MS - (performance.now() - last);
    if (wait <= 0) sendHover();
    else if (timer === null) timer = setTimeout(sendHover, wait);
  }
  function onLeave() {
    pending = null;
    if (timer === null) timer = setTimeout(sendHover, 0);
  }
  let press = null;
  function onDown(event) {
    // the main button only: a right click opens the browser's menu, not a pick
    press = event.button === 0 ? { x: event.clientX, y: event.clientY } : null;
    if (press) startDrag(event);
  }
  function onUp(event) {
    drag = null;
    if (!press) return;
    const moved = Math.hypot(event.clientX - press.x, event.clientY - press.y);
    press = null;
    if (moved >= CLICK_SLOP_PX) return;
    const where = locate(event);
    if (!where) return;
    model.set("pick", { x: where.x, n: (model.get("pick").n || 0) + 1 });
    model.save_changes();
  }

  // attach once the root exists (the view is rendered before it is in the page)
  let bound = null;
  let resize = null;
  function bind() {
    if (bound || !findRoot()) return Boolean(bound);
    root.addEventListener("mousemove", onMove);
    root.addEventListener("wheel", onWheel, { passive: false });
    window.addEventListener("mousemove", onDrag, true); // a drag may leave the panel
    root.addEventListener("mouseleave", onLeave);
    root.addEventListener("mousedown", onDown, true);
    // on the window, capturing, and bound before any press: bqplot's PanZoom (d3-drag)
    // takes each mouseup on the window's capture phase and stops it there
    window.addEventListener("mouseup", onUp, true);
    // the plot width follows the page (a side panel, a resized window), not only hovers
    resize = new ResizeObserver(() => {
      const figure = root.querySelector(`.${model.get("panel_class")}`);
      if (!figure) return;
      const width = Math.round(figure.getBoundingClientRect().width
        - model.get("margin_left") - model.get("margin_right"));
      if (width > 0 && width !== model.get("plot_width")) {
        model.set("plot_width", width);
        model.save_changes();
      }
    });
    resize.observe(root);
    bound = root;
    return true;
  }
  let tries = 0;
  const poll = setInterval(() => { if (bind() || ++tries > 200) clearInterval(poll); }, 50);
  bind();
  return () => {
    clearInterval(poll);
    if (timer !== null) clearTimeout(timer);
    if (frame !== null) cancelAnimationFrame(frame);
    model.off("change:readout", showReadout);
    if (resize) resize.disconnect();
    if (bound) {
      bound.removeEventListener("mousemove", onMove);
      bound.removeEventListener("wheel", onWheel);
      window.removeEventListener("mousemove", onDrag, true);
      bound.removeEventListener("mouseleave", onLeave);
      bound.removeEventListener("mousedown", onDown, true);
      window.removeEventListener("mouseup", onUp, true);
    }
  };
}

export default { render };
