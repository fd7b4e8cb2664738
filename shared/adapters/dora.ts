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
import { KeptDowns, loraBackward, loraUp, type LoraParams } from './lora';
import { asFloat64, matmulInto, rowMajor, transposeOf } from './matmul';
import type { DeferWork, Grads, ModuleAdapter } from './taps';

export interface DoraParams extends LoraParams {
  /** magnitude, [out] */
  m: Floats;
  keyM: string;
  /** base bias [out], if the module has one (Qwen2's q/k/v) */
  bias?: Floats;
}

/**
 * ‖W + s·B·A‖ per output row of the [out, in] weight (float64), expanded so that the large
 * product is one register-blocked matmul: ‖W_o + Σ_k b_k A_k‖² = ‖W_o‖² + 2 Σ_k b_k (W_o·A_k)
 * + Σ_kl b_k b_l (A_k·A_l), b = s·B_o. (Summing W_o + s·B_o·A into a row first, as the
 * definition reads, cost r passes over each row and ran ~2× slower.)
 */
export function doraNorms(W: Floats, p: LoraParams): Float64Array {
  const { r, inDim, outDim, scale } = p;
  checkLength('DoRA base weight', W, outDim * inDim);
  const W64 = asFloat64(W); // [out, in]
  const A = asFloat64(p.A); // [r, in]
  const At = transposeOf(A, r, inDim); // [in, r]
  const WA = new Float64Array(outDim * r); // W·Aᵀ [out, r]
  matmulInto(WA, rowMajor(W64, inDim), At, outDim, inDim, r, 1, false);
  const gram = new Float64Array(r * r); // A·Aᵀ [r, r]
  matmulInto(gram, rowMajor(A, inDim), At, r, inDim, r, 1, false);
  const norms = new Float64Array(outDim);
  const b = new Float64Array(r);
  for (let o = 0; o < outDim; o++) {
    for (let k = 0; k < r; k++) b[k] = scale * p.B[o * r + k];
    let ss = 0;
    for (let i = o * inDim; i < (o + 1) * inDim; i++) ss += W64[i] * W64[i];
    for (let k = 0; k < r; k++) {
      let quad = 0;
      for (let l = 0; l < r; l++) quad += b[l] * gram[k * r + l];
      ss += b[k] * (2 * WA[o * r + k] + quad);
    }
    norms[o] = Math.sqrt(Math.max(0, ss));
  }
  return norms;
}

export class DoraModule implements ModuleAdapter {
  readonly form = 'output' as const;
  readonly needsBaseOutput = true;
  /** ‖W + s·B·A‖_row, fixed until refreshNorms. */
  norms: Float64Array;
  private readonly downs = new KeptDowns();

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
    const delta = loraUp(this.p, this.downs.forward(this.p, x, rows), null, rows, x);
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

  backwardOutput(x: Floats, y0: Floats, dy: Floats, rows: number, grads: Grads, defer?: DeferWork): { dx: Floats | null; dy0: Floats } {
    const { outDim, bias } = this.p;
    checkLength('DoRA dy', dy, rows * outDim);
    const h = this.downs.of(this.p, x, rows);
    const delta = loraUp(this.p, h, null, rows, x);
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
    const dx = loraBackward(this.p, x, h, g, rows, grads, defer);
    return { dx, dy0: g };
  }

  forwardInput(_x: Floats, _rows: number): Floats {
    throw new Error('DoRA acts on a module output, not its input');
  }

  backwardInput(_x: Floats, _dxPrime: Floats, _rows: number, _grads: Grads): Floats {
    throw new Error('DoRA acts on a module output, not its input');
  }
}
