// Small SVG charts for the statistics page: no library, nothing from the network.
// Every chart is drawn in a viewBox as wide as its box is now (o.width), so its text
// keeps its size on a phone; each data point is an element (circle.point, rect.bar)
// with a <title> tooltip.
const SVG_NS = "http://www.w3.org/2000/svg";
const MIN_WIDTH = 280;
const M = { top: 16, right: 18, bottom: 42, left: 54 };

function svgEl(name, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.append(e);
  return e;
}

function withTip(e, text) {
  svgEl("title", {}, e).textContent = text;
  return e;
}

// About n round ticks (steps of 1, 2 or 5 times a power of ten) covering [lo, hi].
function ticks(lo, hi, n = 5, integer = false) {
  if (!(hi > lo)) return [lo];
  let step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
  for (const m of [1, 2, 5, 10]) {
    if ((hi - lo) / (step * m) <= n) { step *= m; break; }
  }
  if (integer) step = Math.max(1, Math.round(step));
  const out = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    out.push(Number(t.toFixed(10)));
  }
  return out;
}

export function number(v) {
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en");
  return String(Number(v.toFixed(2)));
}

// Axes, grid and labels; returns the scales of the plotting area.
function frame(container, o) {
  const [x0, x1] = o.x;
  const [y0, y1] = o.y;
  const H = o.height || 270;
  const W = Math.max(MIN_WIDTH, Math.round(o.width || 560));
  const svg = svgEl("svg", {
    viewBox: `0 0 ${W} ${H}`, class: `chart ${o.className || ""}`, role: "img",
    "aria-label": o.title || o.yLabel,
  });
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (v) => M.left + (x1 === x0 ? pw / 2 : ((v - x0) / (x1 - x0)) * pw);
  const sy = (v) => M.top + ph - (y1 === y0 ? ph / 2 : ((v - y0) / (y1 - y0)) * ph);
  const grid = svgEl("g", { class: "grid" }, svg);
  const axis = svgEl("g", { class: "axis" }, svg);
  const xFormat = o.xFormat || number;
  const yFormat = o.yFormat || number;
  for (const t of o.yTicks || ticks(y0, y1)) {
    svgEl("line", { x1: M.left, x2: W - M.right, y1: sy(t), y2: sy(t) }, grid);
    svgEl("text", { x: M.left - 7, y: sy(t) + 4, "text-anchor": "end" }, axis).textContent =
      yFormat(t);
  }
  for (const t of o.xTicks || ticks(x0, x1, 6)) {
    svgEl("line", { x1: sx(t), x2: sx(t), y1: M.top + ph, y2: M.top + ph + 4 }, axis);
    svgEl("text", { x: sx(t), y: M.top + ph + 17, "text-anchor": "middle" }, axis).textContent =
      xFormat(t);
  }
  svgEl("line", { x1: M.left, x2: W - M.right, y1: M.top + ph, y2: M.top + ph }, axis);
  svgEl("text", { x: M.left + pw / 2, y: H - 6, "text-anchor": "middle" }, axis).textContent =
    o.xLabel;
  svgEl("text", {
    transform: `translate(14 ${M.top + ph / 2}) rotate(-90)`, "text-anchor": "middle",
  }, axis).textContent = o.yLabel;
  container.append(svg);
  return { svg, sx, sy, left: M.left, right: W - M.right, top: M.top, bottom: M.top + ph };
}

// Points joined by a line (a null y leaves a gap), with dashed reference lines, and
// o.current (optional, hollow, not joined): a value still moving.
// o: {points: [{x, y, tip}], current: {x, y, tip}, x: [lo, hi], y: [lo, hi],
//     refs: [{y, label, cls}], …labels}
export function lineChart(container, o) {
  const f = frame(container, o);
  for (const ref of o.refs || []) {
    const g = svgEl("g", { class: `ref ${ref.cls || ""}` }, f.svg);
    svgEl("line", { x1: f.left, x2: f.right, y1: f.sy(ref.y), y2: f.sy(ref.y) }, g);
    svgEl("text", { x: f.left + 6, y: f.sy(ref.y) - 5 }, g).textContent = ref.label;
  }
  let run = [];
  const runs = [run];
  for (const p of o.points) {
    if (p.y === null || p.y === undefined) { run = []; runs.push(run); continue; }
    run.push(`${f.sx(p.x).toFixed(1)},${f.sy(p.y).toFixed(1)}`);
  }
  for (const r of runs) {
    if (r.length > 1) svgEl("polyline", { class: "series", points: r.join(" ") }, f.svg);
  }
  for (const p of o.points) {
    if (p.y === null || p.y === undefined) continue;
    withTip(svgEl("circle", {
      class: "point", cx: f.sx(p.x), cy: f.sy(p.y), r: 4, "data-x": p.x, "data-y": p.y,
    }, f.svg), p.tip);
  }
  const c = o.current;
  if (c && c.y !== null && c.y !== undefined) {
    withTip(svgEl("circle", {
      class: "point current", cx: f.sx(c.x), cy: f.sy(c.y), r: 4.5, "data-x": c.x, "data-y": c.y,
    }, f.svg), c.tip);
  }
  return f.svg;
}

// A histogram: o.edges (n + 1) and o.counts (n). With o.integer, bin i holds the value
// edges[i] (appearances per image) and its bar is centred on it. A dotted line marks
// o.mean, labelled o.meanLabel (default "mean …").
export function barChart(container, o) {
  const off = o.integer ? 0.5 : 0;
  const edges = o.edges.map((e) => e - off);
  const top = Math.max(1, ...o.counts);
  const yTicks = ticks(0, top, 4, true);
  // a few bins at least, so one lone bar (nothing compared yet) is not the whole width
  const right = o.integer ? Math.max(edges[edges.length - 1], edges[0] + 6) : edges[edges.length - 1];
  const f = frame(container, {
    ...o,
    x: [edges[0], right],
    y: [0, Math.max(top, yTicks[yTicks.length - 1])],
    yTicks,
    xTicks: o.integer ? ticks(o.edges[0], right - 0.5, 8, true) : undefined,
  });
  o.counts.forEach((n, i) => {
    const a = f.sx(edges[i]);
    const b = f.sx(edges[i + 1]);
    const gap = Math.min(2, (b - a) * 0.15);
    withTip(svgEl("rect", {
      class: "bar", x: a + gap / 2, width: Math.max(0.5, b - a - gap),
      y: f.sy(n), height: f.bottom - f.sy(n), "data-count": n, "data-from": o.edges[i],
    }, f.svg), o.tip(n, o.edges[i], o.edges[i + 1]));
  });
  if (o.mean !== null && o.mean !== undefined) {
    const g = svgEl("g", { class: "mean" }, f.svg);
    const x = f.sx(o.mean);
    svgEl("line", { x1: x, x2: x, y1: f.top, y2: f.bottom }, g);
    // the label on the side with more room, so it stays inside the chart
    const left = x > (f.left + f.right) / 2;
    svgEl("text", { x: left ? x - 4 : x + 4, y: f.top + 10, "text-anchor": left ? "end" : "start" },
      g).textContent = o.meanLabel || `mean ${number(o.mean)}`;
  }
  return f.svg;
}
