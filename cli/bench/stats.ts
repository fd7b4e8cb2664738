/** The numbers the benches report: medians of noisy repeated runs, and how a table prints them. */

/** The median of xs (the mean of the middle two for an even count; NaN for none); xs is not reordered. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** x with `digits` decimals for a table ("NaN", "Infinity" as such). */
export const fmt = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
