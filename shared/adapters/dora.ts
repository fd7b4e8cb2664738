/**
 * DoRA (PEFT's `use_dora`) on one linear module with base weight W [out, in] and bias b:
 *
 *   y = (m / ‖W + s·B·A‖_row) ⊙ (y0 − b + s·(x·Aᵀ)·Bᵀ) + b
 *
 * where ‖·‖_row is the L2 norm of each output row of the [out, in] matrix, m the magnitude
 * (`lora_magnitude_vector`, [out]) and y0 = x·Wᵀ + b the frozen output. The norms need the
 * base weights, so they are computed once when the module is prepared (and again through
 * `refreshNorms` after the parameters change); at run time DoRA is a LoRA delta plus a
 * per-row rescale of the base output.
 *
 * Backward treats the norm as a constant, exactly as PEFT does (it detaches `weight_norm`,
 * following the DoRA paper §4.3): the gradients of A, B and m are those of PEFT's training,
 * not the full derivative through the norm.
 */
import type { Floats } from '../model/types';
import { checkLength, floatsLike, gradSlot } from './floats';
import { loraBackward, loraDown, loraUp, type LoraParams } from './lora';
import type { Grads, ModuleAdapter } from './taps';

export interface DoraParams extends LoraParams {
  /** magnitude, [out] */
  m: Floats;
  keyM: string;
  /** base bias [out], if the module has one (Qwen2's q/k/v) */
  bias?: Floats;
}

/** ‖W + s·B·A‖ per output row of the [out, in] weight (float64). */
export function doraNorms(W: Floats, p: LoraParams): Float64Array {
  const { A, B, r, inDim, outDim, scale } = p;
  checkLength('DoRA base weight', W, outDim * inDim);
  const norms = new Float64Array(outDim);
  const row = new Float64Array(inDim);
  for (let o = 0; o < outDim; o++) {
    for (let i = 0; i < inDim; i++) row[i] = W[o * inDim + i];
    for (let k = 0; k < r; k++) {
      const b = scale * B[o * r + k];
      if (b === 0) continue;
      const ao = k * inDim;
      for (let i = 0; i < inDim; i++) row[i] += b * A[ao + i];
    }
    let ss = 0;
    for (let i = 0; i < inDim; i++) ss += row[i] * row[i];
    norms[o] = Math.sqrt(ss);
  }
  return norms;
}

export class DoraModule implements ModuleAdapter {
  readonly form = 'output' as const;
  readonly needsBaseOutput = true;
  /** ‖W + s·B·A‖_row, fixed until refreshNorms. */
  norms: Float64Array;

  constructor(
    readonly p: DoraParams,
    baseWeight: Floats,
  ) {
    checkLength('lora_A', p.A, p.r * p.inDim);
    checkLength('lora_B', p.B, p.outDim * p.r);
    checkLength('lora_magnitude_vector', p.m, p.outDim);
    if (p.bias) checkLength('DoRA base bias', p.bias, p.outDim);
    this.norms = doraNorms(baseWeight, p);
  }

  /** Recomputes the norms from the base weight and the current A, B (after a training step). */
  refreshNorms(baseWeight: Floats): void {
    this.norms = doraNorms(baseWeight, this.p);
  }

  /** The per-row factor m / ‖W + s·B·A‖. */
  rowScale(): Float64Array {
    const c = new Float64Array(this.p.outDim);
    for (let o = 0; o < c.length; o++) c[o] = this.p.m[o] / this.norms[o];
    return c;
  }

  forwardOutput(x: Floats, y0: Floats, rows: number): Floats {
    const { outDim, bias } = this.p;
    checkLength('DoRA input x', x, rows * this.p.inDim);
    checkLength('DoRA base output y0', y0, rows * outDim);
    const delta = loraUp(this.p, loraDown(this.p, x, rows), null, rows, x);
    const c = this.rowScale();
    const y = floatsLike(x, rows * outDim);
    for (let t = 0; t < rows; t++) {
      for (let o = 0; o < outDim; o++) {
        const j = t * outDim + o;
        const b = bias ? bias[o] : 0;
        y[j] = c[o] * (y0[j] - b + delta[j]) + b;
      }
    }
    return y;
  }

  backwardOutput(x: Floats, y0: Floats, dy: Floats, rows: number, grads: Grads): { dx: Floats | null; dy0: Floats } {
    const { outDim, bias } = this.p;
    checkLength('DoRA dy', dy, rows * outDim);
    const delta = loraUp(this.p, loraDown(this.p, x, rows), null, rows, x);
    const c = this.rowScale();
    const dm = gradSlot(grads, this.p.keyM, outDim);
    const g = floatsLike(x, rows * outDim); // dL/d(y0 − b + delta) = c ⊙ dy, also dL/dy0
    for (let t = 0; t < rows; t++) {
      for (let o = 0; o < outDim; o++) {
        const j = t * outDim + o;
        const b = bias ? bias[o] : 0;
        g[j] = c[o] * dy[j];
        dm[o] += (dy[j] * (y0[j] - b + delta[j])) / this.norms[o];
      }
    }
    const dx = loraBackward(this.p, x, g, rows, grads);
    return { dx, dy0: g };
  }

  forwardInput(_x: Floats, _rows: number): Floats {
    throw new Error('DoRA acts on a module output, not its input');
  }

  backwardInput(_x: Floats, _dxPrime: Floats, _rows: number, _grads: Grads): Floats {
    throw new Error('DoRA acts on a module output, not its input');
  }
}
