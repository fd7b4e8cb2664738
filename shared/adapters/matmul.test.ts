import { describe, expect, it } from 'vitest';
import { matmulInto, rowMajor, transposed, transposeOf } from './matmul';
import { randomArray } from './test-support';

/** C = W·X the plain way, W [m, k] given by an element getter. */
function naive(w: (a: number, b: number) => number, X: Float64Array, m: number, k: number, n: number): Float64Array {
  const C = new Float64Array(m * n);
  for (let a = 0; a < m; a++) for (let j = 0; j < n; j++) for (let b = 0; b < k; b++) C[a * n + j] += w(a, b) * X[b * n + j];
  return C;
}

describe('matmulInto', () => {
  // n from 1 to 21 covers the 8-, 4- and 1-column paths and their mixes.
  for (const [m, k, n] of [[3, 5, 1], [4, 7, 4], [2, 9, 8], [5, 3, 13], [3, 11, 21]]) {
    it(`equals the plain product for W [${m}×${k}] and its transpose, X [${k}×${n}], set and accumulate`, () => {
      const W = randomArray(m * k, 1);
      const Wt = transposeOf(W, m, k); // [k, m]
      const X = randomArray(k * n, 2);
      const want = naive((a, b) => W[a * k + b], X, m, k, n);
      const C = new Float64Array(m * n);
      matmulInto(C, rowMajor(W, k), X, m, k, n, 2, false);
      C.forEach((c, i) => expect(c).toBeCloseTo(2 * want[i], 12));
      // W read through the transpose of Wt, and added onto what C holds.
      matmulInto(C, transposed(Wt, m), X, m, k, n, -1, true);
      C.forEach((c, i) => expect(c).toBeCloseTo(want[i], 12));
    });
  }
});
