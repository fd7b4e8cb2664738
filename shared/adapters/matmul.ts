/**
 * The small dense products under the adapters' backward passes, in float64: C (+)= s·W·X with
 * W read through strides, so Wᵀ costs no copy. Column blocks of eight (then four) keep their
 * sums in registers while the inner loop walks W's row; accumulating into arrays one multiply-add
 * at a time (the obvious loops) loads and stores an accumulator at every step instead. Float64Array
 * only: one element type keeps V8's loads monomorphic in the hot loop.
 */

/** A [rows, cols] matrix in a row-major Float64Array, or its transpose read in place. */
export interface Operand {
  data: Float64Array;
  /** Distance between consecutive rows / columns of the (possibly transposed) view. */
  rowStride: number;
  colStride: number;
}

export const rowMajor = (data: Float64Array, cols: number): Operand => ({ data, rowStride: cols, colStride: 1 });
/** The transpose of row-major data [rows, cols] (a [cols, rows] view). */
export const transposed = (data: Float64Array, cols: number): Operand => ({ data, rowStride: 1, colStride: cols });

/**
 * C [m, n] (row-major) = or += s · W [m, k] · X [k, n] (X row-major), in column blocks of 8, then
 * 4, then 1. Sums run over k in index order.
 */
export function matmulInto(C: Float64Array, W: Operand, X: Float64Array, m: number, k: number, n: number, s: number, accumulate: boolean): void {
  const { data: w, rowStride: wr, colStride: wc } = W;
  for (let a = 0; a < m; a++) {
    const co = a * n;
    const wo = a * wr;
    let j = 0;
    for (; j + 8 <= n; j += 8) {
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0;
      for (let b = 0, wi = wo, xi = j; b < k; b++, wi += wc, xi += n) {
        const v = w[wi];
        c0 += v * X[xi];
        c1 += v * X[xi + 1];
        c2 += v * X[xi + 2];
        c3 += v * X[xi + 3];
        c4 += v * X[xi + 4];
        c5 += v * X[xi + 5];
        c6 += v * X[xi + 6];
        c7 += v * X[xi + 7];
      }
      store(C, co + j, s * c0, accumulate);
      store(C, co + j + 1, s * c1, accumulate);
      store(C, co + j + 2, s * c2, accumulate);
      store(C, co + j + 3, s * c3, accumulate);
      store(C, co + j + 4, s * c4, accumulate);
      store(C, co + j + 5, s * c5, accumulate);
      store(C, co + j + 6, s * c6, accumulate);
      store(C, co + j + 7, s * c7, accumulate);
    }
    for (; j + 4 <= n; j += 4) {
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let b = 0, wi = wo, xi = j; b < k; b++, wi += wc, xi += n) {
        const v = w[wi];
        c0 += v * X[xi];
        c1 += v * X[xi + 1];
        c2 += v * X[xi + 2];
        c3 += v * X[xi + 3];
      }
      store(C, co + j, s * c0, accumulate);
      store(C, co + j + 1, s * c1, accumulate);
      store(C, co + j + 2, s * c2, accumulate);
      store(C, co + j + 3, s * c3, accumulate);
    }
    for (; j < n; j++) {
      let c = 0;
      for (let b = 0, wi = wo, xi = j; b < k; b++, wi += wc, xi += n) c += w[wi] * X[xi];
      store(C, co + j, s * c, accumulate);
    }
  }
}

function store(C: Float64Array, i: number, v: number, accumulate: boolean): void {
  C[i] = accumulate ? C[i] + v : v;
}

/** A float64 copy (or the array itself when it already is one). */
export function asFloat64(a: ArrayLike<number>): Float64Array {
  return a instanceof Float64Array ? a : Float64Array.from(a);
}

/** mᵀ [cols, rows] of the row-major m [rows, cols], as a row-major array (for X operands). */
export function transposeOf(m: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(m.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
  return t;
}
