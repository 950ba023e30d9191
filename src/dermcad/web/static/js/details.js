// The details window of one image: the image (with the heat-map overlay), the eight
// probabilities, the decision, the image's own size and the model's metadata.

import { imageUrl } from "./api.js";
import { probabilityChart } from "./chart.js";
import { decimal, el, facts, icon, percent, size } from "./format.js";
import { melanomaProbability } from "./sort.js";
import { mostProbable, OUTSIDE_TEXT, tileState } from "./tiles.js";

function figure(item) {
  const heatmapUrl = item.result?.heatmap_url ?? null;
  const image = item.previewFailed
    ? el("p", { class: "details-noimg" }, "This file cannot be shown as an image.")
    : el("img", { class: "details-img", src: item.url, alt: `Dermoscopy image ${item.name}` });
  const overlay = heatmapUrl
    ? el("img", { class: "heatmap", alt: "", hidden: true, "aria-hidden": "true" })
    : null;
  const opacity = el("input", {
    type: "range", min: "0.2", max: "1", step: "0.05", value: "0.6", class: "heat-opacity",
    "aria-label": "Heat-map opacity", disabled: true,
    oninput: (e) => overlay && (overlay.style.opacity = e.target.value),
  });
  const toggle = el(
    "button",
    {
      type: "button", id: "heatmap-toggle", class: "btn btn-small", "aria-pressed": "false",
      disabled: !heatmapUrl,
      onclick: () => {
        const on = toggle.getAttribute("aria-pressed") !== "true";
        toggle.setAttribute("aria-pressed", String(on));
        overlay.hidden = !on;
        opacity.disabled = !on;
        if (on && !overlay.getAttribute("src")) {
          // Fetched on first use only.
          imageUrl(heatmapUrl).then((src) => { overlay.src = src; }, (error) => {
            note.textContent = `Heat map unavailable: ${error.message}`;
            note.classList.add("inline-error");
          });
        }
      },
    },
    icon("layers"), "Heat map",
  );
  if (overlay) overlay.style.opacity = opacity.value;
  const mapClass = item.result?.heatmap_class ?? null;
  const note = el("p", { class: "muted small heat-caption" }, heatmapUrl
    ? mapClass === "melanoma"
      ? "Melanoma heat map: warmer areas weighed more in the melanoma score."
      : `Heat map of the class ${mapClass ?? "chosen by the server"}, not of melanoma: warmer areas weighed more in the ${mapClass ?? "that class's"} score.`
    : item.result ? "This model provides no heat map." : "The heat map is available after prediction.");
  return el(
    "figure", { class: "details-figure" },
    el("div", { class: "details-frame" }, el("div", { class: "details-stack" }, image, overlay)),
    el("figcaption", {}, el("div", { class: "heat-controls" }, toggle, opacity), note),
  );
}

function decision(item) {
  const state = tileState(item);
  if (state === "error") {
    return el("div", { class: "verdict verdict-error", role: "alert" }, icon("alert"), item.error ?? item.result.error);
  }
  if (!item.result) {
    return el("div", { class: "verdict verdict-pending" }, "Not analysed yet. Choose a model and press Predict.");
  }
  const r = item.result;
  if (state === "outside") {
    return el(
      "div", { class: "verdict verdict-outside", role: "status" },
      el("p", { class: "verdict-title" }, icon("alert"), OUTSIDE_TEXT),
      el("p", { class: "verdict-why" }, "This model's out-of-distribution guard found the image too far from the dermoscopy images it was trained on, so it gives no melanoma flag. Check that the right image was chosen; the probabilities below mean little for such an image."),
    );
  }
  const flagged = state === "flagged";
  const p = percent(melanomaProbability(item));
  const t = typeof r.threshold === "number" ? percent(r.threshold) : null;
  const [top, pTop] = mostProbable(r) ?? [null, null];
  const why = flagged
    ? `Flagged as suspected melanoma because the melanoma probability, ${p}, is at or above this model's threshold${t ? ` of ${t}` : ""}.`
    : `Not flagged: the melanoma probability, ${p}, is below this model's threshold${t ? ` of ${t}` : ""}. Predicted class: ${r.prediction.prediction}.`;
  return el(
    "div", { class: `verdict verdict-${state}` },
    el("p", { class: "verdict-title" }, flagged ? icon("alert") : null, flagged ? "Flagged: melanoma suspected" : "Not flagged as melanoma"),
    el("p", { class: "verdict-why" }, why),
    flagged && top && top !== "melanoma"
      ? el("p", {}, `Most probable class: ${top} (${percent(pTop)}). The flag follows the melanoma threshold, not the most probable class.`)
      : null,
  );
}

export function renderDetails(body, title, item, classes) {
  title.textContent = item.name;
  const r = item.result;
  const width = r?.width ?? item.localSize?.width;
  const height = r?.height ?? item.localSize?.height;
  const meta = r?.metadata ?? {};
  const names = r?.probabilities ? (classes.length ? classes : Object.keys(r.probabilities)) : [];
  const side = el(
    "div", { class: "details-side" },
    decision(item),
    r?.probabilities
      ? el("section", { "aria-labelledby": "prob-h" }, el("h3", { id: "prob-h" }, "Class probabilities"),
          probabilityChart(r.probabilities, names, r.prediction?.prediction))
      : null,
    el("section", { "aria-labelledby": "img-h" }, el("h3", { id: "img-h" }, "Image"),
      facts([["File", item.name], ["Size", size(width, height)], ["File size", `${(item.file.size / 1024).toFixed(0)} KB`]])),
    r
      ? el("section", { "aria-labelledby": "model-h" }, el("h3", { id: "model-h" }, "Model"),
          facts([
            ["Model", r.model_id], ["Origin", meta.origin], ["Net type", meta.net_type],
            ["Input size", meta.img_size ? `${meta.img_size} × ${meta.img_size} px` : null],
            ["Classes", names.length ? names.join(", ") : meta.out_dim],
            ["Threshold", typeof r.threshold === "number" ? decimal(r.threshold) : null],
            ["Test-time augmentation", r.tta ? `${r.tta} view${r.tta > 1 ? "s" : ""}` : null],
          ]))
      : null,
  );
  body.replaceChildren(el("div", { class: "details-grid" }, figure(item), side));
}
