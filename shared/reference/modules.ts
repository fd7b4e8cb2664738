/**
 * One module (linear layer) of a decoder layer, with the adapter applied at its tap exactly per
 * the ModuleAdapter contract (shared/adapters/taps.ts):
 *  - no adapter:   y = x·Wᵀ + b
 *  - input form:   y = f(x)·Wᵀ + b              (the frozen layer sees x' = forwardInput(x))
 *  - output form:  y = f(x, y0), y0 = x·Wᵀ + b  (forwardOutput sees the frozen output, bias included)
 * Backward: the frozen path's dx = dy0·W, plus the adapter's own dx where it returns one.
 */
import type { Floats } from '../model/types';
import type { Grads, ModuleAdapter } from '../adapters/taps';
import { addInPlace, checkShape, conform, linear, linearBackward } from './ops';

export interface ModuleShape {
  rows: number;
  inDim: number;
  outDim: number;
}

/** x [rows, inDim] → y [rows, outDim]. `keepY0` receives the frozen output of an output-form module. */
export function project<T extends Floats>(
  x: T,
  w: Floats,
  b: Floats | undefined,
  { rows, inDim, outDim }: ModuleShape,
  adapter: ModuleAdapter | undefined,
  keepY0?: (y0: T) => void,
): T {
  if (!adapter) return linear(x, w, b, rows, inDim, outDim);
  if (adapter.form === 'input') {
    const xPrime = adapter.forwardInput(x, rows);
    checkShape('adapter forwardInput result', xPrime, rows * inDim);
    return linear(conform(xPrime, x), w, b, rows, inDim, outDim);
  }
  const y0 = linear(x, w, b, rows, inDim, outDim);
  keepY0?.(y0);
  const y = adapter.forwardOutput(x, y0, rows);
  checkShape('adapter forwardOutput result', y, rows * outDim);
  return conform(y, x);
}

/**
 * dy [rows, outDim] → dx [rows, inDim]; adapter parameter gradients are added into `grads`.
 * x is the module's input as the forward saw it (before an input-form adapter); y0 the frozen
 * output the forward kept (output form only).
 */
export function projectBackward<T extends Floats>(
  dy: T,
  x: Floats,
  w: Floats,
  { rows, inDim, outDim }: ModuleShape,
  adapter: ModuleAdapter | undefined,
  y0: Floats | undefined,
  grads: Grads,
): T {
  if (!adapter) return linearBackward(dy, w, rows, inDim, outDim);
  if (adapter.form === 'input') {
    const dxPrime = linearBackward(dy, w, rows, inDim, outDim);
    const dx = adapter.backwardInput(x, dxPrime, rows, grads);
    checkShape('adapter backwardInput result', dx, rows * inDim);
    return conform(dx, dy);
  }
  if (!y0) throw new Error('projectBackward: the frozen output y0 of an output-form module was not kept');
  const { dx: dxAdapter, dy0 } = adapter.backwardOutput(x, y0, dy, rows, grads);
  checkShape('adapter backwardOutput dy0', dy0, rows * outDim);
  const dx = linearBackward(conform(dy0, dy), w, rows, inDim, outDim);
  if (dxAdapter) {
    checkShape('adapter backwardOutput dx', dxAdapter, rows * inDim);
    addInPlace(dx, dxAdapter);
  }
  return dx;
}
