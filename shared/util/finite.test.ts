import { describe, expect, it } from 'vitest';
import { firstNonFinite } from './finite';

describe('firstNonFinite', () => {
  it('is −1 for finite tensors, however large their values, and for an empty one', () => {
    expect(firstNonFinite(new Float32Array(0))).toBe(-1);
    expect(firstNonFinite(Float32Array.of(3.4e38, -3.4e38, -0, 1e-45, 0))).toBe(-1);
    expect(firstNonFinite(Float64Array.of(Number.MAX_VALUE, -Number.MAX_VALUE))).toBe(-1);
  });

  it('finds the first NaN, +Inf or −Inf at any place: the start, inside the blocks of four, in the rest, the end', () => {
    for (const n of [1, 3, 4, 5, 8, 11, 1001]) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const at of new Set([0, Math.floor(n / 2), n - 1])) {
          const t = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 1e30);
          t[at] = bad;
          if (at + 1 < n) t[n - 1] = NaN; // a later one must not be reported instead
          expect(firstNonFinite(t), `n ${n}, ${bad} at ${at}`).toBe(at);
        }
      }
    }
  });

  it('reports the first of several non-finite values (+Inf, then −Inf)', () => {
    expect(firstNonFinite(Float32Array.of(1, Infinity, -Infinity, 2))).toBe(1);
    expect(firstNonFinite(Float32Array.of(1, 2, 3, 4, Infinity, 5, 6, 7, -Infinity))).toBe(4);
  });
});
