/**
 * The Float32 fast paths against the reference ops they stand in for. RoPE (and its backward) does
 * the same arithmetic in the same order, so its tolerance is zero (identical element by element);
 * attention sums q·k in four partial sums, so it must match to 1e-6 absolute per element
 * (outputs are O(1); float32 rounding of the result is ~6e-8).
 */
import { describe, expect, it } from 'vitest';
import { randomFloats } from '../testing/numeric';
import { attention, rope, ropeBackward } from '../../shared/reference/ops';
import { attentionF32, ropeBackwardF32, ropeF32 } from './fastops';

describe('engine fast ops', () => {
  it('ropeF32 = reference rope (prefill and decode rows, positions past the first table)', () => {
    for (const [rows, pos0, theta] of [[5, 0, 10000], [1, 17, 10000], [3, 300, 500000], [1, 700, 10000]]) {
      const x = randomFloats(rows * 4 * 8, rows + pos0);
      expect(ropeF32(x, rows, 4, 8, pos0, theta)).toEqual(rope(x, rows, 4, 8, pos0, theta));
      expect(ropeBackwardF32(x, rows, 4, 8, pos0, theta)).toEqual(ropeBackward(x, rows, 4, 8, pos0, theta));
    }
  });

  it('RoPE writes into a given array of any prior contents, and refuses one of the wrong length', () => {
    const x = randomFloats(3 * 4 * 8, 5);
    const out = new Float32Array(x.length).fill(Number.NaN);
    expect(ropeBackwardF32(x, 3, 4, 8, 2, 10000, out)).toBe(out);
    expect(out).toEqual(ropeBackward(x, 3, 4, 8, 2, 10000));
    expect(ropeF32(x, 3, 4, 8, 2, 10000, out)).toBe(out);
    expect(out).toEqual(rope(x, 3, 4, 8, 2, 10000));
    expect(() => ropeF32(x, 3, 4, 8, 2, 10000, new Float32Array(x.length - 1))).toThrow(/rope out/);
  });

  it('attentionF32 = reference attention (grouped-query in pairs, threes and none; prefill and decode)', () => {
    const cases = [[6, 0, 4, 2, 8], [1, 9, 4, 2, 8], [2, 300, 4, 2, 8], [3, 5, 6, 2, 6], [2, 7, 3, 3, 5]];
    for (const [rows, pos0, nHeads, nKvHeads, headDim] of cases) {
      const shape = { rows, pos0, nHeads, nKvHeads, headDim };
      const q = randomFloats(rows * nHeads * headDim, 1 + rows);
      const k = randomFloats((pos0 + rows + 3) * nKvHeads * headDim, 2 + pos0);
      const v = randomFloats((pos0 + rows + 3) * nKvHeads * headDim, 3 + pos0);
      const fast = attentionF32(q, k, v, shape);
      const ref = attention(q, k, v, shape);
      expect(fast.length).toBe(ref.length);
      const maxError = fast.reduce((m, x, i) => Math.max(m, Math.abs(x - ref[i])), 0);
      expect(maxError).toBeLessThanOrEqual(1e-6);
    }
  });
});
