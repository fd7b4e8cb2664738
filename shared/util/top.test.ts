import { describe, expect, it } from 'vitest';
import { Rng } from './rng';
import { topIndices } from './top';

/** The reference: every index, sorted by value descending, ties by index ascending, cut to k. */
const bySort = (v: ArrayLike<number>, k: number) => Array.from({ length: v.length }, (_, i) => i).sort((a, b) => v[b] - v[a] || a - b).slice(0, Math.max(0, k));

describe('topIndices', () => {
  it('= a full stable descending sort cut to k, ties included', () => {
    const rng = new Rng(3);
    for (const n of [1, 2, 5, 64, 1000]) {
      // few distinct values, so ties are common, and continuous ones
      const tied = Float64Array.from({ length: n }, () => Math.floor(rng.nextFloat() * 7));
      const spread = Float64Array.from({ length: n }, () => rng.normal());
      for (const v of [tied, spread]) for (const k of [0, 1, 2, 7, n - 1, n, n + 5]) expect(topIndices(v, k), `n ${n} k ${k}`).toEqual(bySort(v, k));
    }
  });

  it('handles negative infinities and a constant row', () => {
    expect(topIndices([-Infinity, 3, -Infinity, 3], 3)).toEqual([1, 3, 0]);
    expect(topIndices(new Float32Array(5), 2)).toEqual([0, 1]);
  });
});
