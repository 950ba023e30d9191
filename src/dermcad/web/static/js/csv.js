// The results as CSV: one row per loaded image, probabilities in the model's class order.

function cell(value) {
  if (value === null || value === undefined) return "";
  let text = String(value);
  // A file name or message starting with = + - @ would run as a formula in a spreadsheet.
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function resultsCsv(items, classes) {
  const header = [
    "name", "width", "height", "model_id", "tta", "predicted_class", "melanoma_probability",
    "threshold", "flagged_melanoma", ...classes.map((c) => `p_${c}`), "error",
    "in_domain", "ood_score", "ood_reason",
  ];
  const rows = [header];
  for (const item of items) {
    const r = item.result ?? {};
    const ok = r.probabilities && !r.error;
    const probability = ok ? (r.melanoma_probability ?? r.probabilities.melanoma) : null;
    rows.push([
      item.name,
      r.width ?? item.localSize?.width ?? "",
      r.height ?? item.localSize?.height ?? "",
      r.model_id ?? "",
      r.tta ?? "",
      ok ? r.prediction?.prediction : "",
      probability,
      r.threshold ?? "",
      ok ? (r.prediction?.target ? "yes" : "no") : "",
      ...classes.map((c) => (ok ? r.probabilities[c] : "")),
      item.error ?? r.error ?? "",
      r.in_domain ?? "",
      r.ood_score ?? "",
      r.ood_reason ?? "",
    ]);
  }
  return rows.map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

export function downloadText(text, fileName, type = "text/csv;charset=utf-8") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
