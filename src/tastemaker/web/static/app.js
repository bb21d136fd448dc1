// The rating page. The next sets are fetched and their images decoded while the person
// looks at the current one; a choice is shown as made only after the server has
// committed it, and then the next (already decoded) set appears at once.
import { api } from "./api.js";
import { percent } from "./format.js";

const QUEUE = 3;                    // sets kept ready beyond the one on screen
const ACTUAL_KEY = "tastemaker.actualSize";  // the person's choice, kept across visits
const stage = document.getElementById("stage");
const statsLine = document.getElementById("stats");
const message = document.getElementById("message");
const alertBox = document.getElementById("alert");
const overlay = document.getElementById("overlay");
const oddLine = document.getElementById("odd");
const confirmEnd = document.getElementById("confirm");
const buttons = {
  undo: document.getElementById("undo"),
  skip: document.getElementById("skip"),
  actual: document.getElementById("actual"),
  end: document.getElementById("end"),
};

let current = null;                 // {pair, images, elements}
let shownAt = 0;
let busy = false;                   // a choice, undo or skip is on its way
let pending = null;                 // the key action asked for while busy, run after
let ended = false;
let hasModel = false;               // whether the server consults a model
let sessionChoices = 0;             // the session's standing choices, as last told
let actualSize = localStorage.getItem(ACTUAL_KEY) === "1";
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
    const next = api("GET", "/api/next").then(prepare);
    next.catch(() => {});           // reported when the page waits for it
    queue.push(next);
  }
}

// Every image of a set is drawn fitted to the same box, small ones enlarged, so that
// size never tips a choice; "actual size" draws each at its own size (at most the box).
// The boxes are laid out in the grid (one row, one column, two by two…) that draws the
// set largest: side by side on a wide screen, one above the other on an upright one.
function fit() {
  if (!current) return;
  const style = getComputedStyle(stage);
  const gap = parseFloat(style.columnGap) || 0;
  const width = stage.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const height = stage.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
  const sizes = current.elements.map((img) => [img.naturalWidth || 1, img.naturalHeight || 1]);
  const n = sizes.length;
  let best = null;
  for (let cols = n; cols >= 1; cols--) {  // on a tie, the wider layout
    const rows = Math.ceil(n / cols);
    const boxW = (width - gap * (cols - 1)) / cols;
    const boxH = (height - gap * (rows - 1)) / rows;
    const smallest = Math.min(...sizes.map(([w, h]) => Math.min(boxW / w, boxH / h) ** 2 * w * h));
    if (!best || smallest > best.smallest) best = { cols, rows, smallest };
  }
  stage.style.gridTemplateColumns = `repeat(${best.cols}, minmax(0, 1fr))`;
  stage.style.gridTemplateRows = `repeat(${best.rows}, minmax(0, 1fr))`;
  current.elements.forEach((img, i) => {
    const box = img.parentElement;
    const [w, h] = sizes[i];
    const image = current.images[i];
    const original = Math.max(image.width || w, image.height || h) / Math.max(w, h);
    let scale = Math.min(box.clientWidth / w, box.clientHeight / h);
    if (actualSize) scale = Math.min(scale, original);
    img.style.width = `${Math.floor(w * scale)}px`;
    img.style.height = `${Math.floor(h * scale)}px`;
    // the key's number just inside the image's lower edge
    box.querySelector(".key").style.bottom =
      `${Math.max(0, (box.clientHeight - Math.floor(h * scale)) / 2) + 4}px`;
  });
}

function setActualSize(on) {
  actualSize = on;
  localStorage.setItem(ACTUAL_KEY, on ? "1" : "0");
  buttons.actual.setAttribute("aria-pressed", String(on));
  document.body.dataset.size = on ? "actual" : "fitted";
  fit();
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
    box.addEventListener("click", () => act("choose", i));
    return box;
  }));
  fit();
  message.textContent = "";
  document.body.dataset.pair = set.pair;
  document.body.dataset.state = "ready";
  shownAt = performance.now();
}

