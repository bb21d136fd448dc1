// The rating page. The next sets are fetched and their images decoded while the person
// looks at the current one; a choice is shown as made only after the server has
// committed it, and then the next (already decoded) set appears at once.
import { api } from "./api.js";
import { percent } from "./format.js";

const QUEUE = 2;                    // sets kept ready beyond the one on screen
const stage = document.getElementById("stage");
const statsLine = document.getElementById("stats");
const message = document.getElementById("message");
const overlay = document.getElementById("overlay");
const oddLine = document.getElementById("odd");

let current = null;                 // {pair, images, elements}
let shownAt = 0;
let busy = false;                   // a choice or undo is on its way
let ended = false;
const queue = [];                   // promises of ready sets
const myChoices = [];               // this tab's choices, newest last, for undo

async function prepare(set) {
  const elements = await Promise.all(set.images.map(async (image) => {
    const img = new Image();
    img.src = image.url;
    img.alt = image.path;
    img.dataset.id = image.id;
    img.title = image.path;
    try { await img.decode(); } catch { /* shown broken rather than blocking */ }
    return img;
  }));
  return { ...set, elements };
}

function refill() {
  while (queue.length < QUEUE) {
    queue.push(api("GET", "/api/next").then(prepare));
  }
}

function show(set) {
  current = set;
  stage.replaceChildren(...set.elements.map((img, i) => {
    const box = document.createElement("div");
    box.className = "choice";
    box.dataset.id = img.dataset.id;
    const key = document.createElement("span");
    key.className = "key";
    key.textContent = String(i + 1);
    box.append(img, key);
    box.addEventListener("click", () => choose(i));
    return box;
  }));
  document.body.dataset.pair = set.pair;
  document.body.dataset.state = "ready";
  shownAt = performance.now();
}

async function showNext() {
  refill();
  const set = await queue.shift();
  refill();
  show(set);
}

function oddOneOut(o) {
  return `odd one out: you ${o.human} · model ${o.model} · database ${o.database} · ` +
    `all agree ${o.all_agree} · draw ${o.draw}`;
}

// The ceiling is the server's: the person's own consistency once measured, else typical.
function ceiling(c) {
  return c.ceiling_source === "personal"
    ? `${percent(c.ceiling)}: you repeat ${c.consistent} of ${c.repeats} choices`
    : `${percent(c.ceiling)} typical`;
}

function renderStats(session, library) {
  statsLine.textContent =
    `${session.choices} choices · ${session.per_minute.toFixed(1)}/min · ` +
    `agreement ${percent(session.agreement)} this session, ` +
    `${percent(library.agreement)} overall ` +
    `(ceiling ${ceiling(library.consistency)}) · ` +
    `${library.choices_per_image.toFixed(2)} choices per image · ${library.never_shown} never shown`;
  // the server's advice, sent once the model has been asked about a choice
  oddLine.textContent =
    library.advice ? `${oddOneOut(library.odd_one_out)} — ${library.advice}` : "";
  document.body.dataset.choices = String(session.choices);
}

function report(title, lines, hint = "Press any key or click to carry on.") {
  document.getElementById("overlay-title").textContent = title;
  document.getElementById("overlay-body").textContent = lines.join("\n");
  document.getElementById("overlay-hint").textContent = hint;
  overlay.hidden = false;
}

function agreementLine(s) {
  return `matched ${s.matched} · contradicted ${s.contradicted} · not predicted ` +
    `${s.unpredicted} · agreement ${percent(s.agreement)}`;
}

async function choose(index) {
  if (busy || ended || !current || index >= current.images.length) return;
  busy = true;
  const set = current;
  const ms = Math.round(performance.now() - shownAt);
  set.elements[index].parentElement.classList.add("picked");
  try {
    const result = await api("POST", "/api/choose",
      { pair: set.pair, winner: set.images[index].id, ms });
    myChoices.push(result.choice);
    renderStats(result.session, result.library);
    if (result.batch) {
      const b = result.batch;
      report(`Batch done: ${b.choices} choices in ${(b.seconds / 60).toFixed(1)} min`, [
        `This batch: ${agreementLine(b)}`,
        `Library: ${result.library.choices} choices, ` +
          `${result.library.choices_per_image.toFixed(2)} per image, ` +
          `${result.library.never_shown} of ${result.library.images} images never shown`,
        `Overall: ${agreementLine(result.library)}`,
        ...(b.odd_one_out ? [`This batch, ${oddOneOut(b.odd_one_out)}`,
          result.library.advice] : []),
      ]);
    }
    message.textContent = "";
    await showNext();
  } catch (error) {
    set.elements[index].parentElement.classList.remove("picked");
    if (error.status === 409) {          // the set went stale (e.g. the server restarted)
      queue.length = 0;
      message.textContent = "That set had expired; here is a fresh one.";
      await showNext();
    } else {
      message.textContent = `Not saved: ${error.message}`;
    }
  } finally {
    busy = false;
  }
}

async function undo() {
  if (busy || ended) return;
  if (!myChoices.length) { message.textContent = "Nothing to undo."; return; }
  busy = true;
  try {
    const result = await api("POST", "/api/undo", { choice: myChoices[myChoices.length - 1] });
    myChoices.pop();
    renderStats(result.session, result.library);
    if (current) queue.unshift(Promise.resolve(current));  // keep the set we had up
    show(await prepare(result.set));
    message.textContent = "Undone: choose again.";
  } catch (error) {
    message.textContent = `Undo failed: ${error.message}`;
  } finally {
    busy = false;
  }
}

async function skip() {
  if (busy || ended) return;
  busy = true;
  try { await showNext(); } finally { busy = false; }
}

async function end() {
  if (ended) return;
  ended = true;
  const result = await api("POST", "/api/end");
  const s = result.session;
  const l = result.library;
  document.body.dataset.state = "ended";
  report("Session ended", [
    `${s.choices} choices in ${(s.seconds / 60).toFixed(1)} min (${s.per_minute.toFixed(1)}/min)`,
    `This session: ${agreementLine(s)}`,
    `Library: ${l.images} images, ${l.never_shown} never shown, ` +
      `${l.choices} choices (${l.choices_per_image.toFixed(2)} per image)`,
    `Overall: ${agreementLine(l)}`,
  ], "Every choice is saved. You can close this tab.");
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (!overlay.hidden) {
    if (!ended) { overlay.hidden = true; event.preventDefault(); }
    return;
  }
  const n = current ? current.images.length : 0;
  const key = event.key;
  if (key >= "1" && key <= "9") choose(Number(key) - 1);
  else if (key === "ArrowLeft") choose(0);
  else if (key === "ArrowRight") choose(n - 1);
  else if (key === "z" || key === "Backspace") undo();
  else if (key === "s") skip();
  else if (key === "q") end();
  else return;
  event.preventDefault();
});
overlay.addEventListener("click", () => { if (!ended) overlay.hidden = true; });

(async () => {
  try {
    const stats = await api("GET", "/api/stats");
    renderStats(stats.session, stats.library);
    await showNext();
  } catch (error) {
    message.textContent = `Cannot reach the server: ${error.message}`;
  }
})();
