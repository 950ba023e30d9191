// The page's controller: state, events and rendering. Views live in their own modules.

import * as api from "./api.js";
import { downloadText, resultsCsv } from "./csv.js";
import { renderDetails } from "./details.js";
import { openDialog, setupDialog } from "./dialogs.js";
import { makeThumbnail, triageFiles } from "./files.js";
import { decimal, el, icon } from "./format.js";
import { renderModelCard } from "./modelcard.js";
import { predictItems } from "./predict.js";
import { renderReport } from "./report.js";
import { sortItems } from "./sort.js";
import { renderTiles, tileState } from "./tiles.js";

const $ = (id) => document.getElementById(id);

const state = {
  items: [],
  cards: [],
  modelId: null,
  sort: { key: "name", dir: "asc" },
  running: false,
  progress: null,
  generation: 0, // bumped by each prediction run and by Reset: a stale run stops
  epoch: 0, // bumped by Reset only: stale thumbnails are dropped
  detailsItem: null,
};
let nextId = 1;

const selectedCard = () => state.cards.find((c) => c.id === state.modelId) ?? null;
const sortedItems = () => sortItems(state.items, state.sort.key, state.sort.dir);
const hasResults = () => state.items.some((i) => i.result && !i.result.error);
const pending = () => state.items.filter((i) => !i.result && (!i.error || i.retryable));

// ---- notices -------------------------------------------------------------------------------

function notice(kind, message) {
  const box = el("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" },
    icon(kind === "info" ? "info" : "alert"), el("span", {}, message),
    el("button", { type: "button", class: "btn-icon", "aria-label": "Dismiss", onclick: () => box.remove() }, icon("close")));
  $("notices").append(box);
}

// ---- models --------------------------------------------------------------------------------

function renderModels() {
  const list = $("model-list");
  list.setAttribute("aria-busy", "false");
  if (!state.cards.length) {
    list.replaceChildren(el("p", { class: "muted" }, "No model is published on this server."));
    return;
  }
  list.replaceChildren(...state.cards.map((card) => {
    const auc = typeof card.test_melanoma_auc === "number" ? decimal(card.test_melanoma_auc) : "–";
    const input = el("input", { type: "radio", name: "model", value: card.id, checked: card.id === state.modelId,
      onchange: () => chooseModel(card.id) });
    return el("div", { class: `model-option${card.id === state.modelId ? " selected" : ""}`, dataset: { modelId: card.id } },
      el("label", { class: "model-choice" }, input,
        el("span", { class: "model-text" },
          el("span", { class: "model-name" }, card.display_name || card.id),
          el("span", { class: "model-meta" }, [card.net_type, card.img_size ? `${card.img_size} px` : null].filter(Boolean).join(" · ")),
          el("span", { class: "model-auc" }, "Test AUC ", el("strong", {}, auc)))),
      el("button", { type: "button", class: "btn btn-small btn-quiet model-card-btn", "aria-label": `Model card of ${card.display_name || card.id}`,
        onclick: (e) => showModelCard(card.id, e.currentTarget) }, icon("card"), "Model card"));
  }));
}

function chooseModel(id) {
  if (id === state.modelId) return;
  const hadResults = state.items.some((i) => i.result || i.error);
  state.modelId = id;
  if (hadResults && !state.running) {
    for (const item of state.items) Object.assign(item, { result: null, error: null, status: "loaded" });
    state.sort = { key: "name", dir: "asc" };
    notice("info", "Model changed: earlier results were cleared. Press Predict to analyse with the new model.");
  }
  // Only the marking changes, so that focus stays on the radio (arrow keys move through them).
  for (const option of document.querySelectorAll(".model-option")) {
    option.classList.toggle("selected", option.dataset.modelId === id);
  }
  render();
}

async function loadModels() {
  try {
    const [ids, cards] = await Promise.all([api.publicModels(), api.modelCards().catch(() => [])]);
    const byId = new Map(cards.map((c) => [c.id, c]));
    state.cards = ids.map((id) => byId.get(id) ?? { id, display_name: id });
    const preferred = state.cards.find((c) => c.default) ?? state.cards[0];
    state.modelId = preferred?.id ?? null;
    renderModels();
  } catch (error) {
    $("model-list").setAttribute("aria-busy", "false");
    $("model-list").replaceChildren(el("p", { class: "inline-error", role: "alert" }, error.message),
      error.status === 401 ? keyForm() : el("button", { type: "button", class: "btn btn-small", onclick: loadModels }, "Try again"));
  }
  render();
}

/** Asked for when the server answers 401: the key is kept for this tab only. */
function keyForm() {
  const input = el("input", { type: "password", id: "api-key", class: "text-input", autocomplete: "off", required: true });
  return el("form", { class: "key-form", onsubmit: (e) => { e.preventDefault(); api.setApiKey(input.value.trim()); loadModels(); } },
    el("label", { for: "api-key" }, "API key"), input,
    el("button", { type: "submit", class: "btn btn-small" }, "Connect"));
}

