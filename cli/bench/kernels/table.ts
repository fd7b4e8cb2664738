/** Plain-text tables for `bench kernels`: text left-aligned, numbers right-aligned, a dash where nothing was measured. */

type Cell = string | number | undefined;

/** Three significant digits below 100 (a software adapter runs at 0.01–1 GFLOP/s), whole numbers above. */
function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3);
}

export function formatTable(header: string[], rows: Cell[][]): string {
  const text = rows.map((row) => row.map((c) => (c === undefined ? '—' : typeof c === 'number' ? formatNumber(c) : c)));
  const numeric = header.map((_, j) => rows.some((row) => typeof row[j] === 'number'));
  const widths = header.map((h, j) => Math.max(h.length, ...text.map((row) => row[j].length)));
  const line = (cells: string[]) => cells.map((c, j) => (numeric[j] ? c.padStart(widths[j]) : c.padEnd(widths[j]))).join('  ').trimEnd();
  return [line(header), ...text.map(line)].join('\n');
}
