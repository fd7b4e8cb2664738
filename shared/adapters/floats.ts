/** Small helpers shared by the adapter math: arrays of the caller's precision, gradient slots. */
import type { Floats } from '../model/types';
import type { Grads } from './taps';

/** A zeroed array of n elements with the same element type as `like` (float32 or float64). */
export function floatsLike(like: Floats, n: number): Floats {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

/** The gradient slot for `key`, created zeroed with n elements when absent. */
export function gradSlot(grads: Grads, key: string, n: number): Float64Array {
  let g = grads.get(key);
  if (g === undefined) {
    g = new Float64Array(n);
    grads.set(key, g);
  } else if (g.length !== n) {
    throw new Error(`gradient "${key}" has ${g.length} elements, expected ${n}`);
  }
  return g;
}

export function checkLength(what: string, a: Floats, n: number): void {
  if (a.length !== n) throw new Error(`${what}: expected ${n} elements, got ${a.length}`);
}
