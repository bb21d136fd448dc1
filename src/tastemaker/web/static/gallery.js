// The gallery: the library's images sorted by the database's or the model's score (or
// another profile's database score in the model's place), a page at a time as the person
// scrolls; thumbnails load lazily; a click enlarges.
import { api } from "./api.js";

const PAGE = 60;
const grid = document.getElementById("grid");
const more = document.getElementById("more");
const count = document.getElementById("count");
const message = document.getElementById("message");
const lightbox = document.getElementById("lightbox");
const controls = {
  sort: document.getElementById("sort"),
  order: document.getElementById("order"),
  folder: document.getElementById("folder"),
  versus: document.getElementById("versus"),
};

let images = [];          // the images shown so far, in order
let total = null;         // how many match the filter
let hasModel = false;
let everything = 0;       // present images in the library, what the ranks count
let generation = 0;       // bumped when the sort or filter changes; stale answers are dropped
let inFlight = null;      // the generation whose next page is being fetched
let open = -1;            // index of the enlarged image, -1 when none

function signed(x) { return x === null || x === undefined ? "–" : (x >= 0 ? "+" : "") + x.toFixed(3); }

// the model's score, "± its uncertainty" after it where the model gives one (a kernel model)
function modelScore(im) {
  const spread = im.model_uncertainty ?? null;
  return signed(im.model_score) + (spread === null ? "" : ` ± ${spread.toFixed(2)}`);
}

function span(cls, ...children) {
  const s = document.createElement("span");
  s.className = cls;
  s.append(...children);
  return s;
}

function appearances(im) {
  return `${im.appearances} appearance${im.appearances === 1 ? "" : "s"}`;
}

// what stands against the database: the model in the loop, or another profile's database
function against() { return controls.versus.value || "model"; }

function describe(im) {
  const parts = [`#${im.rank} database ${signed(im.score)}`];
  if (hasModel) parts.push(`#${im.model_rank ?? "–"} ${against()} ${modelScore(im)}`);
  parts.push(appearances(im));
  return parts.join(" · ");
}

// A caption's figure: a label ("db #3") and its value, pieces short enough for the
// narrowest tile, which the row wraps between rather than clip.
function figure(cls, label, value) {
  return span(cls, span("", label), " ", span("", value));
}

function row(...children) {
  const div = document.createElement("div");
  div.className = "row";
  div.append(...children);
  return div;
}

function tile(im, index) {
  const t = document.createElement("div");
  t.className = "tile";
  t.tabIndex = 0;
  t.role = "button";
  t.dataset.id = im.id;
  t.dataset.index = index;
  t.dataset.score = im.score;
  t.dataset.modelScore = im.model_score ?? "";
  t.dataset.modelUncertainty = im.model_uncertainty ?? "";
  t.dataset.path = im.path;
  t.title = `${im.path}\n${describe(im)}`;
  const frame = document.createElement("div");
  frame.className = "frame";
  const img = document.createElement("img");
  img.loading = "lazy";
  img.decoding = "async";
  img.src = im.thumb;
  img.alt = im.path;
  frame.append(img);
  const caption = document.createElement("div");
  caption.className = "caption";
  caption.append(row(figure("db", `db #${im.rank}`, signed(im.score)),
    span("n", appearances(im))));
  if (hasModel) {
    const m = figure("model", `${against()} #${im.model_rank ?? "–"}`, modelScore(im));
    const apart = im.model_rank === null ? 0 : Math.abs(im.rank - im.model_rank);
    const far = apart > Math.max(3, 0.25 * everything);
    caption.append(row(m, far ? span("far", `Δ${apart} places`) : ""));
  }
  caption.append(span("path", im.path));
  t.append(frame, caption);
  t.addEventListener("click", () => enlarge(index));
  t.addEventListener("keydown", (e) => { if (e.key === "Enter") enlarge(index); });
  return t;
}

let folderList = "";
function fillFolders(folders) {
  const key = JSON.stringify(folders);
  if (key === folderList) return;
  folderList = key;
  const current = controls.folder.value;
  controls.folder.replaceChildren(...folders.map((f) => {
    const option = document.createElement("option");
    option.value = f.path;
    option.textContent = f.path === "" ? `all folders (${f.images})` : `${f.path} (${f.images})`;
    return option;
  }));
  controls.folder.value = current;
}