async function showModelCard(id, opener) {
  const dialog = $("model-card");
  $("model-card-body").replaceChildren(el("p", { class: "muted" }, "Loading…"));
  openDialog(dialog, opener);
  try {
    renderModelCard($("model-card-body"), $("model-card-title"), await api.manifest(id));
  } catch (error) {
    $("model-card-body").replaceChildren(el("p", { class: "inline-error", role: "alert" }, error.message));
  }
}

// ---- images --------------------------------------------------------------------------------

function addFiles(files) {
  const { added, duplicates, rejected } = triageFiles([...files], new Set(state.items.map((i) => i.name)));
  if (duplicates.length) notice("warn", `Already loaded, ignored: ${duplicates.join(", ")}.`);
  if (rejected.length) notice("warn", `Not an image, ignored: ${rejected.join(", ")}.`);
  for (const file of added) {
    const item = { id: nextId++, name: file.name, file, url: URL.createObjectURL(file), thumbUrl: null,
      localSize: null, status: "loaded", result: null, error: null, retryable: false };
    state.items.push(item);
    queueThumbnail(item);
  }
  if (added.length && state.sort.key === "probability" && !hasResults()) state.sort = { key: "name", dir: "asc" };
  render();
  // The next step is Predict: keyboard users reach it without tabbing through every tile.
  if (added.length && !$("predict").disabled) $("predict").focus();
}

// One image decoded at a time, so that loading hundreds of photographs keeps the page responsive.
let thumbnails = Promise.resolve();

function queueThumbnail(item) {
  const epoch = state.epoch;
  thumbnails = thumbnails.then(async () => {
    if (epoch !== state.epoch) return;
    const thumb = await makeThumbnail(item.file);
    if (epoch !== state.epoch) {
      if (thumb) URL.revokeObjectURL(thumb.url);
      return;
    }
    Object.assign(item, { localSize: thumb?.size ?? null, thumbUrl: thumb?.url ?? null, previewFailed: !thumb });
    scheduleRender();
  });
}

let renderPending = false;

function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

function reset() {
  state.generation += 1;
  state.epoch += 1;
  for (const item of state.items) {
    URL.revokeObjectURL(item.url);
    if (item.thumbUrl) URL.revokeObjectURL(item.thumbUrl);
  }
  Object.assign(state, { items: [], running: false, progress: null, sort: { key: "name", dir: "asc" } });
  $("notices").replaceChildren();
  $("file-input").value = "";
  render();
  $("choose").focus();
}

// ---- prediction ----------------------------------------------------------------------------

async function predict() {
  const todo = pending();
  if (!state.modelId || !todo.length || state.running) return;
  const generation = ++state.generation;
  const cancelled = () => generation !== state.generation;
  state.running = true;
  state.progress = { done: 0, total: todo.length };
  for (const item of todo) Object.assign(item, { status: "running", error: null });
  render();
  await predictItems(state.modelId, todo, {
    cancelled,
    progress: (done, total) => { if (!cancelled()) { state.progress = { done, total }; renderProgress(); } },
    result: (item, r) => Object.assign(item, { status: "done", result: r, error: null }),
    fail: (item, message, retryable) => Object.assign(item, { status: "error", error: message, retryable }),
    notice: (kind, message) => !cancelled() && notice(kind, message),
  });
  if (cancelled()) return;
  state.running = false;
  if (hasResults()) state.sort = { key: "probability", dir: "desc" };
  render();
  // Focus stays where the result is announced, not on <body> (Predict is disabled now).
  if (!$("summary").hidden) $("summary").focus();
}

// ---- rendering -----------------------------------------------------------------------------

function renderProgress() {
  const box = $("progress");
  const p = state.progress;
  box.hidden = !state.running || !p;
  if (box.hidden) return;
  $("progress-bar").max = Math.max(p.total, 1);
  $("progress-bar").value = p.done;
  $("progress-text").textContent = `Analysing: ${p.done} of ${p.total} image${p.total === 1 ? "" : "s"} done`;
}

function renderSummary() {
  const states = state.items.map(tileState);
  const count = (s) => states.filter((x) => x === s).length;
  const outside = count("outside");
  const analysed = count("flagged") + count("clear") + outside;
  const failed = count("error");
  const box = $("summary");
  box.hidden = state.running || !(analysed || failed);
  if (box.hidden) return;
  box.replaceChildren(
    el("span", { class: "summary-flagged" }, el("strong", {}, count("flagged")), " flagged"),
    el("span", {}, ` of ${analysed} analysed`),
    outside
      ? el("span", { class: "summary-outside" }, ` · ${outside} not recognised as dermoscopy (no melanoma assessment)`)
      : "",
    failed ? el("span", { class: "summary-failed" }, ` · ${failed} not analysed`) : "",
  );
}