async function showNext() {
  document.body.dataset.state = "loading";  // the spinner, if the set is slow to come
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

function span(className, text) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

// One line: the whole of it on a wide screen, the essentials on a narrow one.
function renderStats(session, library) {
  statsLine.replaceChildren(
    span("wide",
      `${session.choices} choices · ${session.per_minute.toFixed(1)}/min · ` +
      `agreement ${percent(session.agreement)} this session, ` +
      `${percent(library.agreement)} overall ` +
      `(ceiling ${ceiling(library.consistency)}) · ` +
      `${library.choices_per_image.toFixed(2)} choices per image · ${library.never_shown} never shown`),
    span("narrow", `${session.choices} choices · agreement ${percent(library.agreement)}`),
  );
  // the server's advice, sent once the model has been asked about a choice; none when
  // no model is consulted now, whatever earlier sessions' counts say
  oddLine.textContent = hasModel && library.advice
    ? `${oddOneOut(library.odd_one_out)} — ${library.advice}` : "";
  sessionChoices = session.choices;
  buttons.undo.disabled = !canUndo();
  document.body.dataset.choices = String(session.choices);
}

function canUndo() {
  return myChoices.length > 0 || sessionChoices > 0;
}

function report(title, lines, hint = "Press any key, click or tap to carry on.") {
  document.getElementById("overlay-title").textContent = title;
  document.getElementById("overlay-body").textContent = lines.join("\n");
  document.getElementById("overlay-hint").textContent = hint;
  document.getElementById("overlay-links").hidden = !ended;
  overlay.hidden = false;
}

function agreementLine(s) {
  return `matched ${s.matched} · contradicted ${s.contradicted} · not predicted ` +
    `${s.unpredicted} · agreement ${percent(s.agreement)}`;
}

// What each action is called when it fails, and what it leaves unsaved, if anything.
const WHAT = {
  start: ["Loading", null],
  choose: ["The choice", "this choice"],
  undo: ["The undo", "the undo"],
  skip: ["Skipping", null],
  end: ["Ending", null],
};

// Said big and plainly when the server is gone: a choice it did not get is not saved.
function failed(error, name) {
  const [action, unsaved] = WHAT[name];
  if (error.status === 0) {
    alertBox.textContent = "The server cannot be reached" +
      (unsaved ? `: ${unsaved} was not saved` : "") +
      ". Is tastemaker rate still running? Start it again, then reload this page.";
    alertBox.hidden = false;
  } else {
    message.textContent = `${action} failed: ${error.message}`;
  }
}

async function choose(index) {
  if (!current || index >= current.images.length) return;
  const set = current;
  const ms = Math.round(performance.now() - shownAt);
  set.elements[index].parentElement.classList.add("picked");
  let result;
  try {
    result = await api("POST", "/api/choose",
      { pair: set.pair, winner: set.images[index].id, ms });
  } catch (error) {
    set.elements[index].parentElement.classList.remove("picked");
    if (error.status !== 409) throw error;
    queue.length = 0;                   // the set went stale (e.g. the server restarted)
    await showNext();
    message.textContent = "That set had expired; here is a fresh one.";
    return;
  }
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
  await showNext();
}

async function undo() {
  if (!canUndo()) { message.textContent = "Nothing to undo."; return; }
  // this tab's own last choice; after a reload, the session's last (the server's)
  const body = myChoices.length ? { choice: myChoices[myChoices.length - 1] } : {};
  let result;
  try {
    result = await api("POST", "/api/undo", body);
  } catch (error) {
    if (error.status === 409) myChoices.pop();  // undone already (from another tab)
    throw error;
  }
  myChoices.pop();
  renderStats(result.session, result.library);
  if (current) queue.unshift(Promise.resolve(current));  // keep the set we had up
  show(await prepare(result.set));
  message.textContent = "Undone: choose again.";
}

async function skip() {
  await showNext();
}

function askToEnd() {
  confirmEnd.showModal();
  document.getElementById("confirm-end").focus();
}

async function end() {
  confirmEnd.close();
  await running;                        // a choice on its way is saved first
  try {
    showEnded(await api("POST", "/api/end"));
  } catch (error) {
    failed(error, "end");
  }
}

async function showEnded(result = null) {
  ended = true;
  const stats = result || await api("GET", "/api/stats");
  const s = stats.session;
  const l = stats.library;
  Object.values(buttons).forEach((button) => { button.disabled = true; });
  stage.replaceChildren();
  current = null;
  document.body.dataset.state = "ended";
  report("Rating ended", [
    `${s.choices} choices in ${(s.seconds / 60).toFixed(1)} min (${s.per_minute.toFixed(1)}/min)`,
    `This session: ${agreementLine(s)}`,
    `Library: ${l.images} images, ${l.never_shown} never shown, ` +
      `${l.choices} choices (${l.choices_per_image.toFixed(2)} per image)`,
    `Overall: ${agreementLine(l)}`,
  ], "Every choice is saved. The statistics and gallery stay open until the server is " +
    "stopped (Ctrl-C in its terminal).");
}

async function start() {
  const stats = await api("GET", "/api/stats");
  hasModel = stats.settings.model;
  renderStats(stats.session, stats.library);
  if (stats.ended) await showEnded(stats);
  else await showNext();
}

// One way in for keys, buttons and taps. While the page waits (for the server, or for
// the next set's images) an undo or skip asked for meanwhile waits and runs next; a
// choice is never made on a set that is not on screen, so one asked for is refused.
// End asks at once; once confirmed, it waits for a choice on its way to be saved.
const ACTIONS = { start, choose, undo, skip };
let running = Promise.resolve();        // the action on its way

async function act(name, arg) {
  if (ended) return;
  if (name === "actual") return setActualSize(!actualSize);
  if (name === "end") return askToEnd();
  if (busy) {
    if (name === "choose") message.textContent = "Wait for the next images to choose.";
    else pending = name;
    return;
  }
  busy = true;
  running = (async () => {
    try {
      await ACTIONS[name](arg);
      alertBox.hidden = true;
    } catch (error) {
      if (error.status === 410) await showEnded();  // ended from another tab
      else failed(error, name);
    } finally {
      busy = false;
    }
  })();
  await running;
  if (pending) {
    const next = pending;
    pending = null;
    await act(next);
  }
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || confirmEnd.open) return;
  if (!overlay.hidden) {
    if (!ended) { overlay.hidden = true; event.preventDefault(); }
    return;
  }
  const n = current ? current.images.length : 0;
  const key = event.key;
  if (key >= "1" && key <= "9") act("choose", Number(key) - 1);
  else if (key === "ArrowLeft") act("choose", 0);
  else if (key === "ArrowRight") act("choose", n - 1);
  else if (key === "z" || key === "Backspace") act("undo");
  else if (key === "s") act("skip");
  else if (key === "a") act("actual");
  else if (key === "q") act("end");
  else return;
  event.preventDefault();
});
for (const [name, button] of Object.entries(buttons)) {
  button.addEventListener("click", () => {
    button.blur();                      // so Space or Enter later is not this button again
    act(name);
  });
}
document.getElementById("confirm-keep").addEventListener("click", () => confirmEnd.close());
document.getElementById("confirm-end").addEventListener("click", end);
overlay.addEventListener("click", (event) => {
  if (!ended && event.target.tagName !== "A") overlay.hidden = true;
});
// On a touch screen a swipe sideways across the images skips (to the left) or undoes
// (to the right); a tap chooses.
const SWIPE = 60;                       // CSS pixels, and mostly sideways
let touchStart = null;
stage.addEventListener("touchstart", (event) => {
  const t = event.changedTouches[0];
  touchStart = event.touches.length === 1 ? { x: t.clientX, y: t.clientY } : null;
}, { passive: true });
stage.addEventListener("touchend", (event) => {
  if (!touchStart) return;
  const t = event.changedTouches[0];
  const dx = t.clientX - touchStart.x;
  const dy = t.clientY - touchStart.y;
  touchStart = null;
  if (Math.abs(dx) >= SWIPE && Math.abs(dx) > 2 * Math.abs(dy)) act(dx < 0 ? "skip" : "undo");
}, { passive: true });
new ResizeObserver(fit).observe(stage);
setActualSize(actualSize);
act("start");
