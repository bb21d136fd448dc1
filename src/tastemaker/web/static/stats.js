// The statistics page: everything is drawn from GET /api/progress. Each count has one
// word: choices (decisions on a set shown), appearances (an image shown in a set) and
// pairwise outcomes (the winner-loser pairs a choice implies).
import { api } from "./api.js";
import { barChart, lineChart, number } from "./charts.js";
import { count, percent, perImage } from "./format.js";

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

// One value per batch (`key`, null where a batch has none) over the choices made, in the
// panel of the same id: from 1 down to `floor`, or lower if a value is; `describe(b)`
// heads a point's tip, `none` is said when no batch has a value.
function batchChart(batches, key, { floor, describe, none, ...options }) {
  const box = document.querySelector(`#${key} .plot`);
  box.replaceChildren();
  const ys = batches.map((b) => b[key]).filter((y) => y !== null);
  if (!ys.length) {
    empty(box, none);
    return;
  }
  const tip = (b) => `batch ${b.id}: ${describe(b)}\n${b.choices} choices, ` +
    `${b.choices_so_far} in all\nended ${when(b.ended_at)}`;
  lineChart(box, {
    ...options,
    points: batches.map((b) => ({ x: b.choices_so_far, y: b[key], tip: tip(b) })),
    x: [0, Math.max(1, ...batches.map((b) => b.choices_so_far))],
    y: [Math.min(floor, Math.floor(10 * Math.min(...ys)) / 10), 1],
    xLabel: "choices",
  });
}

function render(data) {
  const batches = data.batches;
  const last = batches.length ? batches[batches.length - 1] : null;
  const h = data.appearances_per_image;
  document.getElementById("summary").replaceChildren(
    summaryTile("images", count(data.images), "images"),
    summaryTile("never-shown", count(h.counts[0] || 0), "never shown"),
    summaryTile("choices", count(data.choices),
      `choices (${perImage(data.images ? data.choices / data.images : 0)} per image)`),
    summaryTile("appearances", count(data.appearances),
      `appearances (${perImage(h.mean || 0)} per image)`),
    summaryTile("pairwise-outcomes", count(data.pairwise_outcomes), "pairwise outcomes"),
    summaryTile("batches", count(batches.length),
      batches.length === 1 ? "batch finished" : "batches finished"),
    summaryTile("last-batch", percent(last && last.agreement), "agreement, last batch"),
    summaryTile("ceiling", percent(data.ceiling), `ceiling (${data.ceiling_source})`),
  );

  const noBatches = "No batch finished yet: a batch is stored every --batch choices.";
  batchChart(batches, "agreement", {
    floor: 0.4, none: noBatches,
    describe: (b) => `agreement ${percent(b.agreement)} (${b.matched} matched, ` +
      `${b.contradicted} contradicted)`,
    title: "Agreement per batch", yLabel: "agreement", yFormat: percent,
    refs: [
      { y: data.ceiling, label: ceilingLabel(data), cls: "ceiling" },
      { y: 0.5, label: "chance", cls: "chance" },
    ],
  });
  batchChart(batches, "convergence", {
    floor: 0.5,
    none: batches.length ? "Needs a second batch: the first one starts from a flat ranking."
      : noBatches,
    describe: (b) => `Spearman ρ ${b.convergence === null ? "–" : b.convergence.toFixed(3)}`,
    title: "Ranking convergence", yLabel: "Spearman ρ, before vs after",
  });

  const perImageBox = document.querySelector("#per-image .plot");
  perImageBox.replaceChildren();
  barChart(perImageBox, {
    title: "Appearances per image",
    edges: h.edges, counts: h.counts, integer: true,
    mean: h.mean, meanLabel: `mean ${perImage(h.mean || 0)} per image`,
    xLabel: "appearances (times shown)", yLabel: "images",
    tip: (n, times) => `${plural(n, "image")} shown ${times} time${times === 1 ? "" : "s"}`,
  });

  const scores = document.querySelector("#scores .plot");
  scores.replaceChildren();
  const model = data.scores.model;
  const range = (n, a, b) => `${plural(n, "image")} scored ${number(a)} to ${number(b)}`;
  if (model) {
    const h = document.createElement("h3");
    h.textContent = "Database (Elo)";
    scores.append(h);
  }
  barChart(scores, {
    title: "Database scores", ...data.scores.database, mean: null, height: model ? 190 : 270,
    xLabel: "Elo score", yLabel: "images", tip: range,
  });
  document.getElementById("scores-model-note").hidden = !model;
  if (model) {
    const h = document.createElement("h3");
    h.textContent = "Model";
    scores.append(h);
    barChart(scores, {
      title: "Model scores", className: "model", ...model, mean: null, height: 190,
      xLabel: "model score", yLabel: "images", tip: range,
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

// Coming back from the rating tab shows the latest numbers.
document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
refresh();
