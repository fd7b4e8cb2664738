/**
 * SiLU·mul and its backward in WebAssembly against the reference ops. Float32 with an approximate
 * e^x (silu.ts) against float64: every element within 2e-6 · (1 + |reference|) — a few float32
 * ulps; dg's absolute bound matters where 1 + g(1 − σ(g)) cancels (g ≈ −1.28).
 */
import { describe, expect, it } from 'vitest';
import { siluMul, siluMulBackward } from '../../../shared/reference/ops';
import { randomFloats } from '../../testing/numeric';
import { siluMulBackwardF32, siluMulF32 } from './silu';

function expectClose(actual: Float32Array, expected: Float32Array, what: string) {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
  expect(worst, what).toBeLessThanOrEqual(2e-6);
}

// Lengths that fill whole vectors and that leave one, two or three lanes over; and empty.
const LENGTHS = [0, 1, 2, 3, 4, 7, 1376, 64 * 2048 + 3];

describe('SiLU·mul in WebAssembly', () => {
  for (const n of LENGTHS) {
    it(`forward and backward = the reference at ${n} elements`, () => {
      // g over [−24, 24): σ saturates at both ends and passes the e^x clamp's edges
      const g = randomFloats(n, 1 + n, 24);
      const u = randomFloats(n, 2 + n, 2);
      const dm = randomFloats(n, 3 + n);
      expectClose(siluMulF32(g, u), siluMul(g, u), 'm');
      const fast = siluMulBackwardF32(dm, g, u);
      const ref = siluMulBackward(dm, g, u);
      expectClose(fast.dg, ref.dg, 'dg');
      expectClose(fast.du, ref.du, 'du');
    });
  }

  it('stays finite and saturates at extreme inputs', () => {
    const g = Float32Array.of(-1e4, -100, -88.5, 0, 88.5, 100, 1e4, -0);
    const u = new Float32Array(g.length).fill(1);
    const m = siluMulF32(g, u);
    expect(m.every(Number.isFinite)).toBe(true);
    expectClose(m, siluMul(g, u), 'm');
    const { dg, du } = siluMulBackwardF32(u, g, u);
    expect([...dg, ...du].every(Number.isFinite)).toBe(true);
  });

  it('results do not alias its scratch memory, and a large call after small ones grows it', () => {
    const a = siluMulF32(Float32Array.of(1, 2), Float32Array.of(1, 1));
    const kept = a.slice();
    siluMulF32(Float32Array.of(5, 6), Float32Array.of(1, 1));
    expect(a).toEqual(kept);
    const big = randomFloats(300_000, 9);
    expectClose(siluMulF32(big, big), siluMul(big, big), 'big');
  });

  it('refuses mismatched lengths by name', () => {
    expect(() => siluMulF32(new Float32Array(4), new Float32Array(3))).toThrow(/siluMul u/);
    expect(() => siluMulBackwardF32(new Float32Array(4), new Float32Array(4), new Float32Array(5))).toThrow(/siluMulBackward u/);
  });
});
