/** Test helpers (imported by *.test.ts only): random arrays and finite-difference checks in float64. */
import type { Floats } from '../model/types';
import { Rng } from '../util/rng';
import { centralDifference } from '../util/gradcheck';
import type { Grads, ModuleAdapter } from './taps';

export function randomArray(n: number, seed: number, scale = 1): Float64Array {
  const rng = new Rng(seed);
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * rng.normal();
  return a;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Largest violation of |fd − analytic| ≤ atol + rtol·|analytic| (≤ 0 means all pass), plus where. */
export function compareGradients(
  analytic: ArrayLike<number>,
  numeric: ArrayLike<number>,
  rtol: number,
  atol: number,
): { worst: number; at: number } {
  let worst = -Infinity;
  let at = -1;
  for (let i = 0; i < analytic.length; i++) {
    const excess = Math.abs(numeric[i] - analytic[i]) - (atol + rtol * Math.abs(analytic[i]));
    if (excess > worst) {
      worst = excess;
      at = i;
    }
  }
  return { worst, at };
}

export interface ModuleGradCheck {
  name: string;
  analytic: ArrayLike<number>;
  numeric: Float64Array;
}

/**
 * For an output-form module: L = Σ w ⊙ forwardOutput(x, y0). Returns, for dx, dy0 and each
 * parameter, the analytic gradient (backwardOutput with dy = w) and the central difference.
 * The params are mutated in place for the differences (and restored).
 */
export function checkOutputModule(
  mod: ModuleAdapter,
  x: Float64Array,
  y0: Float64Array,
  rows: number,
  params: Record<string, Floats>,
): ModuleGradCheck[] {
  const w = randomArray(y0.length, 999);
  const loss = () => dot(w, mod.forwardOutput(x, y0, rows));
  const grads: Grads = new Map();
  const { dx, dy0 } = mod.backwardOutput(x, y0, w, rows, grads);
  const fd = (a: Floats) => Float64Array.from(a, (_, i) => centralDifference(a, i, loss));
  const out: ModuleGradCheck[] = [
    { name: 'dx', analytic: dx ?? new Float64Array(x.length), numeric: fd(x) },
    { name: 'dy0', analytic: dy0, numeric: fd(y0) },
  ];
  for (const [key, p] of Object.entries(params)) {
    out.push({ name: key, analytic: grads.get(key) ?? new Float64Array(p.length), numeric: fd(p) });
  }
  return out;
}

/** For an input-form module: L = Σ w ⊙ forwardInput(x). */
export function checkInputModule(mod: ModuleAdapter, x: Float64Array, rows: number, params: Record<string, Floats>): ModuleGradCheck[] {
  const w = randomArray(x.length, 998);
  const loss = () => dot(w, mod.forwardInput(x, rows));
  const grads: Grads = new Map();
  const dx = mod.backwardInput(x, w, rows, grads);
  const fd = (a: Floats) => Float64Array.from(a, (_, i) => centralDifference(a, i, loss));
  const out: ModuleGradCheck[] = [{ name: 'dx', analytic: dx, numeric: fd(x) }];
  for (const [key, p] of Object.entries(params)) {
    out.push({ name: key, analytic: grads.get(key) ?? new Float64Array(p.length), numeric: fd(p) });
  }
  return out;
}
