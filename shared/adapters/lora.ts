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

// Both kernels below keep eight dot products going at once, so that one load (of x, or of h)
// feeds eight independent sums that V8 holds in registers: about twice as fast as one sum at a
// time on a 4096-wide module at rank 16 (see cli/bench/edge-math.ts). Each sum still adds in
// index order, so the results are bit-identical to the plain loops, which remain as the tails.

/** h = x·Aᵀ, [rows, r], in the precision of x. */
export function loraDown(p: LoraParams, x: Floats, rows: number): Floats {
  const { A, r, inDim } = p;
  const h = floatsLike(x, rows * r);
  for (let t = 0; t < rows; t++) {
    const xo = t * inDim;
    const ho = t * r;
    let k = 0;
    for (; k + 8 <= r; k += 8) {
      const a0 = k * inDim, a1 = a0 + inDim, a2 = a1 + inDim, a3 = a2 + inDim, a4 = a3 + inDim, a5 = a4 + inDim, a6 = a5 + inDim, a7 = a6 + inDim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
      for (let i = 0; i < inDim; i++) {
        const xi = x[xo + i];
        s0 += xi * A[a0 + i];
        s1 += xi * A[a1 + i];
        s2 += xi * A[a2 + i];
        s3 += xi * A[a3 + i];
        s4 += xi * A[a4 + i];
        s5 += xi * A[a5 + i];
        s6 += xi * A[a6 + i];
        s7 += xi * A[a7 + i];
      }
      h[ho + k] = s0;
      h[ho + k + 1] = s1;
      h[ho + k + 2] = s2;
      h[ho + k + 3] = s3;
      h[ho + k + 4] = s4;
      h[ho + k + 5] = s5;
      h[ho + k + 6] = s6;
      h[ho + k + 7] = s7;
    }
    for (; k < r; k++) {
      const ao = k * inDim;
      let acc = 0;
      for (let i = 0; i < inDim; i++) acc += x[xo + i] * A[ao + i];
      h[ho + k] = acc;
    }
  }
  return h;
}

/** out[t, o] = base[t, o] + s·Σ_k h[t, k]·B[o, k] (base may be null: the delta alone). */
export function loraUp(p: LoraParams, h: Floats, base: Floats | null, rows: number, like: Floats): Floats {
  const { B, r, outDim, scale } = p;
  const out = floatsLike(like, rows * outDim);
  const put = (j: number, acc: number) => (out[j] = (base === null ? 0 : base[j]) + scale * acc);
  for (let t = 0; t < rows; t++) {
    const ho = t * r;
    const yo = t * outDim;
    let o = 0;
    for (; o + 8 <= outDim; o += 8) {
      const b0 = o * r, b1 = b0 + r, b2 = b1 + r, b3 = b2 + r, b4 = b3 + r, b5 = b4 + r, b6 = b5 + r, b7 = b6 + r;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
      for (let k = 0; k < r; k++) {
        const hk = h[ho + k];
        s0 += hk * B[b0 + k];
        s1 += hk * B[b1 + k];
        s2 += hk * B[b2 + k];
        s3 += hk * B[b3 + k];
        s4 += hk * B[b4 + k];
        s5 += hk * B[b5 + k];
        s6 += hk * B[b6 + k];
        s7 += hk * B[b7 + k];
      }
      put(yo + o, s0);
      put(yo + o + 1, s1);
      put(yo + o + 2, s2);
      put(yo + o + 3, s3);
      put(yo + o + 4, s4);
      put(yo + o + 5, s5);
      put(yo + o + 6, s6);
      put(yo + o + 7, s7);
    }
    for (; o < outDim; o++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += h[ho + k] * B[o * r + k];
      put(yo + o, acc);
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