function orderLabels() {
  const name = controls.versus.value;
  controls.sort.querySelector("option[value=model]").textContent =
    name ? `${name}'s database score` : "model score";
  controls.sort.querySelector("option[value=disagreement]").textContent =
    `${name || "model"} vs database disagreement`;
  const [desc, asc] = controls.order.options;
  const apart = controls.sort.value === "disagreement";
  desc.textContent = apart ? "most disagreement first" : "best first";
  asc.textContent = apart ? "least disagreement first" : "worst first";
}

function query() {
  const q = { sort: controls.sort.value, order: controls.order.value, folder: controls.folder.value };
  return controls.versus.value ? { ...q, versus: controls.versus.value } : q;
}

// the library's other profiles, each one's scores to set against this profile's
async function fillProfiles(wanted) {
  const { profile, profiles } = await api("GET", "/api/profiles");
  const others = profiles.filter((name) => name !== profile);
  controls.versus.append(...others.map((name) => {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = `${name}'s database`;
    return option;
  }));
  document.getElementById("versus-label").hidden = others.length === 0;
  if (others.includes(wanted)) controls.versus.value = wanted;
}

async function load(reset = false) {
  if (reset) {
    orderLabels();
    generation += 1;
    images = [];
    total = null;
    grid.replaceChildren();
    history.replaceState(null, "", `?${new URLSearchParams(query())}`);
  }
  if (inFlight === generation || (total !== null && images.length >= total)) return;
  const gen = generation;
  inFlight = gen;
  more.textContent = "loading…";
  try {
    const q = new URLSearchParams({ ...query(), offset: images.length, limit: PAGE });
    const data = await api("GET", `/api/gallery?${q}`);
    if (gen !== generation) return;
    hasModel = data.has_model;
    for (const value of ["model", "disagreement"]) {
      controls.sort.querySelector(`option[value=${value}]`).disabled = !hasModel;
    }
    fillFolders(data.folders);
    everything = data.folders.length ? data.folders[0].images : 0;
    total = data.total;
    const start = images.length;
    images.push(...data.images);
    grid.append(...data.images.map((im, i) => tile(im, start + i)));
    count.textContent = `${total} image${total === 1 ? "" : "s"}` +
      (hasModel ? "" : " · no model in the loop (rate with --model to compare)" +
        (controls.versus.options.length > 1 ? ", or set another profile against it" : ""));
    more.textContent = images.length < total ? "" : total ? "" : "No images here.";
    message.textContent = "";
    document.body.dataset.loaded = String(images.length);
    document.body.dataset.state = "ready";
  } catch (error) {
    message.textContent = `Cannot load the gallery: ${error.message}`;
    more.textContent = "";
  } finally {
    if (inFlight === gen) inFlight = null;
  }
  if (gen === generation && more.getBoundingClientRect().top < innerHeight + 800) load();
}

function enlarge(index) {
  const im = images[index];
  if (!im) return;
  open = index;
  const img = lightbox.querySelector("img");
  img.src = im.url;
  img.alt = im.path;
  const caption = lightbox.querySelector(".caption");
  caption.replaceChildren(document.createTextNode(im.path), document.createElement("br"),
    span("dim", `${describe(im)} · ← → to step, Esc to close`));
  lightbox.hidden = false;
  lightbox.dataset.id = im.id;
  if (index > images.length - 5) load();
}

function close() {
  lightbox.hidden = true;
  open = -1;
}

lightbox.addEventListener("click", close);
document.addEventListener("keydown", (event) => {
  if (lightbox.hidden) return;
  if (event.key === "Escape") close();
  else if (event.key === "ArrowRight") enlarge(Math.min(open + 1, images.length - 1));
  else if (event.key === "ArrowLeft") enlarge(Math.max(open - 1, 0));
  else return;
  event.preventDefault();
});
for (const select of Object.values(controls)) select.addEventListener("change", () => load(true));
new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) load();
}, { rootMargin: "800px" }).observe(more);

const params = new URLSearchParams(location.search);
controls.sort.value = params.get("sort") || "database";
controls.order.value = params.get("order") || "desc";
if (params.get("folder")) {
  const option = document.createElement("option");
  option.value = option.textContent = params.get("folder");
  controls.folder.append(option);
  controls.folder.value = option.value;
}
fillProfiles(params.get("versus")).catch((error) => {
  message.textContent = `Cannot list the profiles: ${error.message}`;
}).finally(() => load(true));
