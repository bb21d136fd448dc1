// How the pages write numbers: one way for every page.

// A share as a whole percentage; "–" where there is none yet (null: nothing to divide).
export function percent(x) {
  return x === null || x === undefined ? "–" : `${Math.round(100 * x)}%`;
}
