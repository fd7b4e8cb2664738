/** Fused weight groups produce side-by-side outputs; these split and join them by columns (new arrays from `alloc`). */
import { newFloats, type Alloc } from './host-pool';

/** y [rows, Σwidths] → one [rows, width] array per width. */
export function splitColumns(y: Float32Array, rows: number, widths: readonly number[], alloc: Alloc = newFloats): Float32Array[] {
  const total = widths.reduce((a, b) => a + b, 0);
  if (y.length !== rows * total) throw new Error(`splitColumns: ${y.length} elements is not ${rows}×${total}`);
  if (rows === 1) {
    // one row: the parts are consecutive, so views of y need no copies
    let offset = 0;
    return widths.map((w) => y.subarray(offset, (offset += w)));
  }
  const parts = widths.map((w) => alloc(rows * w));
  for (let r = 0; r < rows; r++) {
    let offset = r * total;
    widths.forEach((w, i) => {
      parts[i].set(y.subarray(offset, offset + w), r * w);
      offset += w;
    });
  }
  return parts;
}

/** The widths of [rows, width] parts (host arrays or device tensors); throws on a part that is not whole rows. */
export function columnWidths(parts: readonly { readonly length: number }[], rows: number): number[] {
  return parts.map((p, i) => {
    const width = p.length / rows;
    if (!Number.isInteger(width)) throw new Error(`joinColumns: part ${i} has ${p.length} elements, not a multiple of ${rows} rows`);
    return width;
  });
}

/** The inverse: [rows, width] arrays → [rows, Σwidths]. */
export function joinColumns(parts: readonly Float32Array[], rows: number, alloc: Alloc = newFloats): Float32Array {
  const widths = columnWidths(parts, rows);
  const total = widths.reduce((a, b) => a + b, 0);
  const y = alloc(rows * total);
  for (let r = 0; r < rows; r++) {
    let offset = r * total;
    parts.forEach((p, i) => {
      y.set(p.subarray(r * widths[i], (r + 1) * widths[i]), offset);
      offset += widths[i];
    });
  }
  return y;
}
