// The statistics page: everything is drawn from GET /api/progress. Each count has one
// word: choices (decisions on a set shown), appearances (an image shown in a set) and
// pairwise outcomes (the winner-loser pairs a choice implies).
import { api } from "./api.js";
import { barChart, lineChart, number } from "./charts.js";
import { count, percent, perImage } from "./format.js";

let shown = null;  // the data drawn, to draw again at a new width

function when(t) { return new Date(t * 1000).toLocaleString(); }

function plural(n, word) { return `${count(n)} ${word}${n === 1 ? "" : "s"}`; }

// A figure of the summary: its value, what it counts (`key`, for tests and styles), a label.
function summaryTile(key, value, label) {
  const div = document.createElement("div");
  div.dataset.key = key;
  const b = document.createElement("b");
  b.textContent = value;
  const span = document.createElement("span");
  span.textContent = label;
  div.append(b, span);
  return div;
}

function empty(box, text) {
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = text;
  box.append(p);
}

function ceilingLabel(data) {
  return `ceiling ${percent(data.ceiling)} (${data.ceiling_source})`;
}

// "37 of 100 choices" (or "37 choices" where the batch's size is unknown)
function batchProgress(current) {
  return current.size ? `${count(current.choices)} of ${plural(current.size, "choice")}`
    : plural(current.choices, "choice");
}

function currentTip(current) {
  return `current batch (unfinished): ${batchProgress(current)} so far\nagreement ` +
    `${percent(current.agreement)} (${current.matched} matched, ${current.contradicted} ` +
    `contradicted)\n${count(current.choices_so_far)} choices in all`;
}

function plotBox(key) {
  const box = document.querySelector(`#${key} .plot`);
  box.replaceChildren();
  return box;
}

// One value per batch (`key`, null where a batch has none) over the choices made, in the
// panel of the same id: from 1 down to `floor`, or lower if a value is (with room below
// it, off the axis); `describe(b)` heads a point's tip, `none` is said when there is
// nothing to draw. `current`, if given, is the batch under way, drawn hollow; the x axis
// reaches where it will end.
function batchChart(data, key, { floor, describe, none, current = null, ...options }) {
  const box = plotBox(key);
  const batches = data.batches;
  const ys = batches.map((b) => b[key]).filter((y) => y !== null);
  const now = current && current.agreement !== null ? current : null;
  if (now) ys.push(now.agreement);
  if (!ys.length) {
    empty(box, none);
    return;
  }
  const tip = (b) => `batch ${b.number}: ${describe(b)}\n${b.choices} choices, ` +
    `${b.choices_so_far} in all\nended ${when(b.ended_at)}`;
  const ends = batches.map((b) => b.choices_so_far);
  if (now) ends.push(now.choices_so_far + Math.max(0, (now.size || 0) - now.choices));
  lineChart(box, {
    ...options,
    width: box.clientWidth,
    points: batches.map((b) => ({ x: b.choices_so_far, y: b[key], tip: tip(b) })),
    current: now && { x: now.choices_so_far, y: now.agreement, tip: currentTip(now) },
    x: [0, Math.max(1, ...ends)],
    y: [Math.min(floor, Math.floor(10 * Math.min(...ys) - 0.5) / 10), 1],
    xLabel: "choices",
  });
}

