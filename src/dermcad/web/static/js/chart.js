// The eight class probabilities as horizontal CSS bars (no chart library).

import { el, percent } from "./format.js";

export function probabilityChart(probabilities, classes, predicted, targetClass = "melanoma") {
  const rows = classes.map((name) => {
    const p = probabilities[name] ?? 0;
    const classes_ = ["bar-row"];
    if (name === targetClass) classes_.push("bar-target");
    if (name === predicted) classes_.push("bar-predicted");
    return el(
      "li",
      { class: classes_.join(" "), dataset: { class: name, p: String(p) } },
      el("span", { class: "bar-label" }, name, name === predicted ? el("span", { class: "sr-only" }, " (predicted)") : null),
      el("span", { class: "bar-track", "aria-hidden": "true" },
        el("span", { class: "bar-fill", style: `width: ${Math.max(0, Math.min(1, p)) * 100}%` })),
      el("span", { class: "bar-value" }, percent(p)),
    );
  });
  return el("ol", { class: "bar-chart", "aria-label": "Class probabilities" }, rows);
}
