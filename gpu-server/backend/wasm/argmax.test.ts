/**
 * The server's argmax against the reference's (shared/reference/sampling.ts): the same index on
 * random rows of every length mod 4, on ties (the first wins, across lanes and in the tail), on
 * ±0, −Infinity, NaNs anywhere (skipped) and first (index 0), and on an empty row.
 */
import { describe, expect, it } from 'vitest';
import { argmax } from '../../../shared/reference/sampling';
import { Rng } from '../../../shared/util/rng';
import { argmaxF32 } from './argmax';

describe('argmaxF32 (greedy decoding on the server)', () => {
  const rng = new Rng(3);

  it('= the reference on random rows of every length mod 4, and after a larger row grew its memory', () => {
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 63, 512, 32000, 32003, 200_001, 17]) {
      for (let k = 0; k < 5; k++) {
        const x = Float32Array.from({ length: n }, () => 3 * rng.normal());
        expect(argmaxF32(x), `n ${n}`).toBe(argmax(x));
      }
    }
  });

  it('= the reference on ties: the first index of the maximum, whichever lane or the tail holds it', () => {
    for (const n of [4, 5, 8, 11, 32000, 32003]) {
      for (let k = 0; k < 20; k++) {
        const x = Float32Array.from({ length: n }, () => Math.floor(rng.nextFloat() * 3)); // many equal maxima
        expect(argmaxF32(x), `n ${n}`).toBe(argmax(x));
        const y = new Float32Array(n).fill(-1);
        const at = [Math.floor(rng.nextFloat() * n), Math.floor(rng.nextFloat() * n)];
        for (const i of at) y[i] = 2; // two equal maxima in any lanes
        expect(argmaxF32(y), `n ${n} at ${at}`).toBe(Math.min(...at));
      }
    }
  });

  it('= the reference on ±0, −Infinity, NaN anywhere and NaN first, and on an empty row', () => {
    const rows = [
      [-0, 0, -0, 0, 0],
      [0, -0, 0],
      [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity],
      [-Infinity, NaN, -Infinity, 3, NaN, 5, NaN, 5, NaN],
      [1, NaN, NaN, NaN, NaN, NaN, 0.5, 2, NaN],
      [NaN, 1, 2, 3, 4, 5, 6],
      [NaN, NaN, NaN, NaN, NaN],
      [],
    ];
    for (const row of rows) expect(argmaxF32(Float32Array.from(row)), `[${row}]`).toBe(argmax(Float32Array.from(row)));
  });

  it('refuses float64 logits', () => {
    expect(() => argmaxF32(new Float64Array(4))).toThrow(/Float32Array/);
  });
});
