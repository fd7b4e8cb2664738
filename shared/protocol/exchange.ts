/**
 * What the server asks of the adapter's side at a tap, as plain data: the server's connection
 * handler turns these into tap frames, the split client answers them from the adapter. Answers
 * are validated (shapes, finite values) before use.
 */
import type { ModuleName, TapName } from '../adapters/taps';
import { firstNonFinite } from '../util/finite';

export interface ForwardTap {
  layer: number;
  tap: TapName;
  form: 'output' | 'input';
  rows: number;
  /** The tap's input [rows, in]. */
  x: Float32Array;
  /** Frozen outputs [rows, out] of modules that need them (output form). */
  y0: Partial<Record<ModuleName, Float32Array>>;
}

export interface BackwardTap {
  layer: number;
  tap: TapName;
  form: 'output' | 'input';
  rows: number;
  /** Output form: dL/dy [rows, out] per planned module. Input form: dL/dx' [rows, in] of the module. */
  grads: Partial<Record<ModuleName, Float32Array>>;
}

/** Output form: y − y0 per module; input form: the replacement input per module. */
export type ForwardTapAnswer = Partial<Record<ModuleName, Float32Array>>;

export interface BackwardTapAnswer {
  /** Output form: the adapter's own dL/dx [rows, in], if any. */
  dx?: Float32Array;
  /** Output form: dL/dy0 [rows, out] for modules where it differs from dL/dy. Input form: dL/dx per module. */
  grads: Partial<Record<ModuleName, Float32Array>>;
}

export interface TapExchange {
  forward(tap: ForwardTap): Promise<ForwardTapAnswer>;
  backward(tap: BackwardTap): Promise<BackwardTapAnswer>;
}

export class TapAnswerError extends Error {}

/** Checks an answer tensor: present when required, the right length, finite. */
export function checkTensor(what: string, t: Float32Array | undefined, length: number): Float32Array {
  if (!t) throw new TapAnswerError(`${what} is missing`);
  if (t.length !== length) throw new TapAnswerError(`${what} has ${t.length} elements, expected ${length}`);
  const bad = firstNonFinite(t);
  if (bad >= 0) throw new TapAnswerError(`${what} contains NaN or Inf at element ${bad}`);
  return t;
}
