// The grid of images: one tile per image, red when flagged melanoma, blue otherwise, dashed grey
// when not analysed, with the decision, the melanoma probability and the model's threshold as
// text (colour is never the only signal).

import { el, icon, percent } from "./format.js";
import { melanomaProbability } from "./sort.js";

/** The most probable class and its probability, whatever the decision. */
export function mostProbable(result) {
  const entries = Object.entries(result.probabilities ?? {});
  if (!entries.length) return null;
  return entries.reduce((best, entry) => (entry[1] > best[1] ? entry : best));
}

/** "15.0 % ≥ threshold 12.7 %": the two numbers the flag was decided on. */
export function againstThreshold(item) {
  const p = melanomaProbability(item);
  const t = item.result.threshold;
  if (typeof t !== "number") return `Melanoma ${percent(p)}`;
  return `Melanoma ${percent(p)} ${p >= t ? "≥" : "<"} threshold ${percent(t)}`;
}

/** The sentence for an image the model's guard does not recognise as dermoscopy. */
export const OUTSIDE_TEXT = "Not recognised as a dermoscopy image: no melanoma assessment";

/** "flagged", "clear", "outside", "error", "running" or "loaded": what a tile shows. */
export function tileState(item) {
  if (item.error || item.result?.error) return "error";
  if (item.result?.in_domain === false) return "outside";
  if (item.result) return item.result.prediction?.target ? "flagged" : "clear";
  return item.status === "running" ? "running" : "loaded";
}

function badge(state) {
  switch (state) {
    case "flagged":
      return el("span", { class: "badge badge-flagged" }, icon("alert"), "Melanoma suspected");
    case "clear":
      return el("span", { class: "badge badge-clear" }, "Not flagged");
    case "outside":
      return el("span", { class: "badge badge-outside" }, icon("alert"), "Not dermoscopy");
    case "error":
      return el("span", { class: "badge badge-error" }, icon("alert"), "Not analysed");
    case "running":
      return el("span", { class: "badge badge-running" }, "Analysing…");
    default:
      return null;
  }
}

function summary(item, state) {
  if (state === "error") {
    return el("span", { class: "tile-errmsg", role: "alert" }, item.error ?? item.result.error);
  }
  if (state === "outside") {
    return el("span", { class: "tile-result tile-outside-text" }, OUTSIDE_TEXT);
  }
  if (state === "flagged") {
    const [top, p] = mostProbable(item.result) ?? [null, null];
    return el(
      "span",
      { class: "tile-result" },
      el("span", { class: "tile-prob" }, againstThreshold(item)),
      top && top !== "melanoma"
        ? el("span", { class: "tile-class" }, el("span", { class: "tile-label" }, "Most probable "), `${top} ${percent(p)}`)
        : null,
    );
  }
  if (state === "clear") {
    return el(
      "span",
      { class: "tile-result" },
      el("span", { class: "tile-class" }, el("span", { class: "tile-label" }, "Class "), item.result.prediction.prediction),
      el("span", { class: "tile-prob" }, againstThreshold(item)),
    );
  }
  if (item.previewFailed) return el("span", { class: "tile-result muted" }, "No preview in this browser");
  const size = item.localSize ? `${item.localSize.width} × ${item.localSize.height}` : "";
  return el("span", { class: "tile-result muted" }, size || "Ready");
}

function label(item, state) {
  if (state === "flagged" || state === "clear") {
    const verdict = state === "flagged" ? "flagged as suspected melanoma" : `not flagged, class ${item.result.prediction.prediction}`;
    return `${item.name}: ${verdict}, ${againstThreshold(item).toLowerCase()}. Open details`;
  }
  if (state === "error") return `${item.name}: not analysed. Open details`;
  if (state === "outside") return `${item.name}: ${OUTSIDE_TEXT.toLowerCase()}. Open details`;
  return `${item.name}. Open details`;
}

function thumbnail(item) {
  if (item.previewFailed) return el("span", { class: "tile-noimg" }, "No preview");
  if (!item.thumbUrl) return el("span", { class: "tile-noimg tile-loading" }, "Loading preview…");
  return el("img", { src: item.thumbUrl, alt: "" });
}

export function renderTiles(list, items, onOpen) {
  const nodes = items.map((item) => {
    const state = tileState(item);
    const button = el(
      "button",
      { type: "button", class: "tile-open", "aria-label": label(item, state), onclick: () => onOpen(item) },
      el("span", { class: "tile-thumb" }, thumbnail(item), badge(state)),
      el("span", { class: "tile-info" }, el("span", { class: "tile-name" }, item.name), summary(item, state)),
    );
    return el("li", { class: `tile tile-${state}`, dataset: { name: item.name, state } }, button);
  });
  list.replaceChildren(...nodes);
}
