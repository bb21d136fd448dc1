// The statistics page: everything is drawn from GET /api/progress.
import { api } from "./api.js";
import { barChart, lineChart, number } from "./charts.js";
import { percent } from "./format.js";

function when(t) { return new Date(t * 1000).toLocaleString(); }

function summaryTile(value, label) {
  const div = document.createElement("div");
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

function render(data) {
  const batches = data.batches;
  const last = batches.length ? batches[batches.length - 1] : null;
  const perImage = data.images ? data.comparisons / data.images : 0;
  document.getElementById("summary").replaceChildren(
    summaryTile(data.images.toLocaleString("en"), "images"),
    summaryTile(data.comparisons.toLocaleString("en"),
      `comparisons (${perImage.toFixed(2)} per image)`),
    summaryTile(String(data.per_image.counts[0] || 0), "never compared"),
    summaryTile(String(batches.length), "batches"),
    summaryTile(percent(last && last.agreement), "agreement, last batch"),
    summaryTile(percent(data.ceiling), `ceiling (${data.ceiling_source})`),
  );

  const noBatches = "No batch finished yet: a batch is stored every --batch choices.";
  const xMax = Math.max(1, ...batches.map((b) => b.choices_so_far));
  const tip = (b, what) => `batch ${b.id}: ${what}\n${b.choices} choices, ` +
    `${b.choices_so_far} in all\nended ${when(b.ended_at)}`;

  const agreement = document.querySelector("#agreement .plot");
  agreement.replaceChildren();
  if (batches.some((b) => b.agreement !== null)) {
    const ys = batches.map((b) => b.agreement).filter((y) => y !== null);
    const lo = Math.min(0.4, Math.floor(10 * Math.min(...ys)) / 10);
    lineChart(agreement, {
      title: "Agreement per batch",
      points: batches.map((b) => ({ x: b.choices_so_far, y: b.agreement,
        tip: tip(b, `agreement ${percent(b.agreement)} (${b.matched} matched, ` +
          `${b.contradicted} contradicted)`) })),
      x: [0, xMax], y: [lo, 1],
      xLabel: "choices made", yLabel: "agreement", yFormat: percent,
      refs: [
        { y: data.ceiling, label: ceilingLabel(data), cls: "ceiling" },
        { y: 0.5, label: "chance", cls: "chance" },
      ],
    });
  } else {
    empty(agreement, noBatches);
  }

  const convergence = document.querySelector("#convergence .plot");
  convergence.replaceChildren();
  if (batches.some((b) => b.convergence !== null)) {
    const ys = batches.map((b) => b.convergence).filter((y) => y !== null);
    const lo = Math.min(0.5, Math.floor(10 * Math.min(...ys)) / 10);
    lineChart(convergence, {
      title: "Ranking convergence",
      points: batches.map((b) => ({ x: b.choices_so_far, y: b.convergence,
        tip: tip(b, `Spearman ρ ${b.convergence === null ? "–" : b.convergence.toFixed(3)}`) })),
      x: [0, xMax], y: [lo, 1],
      xLabel: "choices made", yLabel: "Spearman ρ, before vs after",
    });
  } else {
    empty(convergence, batches.length ? "Needs a second batch: the first one starts " +
      "from a flat ranking." : noBatches);
  }

  const perImageBox = document.querySelector("#per-image .plot");
  perImageBox.replaceChildren();
  barChart(perImageBox, {
    title: "Comparisons per image",
    edges: data.per_image.edges, counts: data.per_image.counts, integer: true,
    mean: data.per_image.mean,
    xLabel: "comparisons", yLabel: "images",
    tip: (n, from) => `${n} image${n === 1 ? "" : "s"} compared ${from} time${from === 1 ? "" : "s"}`,
  });

  const scores = document.querySelector("#scores .plot");
  scores.replaceChildren();
  const model = data.scores.model;
  const range = (n, a, b) => `${n} image${n === 1 ? "" : "s"} scored ${number(a)} to ${number(b)}`;
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
