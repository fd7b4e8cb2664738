/**
 * LoRA on one linear module: y = y0 + s·(x·Aᵀ)·Bᵀ, with A [r, in] (`lora_A.weight`),
 * B [out, r] (`lora_B.weight`) and s = alpha/r, or alpha/√r with rsLoRA.
 */
import type { Floats } from '../model/types';
import { checkLength, floatsLike, gradSlot } from './floats';
import { asFloat64, matmulInto, rowMajor, transposed } from './matmul';
import type { DeferWork, Grads, ModuleAdapter } from './taps';

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

/**
 * emit(j, Σ_i v[vo + i]·M[j·len + i]) for each row j < n of the row-major M [n, len]: the
 * kernel under x·Aᵀ, whose dot products are `in` long (loraUp has its own loop). It keeps eight dot products going at once, so one load
 * of v feeds eight independent sums that V8 holds in registers — about twice as fast as one sum
 * at a time on a 4096-wide module at rank 16 (see cli/bench/edge-math.ts). Each sum still adds
 * in index order, so the results are bit-identical to the plain loop, which remains as the tail
 * after the blocks of eight and four.
 */
function dotsWithRows(v: Floats, vo: number, M: Floats, n: number, len: number, emit: (j: number, acc: number) => void): void {
  let j = 0;
  for (; j + 8 <= n; j += 8) {
    const m0 = j * len, m1 = m0 + len, m2 = m1 + len, m3 = m2 + len, m4 = m3 + len, m5 = m4 + len, m6 = m5 + len, m7 = m6 + len;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (let i = 0; i < len; i++) {
      const vi = v[vo + i];
      s0 += vi * M[m0 + i];
      s1 += vi * M[m1 + i];
      s2 += vi * M[m2 + i];
      s3 += vi * M[m3 + i];
      s4 += vi * M[m4 + i];
      s5 += vi * M[m5 + i];
      s6 += vi * M[m6 + i];
      s7 += vi * M[m7 + i];
    }
    emit(j, s0);
    emit(j + 1, s1);
    emit(j + 2, s2);
    emit(j + 3, s3);
    emit(j + 4, s4);
    emit(j + 5, s5);
    emit(j + 6, s6);
    emit(j + 7, s7);
  }
  // Four at a time for what is left (all of rank 4's x·Aᵀ, where one sum at a time is
  // latency-bound: 0.73 → 0.38 ms at 64 rows × 768, r 4).
  for (; j + 4 <= n; j += 4) {
    const m0 = j * len, m1 = m0 + len, m2 = m1 + len, m3 = m2 + len;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let i = 0; i < len; i++) {
      const vi = v[vo + i];
      s0 += vi * M[m0 + i];
      s1 += vi * M[m1 + i];
      s2 += vi * M[m2 + i];
      s3 += vi * M[m3 + i];
    }
    emit(j, s0);
    emit(j + 1, s1);
    emit(j + 2, s2);
    emit(j + 3, s3);
  }
  for (; j < n; j++) {
    const mo = j * len;
    let acc = 0;
    for (let i = 0; i < len; i++) acc += v[vo + i] * M[mo + i];
    emit(j, acc);
  }
}

/** h = x·Aᵀ, [rows, r], in the precision of x. */
export function loraDown(p: LoraParams, x: Floats, rows: number): Floats {
  const { A, r, inDim } = p;
  const h = floatsLike(x, rows * r);
  for (let t = 0; t < rows; t++) {
    const ho = t * r;
    dotsWithRows(x, t * inDim, A, r, inDim, (k, acc) => (h[ho + k] = acc));
  }
  return h;
}

/**
 * out[t, o] = base[t, o] + s·Σ_k h[t, k]·B[o, k] (base may be null: the delta alone). Its dot
 * products are only r long, so it has a loop of its own, four outputs at a time, rather than
 * dotsWithRows: the callback per output cost more than the products (rank 8, 512 outputs: 6.3 →
 * 3.5 µs a row, 337 → 177 µs for 64 rows), and each sum still adds in index order.
 */
