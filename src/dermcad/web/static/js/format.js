// Small formatting helpers shared by the views.

export function percent(p, digits = 1) {
  return typeof p === "number" ? `${(100 * p).toFixed(digits)} %` : "–";
}

export function decimal(x, digits = 3) {
  return typeof x === "number" ? x.toFixed(digits) : "–";
}

export function size(w, h) {
  return w && h ? `${w} × ${h} px` : "–";
}

/** Build an element: el("p", {class: "x"}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function icon(name, extraClass = "") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", `icon ${extraClass}`.trim());
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `icons/icons.svg#${name}`);
  svg.append(use);
  return svg;
}

/** A definition list from [label, value] pairs, skipping empty values. */
export function facts(pairs, extraClass = "") {
  const dl = el("dl", { class: `facts ${extraClass}`.trim() });
  for (const [label, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    dl.append(el("dt", {}, label), el("dd", {}, value));
  }
  return dl;
}
