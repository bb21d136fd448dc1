// How the pages write numbers: one way for every page.

// A share as a whole percentage; "–" where there is none yet (null: nothing to divide).
export function percent(x) {
  return x === null || x === undefined ? "–" : `${Math.round(100 * x)}%`;
}

// A count, with thousands separated: 12,345.
export function count(n) { return n.toLocaleString("en"); }

// A figure per image (choices or appearances): two decimals, wherever it is shown.
export function perImage(x) { return x.toFixed(2); }
