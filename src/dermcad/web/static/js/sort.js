// Ordering of the tiles: by name before prediction, by melanoma probability after it.

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

export function melanomaProbability(item) {
  const result = item.result;
  if (!result || result.error) return null;
  if (typeof result.melanoma_probability === "number") return result.melanoma_probability;
  const p = result.probabilities?.melanoma;
  return typeof p === "number" ? p : null;
}

/** A new array, sorted; items without a probability always come last. */
export function sortItems(items, key, direction) {
  const sign = direction === "desc" ? -1 : 1;
  const byName = (a, b) => collator.compare(a.name, b.name);
  const sorted = [...items];
  if (key === "probability") {
    sorted.sort((a, b) => {
      const pa = melanomaProbability(a);
      const pb = melanomaProbability(b);
      if (pa === null || pb === null) return (pa === null) - (pb === null) || byName(a, b);
      return sign * (pa - pb) || byName(a, b);
    });
  } else {
    sorted.sort((a, b) => sign * byName(a, b));
  }
  return sorted;
}
