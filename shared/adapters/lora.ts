/**
 * LoRA on one linear module: y = y0 + s·(x·Aᵀ)·Bᵀ, with A [r, in] (`lora_A.weight`),
 * B [out, r] (`lora_B.weight`) and s = alpha/r, or alpha/√r with rsLoRA.
 */
import type { Floats } from '../model/types';
import { checkLength, floatsLike, gradSlot } from './floats';
import type { Grads, ModuleAdapter } from './taps';

export interface LoraParams {
  /** [r, in] */
  A: Floats;
  /** [out, r] */
  B: Floats;
  r: number;
  inDim: number;
  outDim: number;
  /** alpha/r (or alpha/√r for rsLoRA) */
  scale: number;
  /** Gradient keys of A and B (their PEFT tensor names). */
  keyA: string;
  keyB: string;
}

/** PEFT's scaling: alpha/r, or alpha/√r with use_rslora. */
export function loraScale(alpha: number, r: number, rslora: boolean): number {
  return rslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** h = x·Aᵀ, [rows, r], in the precision of x. */
export function loraDown(p: LoraParams, x: Floats, rows: number): Floats {
  const { A, r, inDim } = p;
  const h = floatsLike(x, rows * r);
  for (let t = 0; t < rows; t++) {
    const xo = t * inDim;
    for (let k = 0; k < r; k++) {
      const ao = k * inDim;
      let acc = 0;
      for (let i = 0; i < inDim; i++) acc += x[xo + i] * A[ao + i];
      h[t * r + k] = acc;
    }
  }
  return h;
}

/** out[t, o] = base[t, o] + s·Σ_k h[t, k]·B[o, k] (base may be null: the delta alone). */
export function loraUp(p: LoraParams, h: Floats, base: Floats | null, rows: number, like: Floats): Floats {
  const { B, r, outDim, scale } = p;
  const out = floatsLike(like, rows * outDim);
  for (let t = 0; t < rows; t++) {
    for (let o = 0; o < outDim; o++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += h[t * r + k] * B[o * r + k];
      out[t * outDim + o] = (base === null ? 0 : base[t * outDim + o]) + scale * acc;
    }
  }
  return out;
}

/**
 * Backward of the delta s·(x·Aᵀ)·Bᵀ given g = dL/d(delta) [rows, out]: adds dA, dB into grads
 * and returns dL/dx [rows, in] in the precision of x.
 */
export function loraBackward(p: LoraParams, x: Floats, g: Floats, rows: number, grads: Grads): Floats {
  const { A, B, r, inDim, outDim, scale } = p;
  const h = loraDown(p, x, rows);
  const dA = gradSlot(grads, p.keyA, r * inDim);
  const dB = gradSlot(grads, p.keyB, outDim * r);
  // dh = s·g·B  [rows, r]; dB += s·gᵀ·h
  const dh = new Float64Array(rows * r);
  for (let t = 0; t < rows; t++) {
    for (let o = 0; o < outDim; o++) {
      const go = scale * g[t * outDim + o];
      if (go === 0) continue;
      for (let k = 0; k < r; k++) {
        dh[t * r + k] += go * B[o * r + k];
        dB[o * r + k] += go * h[t * r + k];
      }
    }
  }
  // dA += dhᵀ·x; dx = dh·A
  const dx = floatsLike(x, rows * inDim);
  for (let t = 0; t < rows; t++) {
    for (let k = 0; k < r; k++) {
      const d = dh[t * r + k];
      if (d === 0) continue;
      const ao = k * inDim;
      const xo = t * inDim;
      for (let i = 0; i < inDim; i++) {
        dA[ao + i] += d * x[xo + i];
        dx[xo + i] += d * A[ao + i];
      }
    }
  }
  return dx;
}

export class LoraModule implements ModuleAdapter {
  readonly form = 'output' as const;
  readonly needsBaseOutput = false;

  constructor(readonly p: LoraParams) {
    checkLength('lora_A', p.A, p.r * p.inDim);
    checkLength('lora_B', p.B, p.outDim * p.r);
  }

  forwardOutput(x: Floats, y0: Floats, rows: number): Floats {
    checkLength('LoRA input x', x, rows * this.p.inDim);
    checkLength('LoRA base output y0', y0, rows * this.p.outDim);
    return loraUp(this.p, loraDown(this.p, x, rows), y0, rows, x);
  }

  backwardOutput(x: Floats, _y0: Floats, dy: Floats, rows: number, grads: Grads): { dx: Floats | null; dy0: Floats } {
    checkLength('LoRA dy', dy, rows * this.p.outDim);
    const dx = loraBackward(this.p, x, dy, rows, grads);
    const dy0 = floatsLike(x, dy.length);
    dy0.set(dy);
    return { dx, dy0 };
  }

  forwardInput(_x: Floats, _rows: number): Floats {
    throw new Error('LoRA acts on a module output, not its input');
  }

  backwardInput(_x: Floats, _dxPrime: Floats, _rows: number, _grads: Grads): Floats {
    throw new Error('LoRA acts on a module output, not its input');
  }
}
