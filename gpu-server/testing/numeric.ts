/** Numeric test helpers shared by the backends' tests (vitest only). */
import { expect } from 'vitest';

/** Uniform in [−scale, scale), xorshift32 from the seed. */
export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 0x100000000 - 0.5) * 2 * scale;
  }
  return a;
}

/**
 * Every element within tol · max(minScale, max|expected|) of the expected value: float32 sums in
 * another order differ by a few ulps of the largest terms, so a per-element relative bound would
 * be meaningless near zero (minScale 1 also keeps an absolute tol for results near zero).
 */
export function expectCloseToScale(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string, minScale = 0): void {
  expect(actual.length, what).toBe(expected.length);
  let scale = minScale;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(Number.isFinite(worst), what).toBe(true);
  expect(worst, `${what}: max |Δ| ${worst} vs ${tol}·${scale}`).toBeLessThanOrEqual(tol * scale);
}
