// The printable report: built from the current results just before printing; only print.css
// shows it.

import { el, percent, size } from "./format.js";
import { melanomaProbability } from "./sort.js";
import { tileState } from "./tiles.js";

export function renderReport(section, items, card) {
  const states = items.map(tileState);
  const analysed = states.filter((s) => s === "flagged" || s === "clear" || s === "outside").length;
  const outside = states.filter((s) => s === "outside").length;
  const failed = states.filter((s) => s === "error").length;
  const flagged = states.filter((s) => s === "flagged").length;
  const rows = items.map((item) => {
    const state = tileState(item);
    const r = item.result;
    const verdict = { flagged: "FLAGGED: melanoma suspected", clear: "not flagged", error: "not analysed", outside: "not recognised as a dermoscopy image: no melanoma assessment" }[state] ?? "not analysed";
    return el("tr", { class: `report-${state}` },
      el("td", {}, item.thumbUrl ? el("img", { src: item.thumbUrl, alt: "" }) : "–"),
      el("td", {}, item.name, el("br"), el("span", { class: "small" }, size(r?.width ?? item.localSize?.width, r?.height ?? item.localSize?.height))),
      el("td", {}, verdict),
      el("td", {}, r?.prediction?.prediction ?? "–"),
      el("td", {}, percent(melanomaProbability(item))),
      el("td", {}, item.error ?? r?.error ?? ""));
  });
  section.replaceChildren(
    el("h1", {}, "dermcad · analysis report"),
    el("p", { class: "report-disclaimer" }, el("strong", {}, "Assistive tool, not a diagnosis. "),
      "These results support, and never replace, the judgement of a qualified clinician."),
    el("p", {}, `Printed ${new Date().toLocaleString("en-GB")}. Model: ${card ? `${card.display_name || card.id} (${card.id})` : "–"}`,
      card && typeof card.test_melanoma_auc === "number" ? `, test melanoma AUC ${card.test_melanoma_auc.toFixed(3)}` : "",
      card && typeof card.threshold === "number" ? `, threshold ${card.threshold.toFixed(3)}` : "", "."),
    el("p", {}, `${items.length} images: ${analysed} analysed, ${flagged} flagged as suspected melanoma`,
      outside ? `, ${outside} not recognised as dermoscopy images (no melanoma assessment)` : "",
      failed ? `, ${failed} not analysed (see notes)` : "", "."),
    el("table", { class: "report-table" },
      el("thead", {}, el("tr", {}, ["Image", "File", "Result", "Predicted class", "Melanoma probability", "Note"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)),
  );
}