function renderSortButtons() {
  const { key, dir } = state.sort;
  const name = $("sort-name");
  const prob = $("sort-prob");
  name.setAttribute("aria-pressed", String(key === "name"));
  prob.setAttribute("aria-pressed", String(key === "probability"));
  prob.disabled = !hasResults();
  name.querySelector(".dir").textContent = key === "name" ? (dir === "asc" ? "A→Z" : "Z→A") : "";
  prob.querySelector(".dir").textContent = key === "probability" ? (dir === "desc" ? "high→low" : "low→high") : "";
  name.setAttribute("aria-label", `Sort by name${key === "name" ? `, now ${dir === "asc" ? "A to Z" : "Z to A"}` : ""}`);
  prob.setAttribute("aria-label", `Sort by melanoma probability${key === "probability" ? `, now ${dir === "desc" ? "highest first" : "lowest first"}` : ""}`);
}

function render() {
  const n = state.items.length;
  const todo = pending().length;
  renderTiles($("tiles"), sortedItems(), openDetails);
  $("empty").hidden = n > 0;
  $("dropzone").classList.toggle("compact", n > 0);
  $("image-count").textContent = n ? `(${n})` : "";
  $("predict").disabled = !state.modelId || !todo || state.running;
  $("predict-label").textContent = state.running ? "Analysing…" : todo > 1 ? `Predict ${todo} images` : "Predict";
  $("reset").disabled = !n;
  // The model cannot change under a running batch.
  for (const radio of document.querySelectorAll("input[name=model]")) radio.disabled = state.running;
  $("export-csv").disabled = !state.items.some((i) => i.result || i.error);
  $("print-report").disabled = $("export-csv").disabled;
  renderSortButtons();
  renderProgress();
  renderSummary();
}

// ---- details -------------------------------------------------------------------------------

function openDetails(item, opener = document.activeElement) {
  state.detailsItem = item;
  const card = selectedCard();
  const classes = item.result?.probabilities ? (card?.classes ?? Object.keys(item.result.probabilities)) : [];
  renderDetails($("details-body"), $("details-title"), item, classes);
  openDialog($("details"), opener);
}

function stepDetails(delta) {
  const list = sortedItems();
  const at = list.indexOf(state.detailsItem);
  if (at < 0 || !list.length) return;
  openDetails(list[(at + delta + list.length) % list.length], null);
}

// ---- wiring --------------------------------------------------------------------------------

function setupDropTarget(target) {
  target.addEventListener("dragover", (e) => { e.preventDefault(); target.classList.add("dragging"); });
  target.addEventListener("dragleave", (e) => { if (!target.contains(e.relatedTarget)) target.classList.remove("dragging"); });
  target.addEventListener("drop", (e) => { e.preventDefault(); target.classList.remove("dragging"); addFiles(e.dataTransfer.files); });
}

function toggleSort(key) {
  const { sort } = state;
  if (sort.key === key) sort.dir = sort.dir === "asc" ? "desc" : "asc";
  else Object.assign(sort, { key, dir: key === "name" ? "asc" : "desc" });
  render();
}

function exportCsv() {
  const classes = selectedCard()?.classes ?? Object.keys(state.items.find((i) => i.result?.probabilities)?.result.probabilities ?? {});
  const stamp = new Date().toISOString().slice(0, 16).replace(/[-:T]/g, "");
  downloadText(resultsCsv(sortedItems(), classes), `dermcad-results-${stamp}.csv`);
}

function init() {
  $("choose").addEventListener("click", () => $("file-input").click());
  $("file-input").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
  setupDropTarget(document.querySelector(".images-panel"));
  $("predict").addEventListener("click", predict);
  $("reset").addEventListener("click", reset);
  $("sort-name").addEventListener("click", () => toggleSort("name"));
  $("sort-prob").addEventListener("click", () => toggleSort("probability"));
  $("export-csv").addEventListener("click", exportCsv);
  $("print-report").addEventListener("click", () => window.print());
  window.addEventListener("beforeprint", () => renderReport($("report"), sortedItems(), selectedCard()));
  setupDialog($("details"), () => {
    const name = state.detailsItem?.name;
    state.detailsItem = null;
    return [...document.querySelectorAll("#tiles .tile")].find((t) => t.dataset.name === name)?.querySelector("button");
  });
  setupDialog($("model-card"));
  $("details").addEventListener("click", (e) => {
    const nav = e.target.closest("[data-nav]");
    if (nav) stepDetails(Number(nav.dataset.nav));
  });
  $("details").addEventListener("keydown", (e) => {
    if (e.target.matches("input")) return;
    if (e.key === "ArrowRight") stepDetails(1);
    else if (e.key === "ArrowLeft") stepDetails(-1);
  });
  render();
  loadModels();
}

init();
