/**
 * Finite-difference helpers for checking backward passes (used by tests, in float64).
 */
import type { Floats } from '../model/types';

/** Central difference (f(a[i]+h) − f(a[i]−h)) / 2h; a[i] is mutated and restored. */
export function centralDifference(a: Floats, i: number, f: () => number, h = 1e-5): number {
  const v = a[i];
  a[i] = v + h;
  const up = f();
  a[i] = v - h;
  const down = f();
  a[i] = v;
  return (up - down) / (2 * h);
}

/** The central-difference gradient of f with respect to every element of a (or just `indices`). */
export function numericGradient(a: Floats, f: () => number, h = 1e-5, indices?: Iterable<number>): Float64Array {
  const g = new Float64Array(a.length);
  for (const i of indices ?? a.keys()) g[i] = centralDifference(a, i, f, h);
  return g;
}

/**
 * The directional derivative of f along `direction` by central differences:
 * (f(a + h·d) − f(a − h·d)) / 2h, which should equal dot(grad, d). a is restored afterwards.
 */
export function directionalDerivative(a: Floats, direction: ArrayLike<number>, f: () => number, h = 1e-5): number {
  const saved = a.slice();
  for (let i = 0; i < a.length; i++) a[i] = saved[i] + h * direction[i];
  const up = f();
  for (let i = 0; i < a.length; i++) a[i] = saved[i] - h * direction[i];
  const down = f();
  a.set(saved);
  return (up - down) / (2 * h);
}

/** Norm-wise relative error ‖a − b‖∞ / max(‖b‖∞, floor): robust where b has near-zero entries. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-30): number {
  if (a.length !== b.length) throw new Error(`relativeError: lengths differ (${a.length} vs ${b.length})`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, floor);
}

/** Scalar relative error |a − b| / max(|b|, floor). */
export function relativeErrorScalar(a: number, b: number, floor = 1e-30): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), floor);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`dot: lengths differ (${a.length} vs ${b.length})`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