function summary(data) {
  const batches = data.batches;
  const last = batches.length ? batches[batches.length - 1] : null;
  const current = data.current;
  const h = data.appearances_per_image;
  const tiles = [
    summaryTile("images", count(data.images), "images"),
    summaryTile("never-shown", count(h.counts[0] || 0), "never shown"),
    summaryTile("choices", count(data.choices),
      `choices (${perImage(data.images ? data.choices / data.images : 0)} per image)`),
    summaryTile("appearances", count(data.appearances),
      `appearances (${perImage(h.mean || 0)} per image)`),
    summaryTile("pairwise-outcomes", count(data.pairwise_outcomes), "pairwise outcomes"),
    summaryTile("agreement", percent(data.agreement.agreement),
      `agreement, all ${plural(data.choices, "choice")}`),
    summaryTile("batches", count(batches.length),
      batches.length === 1 ? "batch finished" : "batches finished"),
  ];
  if (current) {
    tiles.push(summaryTile("current",
      current.size ? `${count(current.choices)} / ${count(current.size)}` : count(current.choices),
      `choices in the current batch, agreement ${percent(current.agreement)}`));
  }
  if (last) tiles.push(summaryTile("last-batch", percent(last.agreement), "agreement, last batch"));
  tiles.push(summaryTile("ceiling", percent(data.ceiling), `ceiling (${data.ceiling_source})`));
  document.getElementById("summary").replaceChildren(...tiles);
}

function render(data) {
  shown = data;
  summary(data);
  const batches = data.batches;
  const current = data.current;
  const noBatch = current && current.choices
    ? `No batch finished yet (${batchProgress(current)} so far).`
    : "No choice yet: a batch is stored every --batch choices.";
  batchChart(data, "agreement", {
    floor: 0.4, current,
    none: batches.length ? "No agreement yet: the database had scored the images of " +
      "every choice alike, so it foresaw none." : noBatch,
    describe: (b) => `agreement ${percent(b.agreement)} (${b.matched} matched, ` +
      `${b.contradicted} contradicted)`,
    title: "Agreement per batch", yLabel: "agreement", yFormat: percent,
    refs: [
      { y: data.ceiling, label: ceilingLabel(data), cls: "ceiling" },
      { y: 0.5, label: "chance", cls: "chance" },
    ],
  });
  batchChart(data, "convergence", {
    floor: 0.5,
    none: batches.length ? "Needs a second batch: the first one starts from a flat ranking."
      : noBatch,
    describe: (b) => `Spearman ρ ${b.convergence === null ? "–" : b.convergence.toFixed(3)}`,
    title: "Ranking convergence", yLabel: "Spearman ρ, before vs after",
  });

  const perImageBox = plotBox("per-image");
  const h = data.appearances_per_image;
  barChart(perImageBox, {
    title: "Appearances per image", width: perImageBox.clientWidth,
    edges: h.edges, counts: h.counts, integer: true,
    mean: h.mean, meanLabel: `mean ${perImage(h.mean || 0)} per image`,
    xLabel: "appearances (times shown)", yLabel: "images",
    tip: (n, times) => `${plural(n, "image")} shown ${times} time${times === 1 ? "" : "s"}`,
  });

  const scores = plotBox("scores");
  const width = scores.clientWidth;
  const model = data.scores.model;
  const range = (n, a, b) => `${plural(n, "image")} scored ${number(a)} to ${number(b)}`;
  if (model) {
    const h3 = document.createElement("h3");
    h3.textContent = "Database (Elo)";
    scores.append(h3);
  }
  barChart(scores, {
    title: "Database scores", ...data.scores.database, mean: null, height: model ? 190 : 270,
    width, xLabel: "Elo score", yLabel: "images", tip: range,
  });
  document.getElementById("scores-model-note").hidden = !model;
  if (model) {
    const h3 = document.createElement("h3");
    h3.textContent = "Model";
    scores.append(h3);
    barChart(scores, {
      title: "Model scores", className: "model", ...model, mean: null, height: 190,
      width, xLabel: "model score", yLabel: "images", tip: range,
    });
  }
  document.body.dataset.state = "ready";
}

async function refresh() {
  const message = document.getElementById("message");
  try {
    render(await api("GET", "/api/progress"));
    message.textContent = "";
  } catch (error) {
    message.textContent = `Cannot load the statistics: ${error.message}`;
  }
}

// The charts are drawn at their boxes' width: drawn again when it changes.
let width = innerWidth;
addEventListener("resize", () => {
  if (innerWidth === width || !shown) return;
  width = innerWidth;
  requestAnimationFrame(() => render(shown));
});
// Coming back from the rating tab shows the latest numbers.
document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
refresh();
