import { describe, expect, it } from 'vitest';
import { expShiftSum } from './exp-shift';

const row = (n: number, spread: number) => Float32Array.from({ length: n }, (_, i) => spread * Math.sin(i * 12.9898) * Math.cos(i * 0.37));
const maxOf = (a: Float32Array) => a.reduce((m, x) => Math.max(m, x), -Infinity);

/** The plain computation it replaces (loss.ts before it). */
function reference(src: Float32Array, shift: number, scaleOf: (sum: number) => number): { sum: number; dst: Float32Array } {
  const dst = new Float32Array(src.length);
  let sum = 0;
  for (let i = 0; i < src.length; i++) sum += dst[i] = Math.exp(src[i] - shift);
  const scale = scaleOf(sum);
  for (let i = 0; i < src.length; i++) dst[i] *= scale;
  return { sum, dst };
}

describe('expShiftSum (float64 SIMD exponentials of the loss)', () => {
  it("= Math.exp's sum to 1e-14 and its float32 results exactly, at every length mod 4, with and without a scale", () => {
    for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 9, 37, 1000, 32001]) {
      for (const spread of [1, 8, 40]) {
        const src = row(n, spread);
        const shift = n === 0 ? 0 : maxOf(src);
        for (const scaleOf of [() => 1, (s: number) => 1 / (s * 3)]) {
          const dst = new Float32Array(n);
          const sum = expShiftSum(src, shift, dst, scaleOf);
          const ref = reference(src, shift, scaleOf);
          expect(Math.abs(sum - ref.sum), `n ${n} spread ${spread}`).toBeLessThanOrEqual(1e-14 * ref.sum);
          const differing = dst.reduce((k, x, i) => k + (Math.abs(x - ref.dst[i]) > 2 ** -23 * Math.abs(ref.dst[i]) ? 1 : 0), 0);
          expect(differing, `n ${n} spread ${spread}`).toBe(0);
        }
      }
    }
  });

  it('is e^t to a few float64 ulps at each t (rows of four equal logits, so no summation hides it)', () => {
    let worst = 0;
    for (let k = 0; k <= 400; k++) {
      const t = Math.fround(-k * 0.0537);
      const sum = expShiftSum(Float32Array.of(t, t, t, t), 0, new Float32Array(4), () => 1);
      worst = Math.max(worst, Math.abs(sum - 4 * Math.exp(t)) / (4 * Math.exp(t)));
    }
    expect(worst).toBeLessThan(1e-15);
  });

  it('covers the whole float64 range of e^t: t down to −745 and past it, −Infinity, and NaN propagated', () => {
    const src = Float32Array.of(0, -1, -100, -700, -707.9, -708.5, -745, -800, -Infinity, -3, -0.5, -0.25);
    const dst = new Float32Array(src.length);
    const sum = expShiftSum(src, 0, dst, () => 1);
    const ref = reference(src, 0, () => 1);
    expect(Math.abs(sum - ref.sum)).toBeLessThanOrEqual(1e-15 * ref.sum);
    expect(dst).toEqual(ref.dst);
    // Near the bottom of the range alone (2ⁿ built from n down to −1010), where no larger term hides an error.
    const low = Float32Array.of(-700, -701.5, -703, -707.5);
    const lowSum = expShiftSum(low, 0, new Float32Array(4), () => 1);
    expect(Math.abs(lowSum - reference(low, 0, () => 1).sum)).toBeLessThanOrEqual(1e-14 * lowSum);
    expect(expShiftSum(Float32Array.of(1, NaN, 2, 3), 3, new Float32Array(4), () => 1)).toBeNaN();
  });

  it('works in place, after a larger row grew its memory', () => {
    expShiftSum(row(200_000, 5), 5, new Float32Array(200_000), () => 1);
    const src = row(1001, 8);
    const shift = maxOf(src);
    const ref = reference(src, shift, (s) => 1 / s);
    const sum = expShiftSum(src, shift, src, (s) => 1 / s);
    expect(Math.abs(sum - ref.sum)).toBeLessThanOrEqual(1e-14 * ref.sum);
    expect(src).toEqual(ref.dst);
  });

  it('refuses a destination of another length', () => {
    expect(() => expShiftSum(new Float32Array(4), 0, new Float32Array(3), () => 1)).toThrow(/dst holds 3 elements, src 4/);
  });
});
