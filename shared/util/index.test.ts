import { describe, expect, it } from 'vitest';
import { Rng, centralDifference, directionalDerivative, dot, numericGradient, relativeError, relativeErrorScalar } from './index';

describe('Rng (xoshiro128**)', () => {
  it('matches the reference C implementation from state [1, 2, 3, 4]', () => {
    // Values printed by Blackman & Vigna's xoshiro128starstar.c with s = {1, 2, 3, 4}.
    const rng = Rng.fromState([1, 2, 3, 4]);
    expect(Array.from({ length: 6 }, () => rng.nextUint32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('pins the seeded stream (a change here breaks reproducibility of saved seeds)', () => {
    const rng = new Rng(42);
    expect([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()]).toEqual([2837322924, 544945897, 479756282]);
    expect(rng.nextFloat()).toBe(0.814939410083783);
    expect(new Rng(2 ** 40 + 7).nextUint32()).toBe(1606920336); // high bits of the seed count
  });

  it('same seed, same stream; different seeds differ', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const c = new Rng(8);
    const xs = Array.from({ length: 100 }, () => a.nextFloat());
    expect(Array.from({ length: 100 }, () => b.nextFloat())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c.nextFloat())).not.toEqual(xs);
  });

  it('state() / fromState resume the stream exactly, also through JSON', () => {
    const a = new Rng(123);
    for (let i = 0; i < 17; i++) a.normal();
    const saved = JSON.parse(JSON.stringify(a.state())) as number[];
    const b = Rng.fromState(saved);
    for (let i = 0; i < 50; i++) expect(b.normal()).toBe(a.normal());
    expect(b.state()).toEqual(a.state());
  });

  it('rejects bad states and seeds', () => {
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(/all zero/);
    expect(() => Rng.fromState([1, 2, 3])).toThrow(/four uint32/);
    expect(() => Rng.fromState([1, 2, 3, 2 ** 32])).toThrow(/four uint32/);
    expect(() => new Rng(NaN)).toThrow(/finite/);
  });

  it('nextFloat is uniform in [0, 1), normal is N(0, 1), nextInt is in range', () => {
    const rng = new Rng(1);
    const n = 40000;
    let sum = 0;
    let sumN = 0;
    let sumN2 = 0;
    const counts = new Array(5).fill(0);
    for (let i = 0; i < n; i++) {
      const u = rng.nextFloat();
      if (!(u >= 0 && u < 1)) throw new Error(`nextFloat out of range: ${u}`);
      sum += u;
      const z = rng.normal();
      sumN += z;
      sumN2 += z * z;
      counts[rng.nextInt(5)]++;
    }
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(sumN / n)).toBeLessThan(0.02);
    expect(Math.abs(sumN2 / n - 1)).toBeLessThan(0.03);
    for (const c of counts) expect(Math.abs(c / n - 0.2)).toBeLessThan(0.01);
  });
});

describe('finite-difference helpers', () => {
  const f = (x: Float64Array) => () => x.reduce((s, v) => s + v * v * v, 0); // Σ x³, gradient 3x²

  it('numericGradient and centralDifference match the analytic gradient', () => {
    const x = Float64Array.from([0.5, -1.2, 2]);
    const g = numericGradient(x, f(x));
    expect(relativeError(g, x.map((v) => 3 * v * v))).toBeLessThan(1e-8);
    expect(centralDifference(x, 1, f(x))).toBeCloseTo(3 * 1.44, 8);
    expect(Array.from(x)).toEqual([0.5, -1.2, 2]); // restored
  });

  it('directionalDerivative equals grad · direction', () => {
    const x = Float64Array.from([0.5, -1.2, 2]);
    const d = [1, -2, 0.5];
    const expected = dot(x.map((v) => 3 * v * v), d);
    expect(relativeErrorScalar(directionalDerivative(x, d, f(x)), expected)).toBeLessThan(1e-8);
    expect(Array.from(x)).toEqual([0.5, -1.2, 2]);
  });

  it('relativeError is norm-wise', () => {
    expect(relativeError([1, 0], [1, 1e-9])).toBeCloseTo(1e-9, 15);
    expect(() => relativeError([1], [1, 2])).toThrow();
  });
});