export function loraUp(p: LoraParams, h: Floats, base: Floats | null, rows: number, like: Floats): Floats {
  const { B, r, outDim, scale } = p;
  const out = floatsLike(like, rows * outDim);
  for (let t = 0; t < rows; t++) {
    const yo = t * outDim;
    const ho = t * r;
    let o = 0;
    for (; o + 4 <= outDim; o += 4) {
      const b0 = o * r, b1 = b0 + r, b2 = b1 + r, b3 = b2 + r;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < r; k++) {
        const hk = h[ho + k];
        s0 += hk * B[b0 + k];
        s1 += hk * B[b1 + k];
        s2 += hk * B[b2 + k];
        s3 += hk * B[b3 + k];
      }
      out[yo + o] = (base === null ? 0 : base[yo + o]) + scale * s0;
      out[yo + o + 1] = (base === null ? 0 : base[yo + o + 1]) + scale * s1;
      out[yo + o + 2] = (base === null ? 0 : base[yo + o + 2]) + scale * s2;
      out[yo + o + 3] = (base === null ? 0 : base[yo + o + 3]) + scale * s3;
    }
    for (; o < outDim; o++) {
      const bo = o * r;
      let acc = 0;
      for (let k = 0; k < r; k++) acc += h[ho + k] * B[bo + k];
      out[yo + o] = (base === null ? 0 : base[yo + o]) + scale * acc;
    }
  }
  return out;
}

/**
 * Backward of the delta s·(x·Aᵀ)·Bᵀ given g = dL/d(delta) [rows, out]: adds dA, dB into grads
 * and returns dL/dx [rows, in] in the precision of x. The four products run as float64
 * matmulInto calls (register-blocked; the element-by-element accumulation they replace was
 * 2–4× slower at the bench finetune shapes).
 */
export function loraBackward(p: LoraParams, x: Floats, g: Floats, rows: number, grads: Grads, defer?: DeferWork): Floats {
  const { r, inDim, outDim, scale } = p;
  const A = asFloat64(p.A); // [r, in]
  const B = asFloat64(p.B); // [out, r]
  const g64 = asFloat64(g); // [rows, out]
  const dh = new Float64Array(rows * r); // s·g·B [rows, r]
  matmulInto(dh, rowMajor(g64, outDim), B, rows, outDim, r, scale, false);
  // dx = dh·A [rows, in]
  const dx = new Float64Array(rows * inDim);
  matmulInto(dx, rowMajor(dh, r), A, rows, r, inDim, 1, false);
  // dB += s·gᵀ·h [out, r]; dA += dhᵀ·x [r, in] — three of the five products, none needed for dx
  const weights = () => {
    const h = asFloat64(loraDown(p, x, rows)); // x·Aᵀ [rows, r]
    matmulInto(gradSlot(grads, p.keyB, outDim * r), transposed(g64, outDim), h, outDim, rows, r, scale, true);
    matmulInto(gradSlot(grads, p.keyA, r * inDim), transposed(dh, r), asFloat64(x), r, rows, inDim, 1, true);
  };
  if (defer) defer(weights);
  else weights();
  if (x instanceof Float64Array) return dx;
  return Float32Array.from(dx);
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

  backwardOutput(x: Floats, _y0: Floats, dy: Floats, rows: number, grads: Grads, defer?: DeferWork): { dx: Floats | null; dy0: Floats } {
    checkLength('LoRA dy', dy, rows * this.p.outDim);
    // dL/dy0 = dL/dy: the delta does not depend on y0. The same array, read-only (see taps.ts).
    return { dx: loraBackward(this.p, x, dy, rows, grads, defer), dy0: dy };
  }

  forwardInput(_x: Floats, _rows: number): Floats {
    throw new Error('LoRA acts on a module output, not its input');
  }

  backwardInput(_x: Floats, _dxPrime: Floats, _rows: number, _grads: Grads): Floats {
    throw new Error('LoRA acts on a module output, not its input');
  }
}
