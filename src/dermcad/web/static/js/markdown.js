// A model card's Markdown as formatted text, built as DOM nodes: paragraphs, "#" headings, "-"
// and "*" lists, **bold**, *italic*, `code` and [links](https://...). No HTML of the card is
// ever parsed, so a card cannot inject markup or scripts; links open only http(s) addresses.

import { el } from "./format.js";

const INLINE = /(\*\*[^*]+\*\*|\*[^*\s][^*]*\*|`[^`]+`|\[[^\]]+\]\([^)\s]+\))/;

/** Inline Markdown of one block -> an array of nodes and strings. */
export function inline(text) {
  return text.split(INLINE).filter((part) => part !== "").map((part) => {
    if (part.startsWith("**") && part.endsWith("**") && part.length > 4) return el("strong", {}, inline(part.slice(2, -2)));
    if (part.startsWith("`") && part.endsWith("`") && part.length > 2) return el("code", {}, part.slice(1, -1));
    if (part.startsWith("*") && part.endsWith("*") && part.length > 2) return el("em", {}, inline(part.slice(1, -1)));
    const link = part.match(/^\[([^\]]+)\]\(([^)\s]+)\)$/);
    if (link) {
      return /^https?:\/\//i.test(link[2])
        ? el("a", { href: link[2], target: "_blank", rel: "noopener noreferrer" }, inline(link[1]))
        : inline(link[1]);
    }
    return part;
  });
}

/** Block Markdown -> an array of elements. */
export function renderMarkdown(source) {
  const blocks = [];
  let list = null;
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) blocks.push(el("p", {}, inline(paragraph.join(" "))));
    paragraph = [];
  };
  for (const raw of String(source ?? "").split(/\r?\n/)) {
    const line = raw.trimEnd();
    const item = line.match(/^\s*[-*]\s+(.*)$/);
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (!line.trim()) {
      flush();
      list = null;
    } else if (heading) {
      flush();
      list = null;
      blocks.push(el("h4", {}, inline(heading[2])));
    } else if (item) {
      flush();
      if (!list) blocks.push((list = el("ul", {})));
      list.append(el("li", {}, inline(item[1])));
    } else if (list && /^\s+/.test(raw)) {
      const last = list.lastElementChild;
      last.append(" ", ...inline(line.trim()));
    } else {
      list = null;
      paragraph.push(line.trim());
    }
  }
  flush();
  return blocks;
}
