// The model card: how a model was trained and how well it did, read from its manifest
// (GET /models/{id}, the model.json of design.md section 4).

import { decimal, el, facts, percent } from "./format.js";
import { renderMarkdown } from "./markdown.js";

const SPLIT_ORDER = ["train", "val", "test"];

function isPlainObject(x) {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

function scalar(value) {
  if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString("en") : decimal(value);
  if (Array.isArray(value)) return value.length ? value.map(scalar).join(", ") : "none";
  if (isPlainObject(value)) {
    const entries = Object.entries(value);
    return entries.length ? entries.map(([k, v]) => `${k}: ${scalar(v)}`).join(", ") : "none";
  }
  return value === null || value === undefined ? "–" : String(value);
}

function auc(metrics) {
  if (!metrics || typeof metrics.melanoma_auc !== "number") return "–";
  const ci = metrics.melanoma_auc_ci95;
  if (!Array.isArray(ci)) return decimal(metrics.melanoma_auc);
  return el("span", { class: "nowrap" }, decimal(metrics.melanoma_auc), el("span", { class: "muted small" }, ` (CI ${decimal(ci[0])}–${decimal(ci[1])})`));
}

function metricsTable(metrics) {
  const names = Object.keys(metrics).sort((a, b) => {
    const ia = SPLIT_ORDER.indexOf(a);
    const ib = SPLIT_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  const head = ["Split", "Split file", "Images", "Melanoma", "Melanoma AUC", "Sensitivity", "Specificity", "Balanced acc.", "TTA"];
  const rows = names.map((name) => {
    const m = metrics[name];
    return el("tr", { class: name === "test" ? "row-emphasis" : null },
      el("th", { scope: "row" }, name), el("td", { class: "muted" }, m.split_id ?? "–"),
      el("td", {}, scalar(m.n_images)), el("td", {}, scalar(m.n_melanoma)), el("td", {}, auc(m)), el("td", {}, percent(m.sensitivity)),
      el("td", {}, percent(m.specificity)), el("td", {}, percent(m.balanced_accuracy)), el("td", {}, m.tta ?? "–"));
  });
  return el("div", { class: "table-wrap" }, el("table", { class: "table" },
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows)));
}

const isCounts = (v) => isPlainObject(v) && Object.keys(v).length && Object.values(v).every((x) => typeof x === "number");

function table(caption, rows) {
  const cols = [...new Set(rows.flatMap(([, v]) => Object.keys(v)))];
  return el("div", { class: "table-wrap" }, el("table", { class: "table table-compact" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, el("th", {}, ""), cols.map((c) => el("th", { scope: "col" }, c)))),
    el("tbody", {}, rows.map(([row, v]) =>
      el("tr", {}, el("th", { scope: "row" }, row), cols.map((c) => el("td", {}, scalar(v[c]))))))));
}

/** Render a JSON-ish object readably: count tables ({row: {col: number}}), facts otherwise. */
function genericBlock(data, skip = []) {
  const entries = Object.entries(data).filter(([k, v]) => !skip.includes(k) && v !== null && v !== undefined);
  const counts = entries.filter(([, v]) => isCounts(v));
  const scalars = [];
  const blocks = counts.length ? [table("Images per class", counts)] : [];
  for (const [key, value] of entries) {
    if (isCounts(value)) continue;
    const nested = isPlainObject(value) ? Object.entries(value) : [];
    if (nested.length && nested.every(([, v]) => isPlainObject(v))) {
      blocks.push(table(key.replaceAll("_", " "), nested));
    } else if (nested.length) {
      blocks.push(el("h4", {}, key.replaceAll("_", " ")), facts(nested.map(([k, v]) => [k, scalar(v)])));
    } else {
      scalars.push([key.replaceAll("_", " "), scalar(value)]);
    }
  }
  return [scalars.length ? facts(scalars) : null, ...blocks];
}

/** The held-out sets the model was tested on (every split but train and val), with their sizes. */
function testSets(metrics) {
  const names = Object.keys(metrics ?? {}).filter((n) => n !== "train" && n !== "val");
  if (!names.length) return el("p", {}, "No test set was recorded.");
  return el("ul", { class: "test-sets" }, names.map((name) => {
    const m = metrics[name];
    const size = typeof m.n_images === "number" ? `${scalar(m.n_images)} images` : "size not recorded";
    const melanoma = typeof m.n_melanoma === "number" ? `, ${scalar(m.n_melanoma)} melanoma` : "";
    return el("li", { dataset: { split: name } }, el("strong", {}, name), `: ${size}${melanoma}. Melanoma AUC `, auc(m),
      `, sensitivity ${percent(m.sensitivity)}, specificity ${percent(m.specificity)}.`);
  }));
}

function section(id, title, ...children) {
  return el("section", { class: "card-section", "aria-labelledby": id }, el("h3", { id }, title), ...children);
}

function splitDescription(m) {
  const split = m.dataset?.split ?? m.recipe?.split ?? m.recipe?.data?.split;
  const testSplit = m.metrics?.test?.split_id;
  const pairs = [];
  if (isPlainObject(split)) for (const [k, v] of Object.entries(split)) pairs.push([k, scalar(v)]);
  else if (split) pairs.push(["Split", scalar(split)]);
  if (testSplit) pairs.push(["Test split", testSplit]);
  return pairs;
}

export function renderModelCard(body, title, m) {
  title.textContent = `Model card · ${m.display_name || m.id}`;
  const test = m.metrics?.test;
  const cal = m.calibration ?? {};
  const threshold = typeof cal.threshold === "number" ? cal.threshold : null;
  body.replaceChildren(
    el("p", { class: "callout", role: "note" }, el("strong", {}, "Assistive tool, not a diagnosis. "),
      "This model's output supports, and never replaces, the judgement of a qualified clinician. It is not a medical device."),
    section("card-use", "Intended use", el("p", {}, m.intended_use || "No intended-use statement was recorded.")),
    section("card-perf", "Performance on the test split",
      el("div", { class: "kpis" },
        el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, "Melanoma AUC"), el("span", { class: "kpi-value" }, test ? decimal(test.melanoma_auc) : "–")),
        el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, "Sensitivity"), el("span", { class: "kpi-value" }, percent(test?.sensitivity))),
        el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, "Specificity"), el("span", { class: "kpi-value" }, percent(test?.specificity))),
        el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, "Test images"), el("span", { class: "kpi-value" }, test ? scalar(test.n_images) : "–"))),
      el("p", { class: "muted small" }, threshold === null ? "" :
        `Sensitivity and specificity at the melanoma threshold ${decimal(threshold)} (${cal.operating_point ?? "operating point not recorded"}).`),
      m.metrics && Object.keys(m.metrics).length ? metricsTable(m.metrics) : el("p", {}, "No metrics were recorded.")),
    section("card-tests", "Test sets", testSets(m.metrics)),
    section("card-data", "Training data", ...(m.dataset && Object.keys(m.dataset).length ? genericBlock(m.dataset, ["split"]) : [el("p", {}, "Not recorded.")])),
    section("card-split", "Split", facts(splitDescription(m).length ? splitDescription(m) : [["Split", "Not recorded"]])),
    section("card-model", "Model", facts([
      ["Id", m.id], ["Version", m.version], ["Origin", m.origin], ["Net type", m.net_type],
      ["Input size", `${m.img_size} × ${m.img_size} px`], ["Classes", (m.classes ?? []).join(", ")],
      ["Target class", m.target_class], ["Threshold", threshold === null ? null : decimal(threshold)],
      ["Temperature", typeof cal.temperature === "number" ? decimal(cal.temperature) : null],
      ["Test-time augmentation", m.tta], ["Precision", m.precision], ["Created", m.created],
      ["License", m.license], ["ONNX sha256", m.sha256 ? el("code", {}, m.sha256) : null],
    ])),
    m.recipe && Object.keys(m.recipe).length
      ? el("details", { class: "card-more" }, el("summary", {}, "Training recipe"), ...genericBlock(m.recipe))
      : null,
    m.card ? section("card-notes", "Notes", el("div", { class: "card-text" }, renderMarkdown(m.card))) : null,
  );
}
