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
 * out[oo + j] = s·Σ_i v[vo + i]·M[j·len + i] (plus base[oo + j] when a base is given) for each
 * row j < n of the row-major M [n, len]: the one kernel under both halves of the delta, x·Aᵀ
 * (len = in) and its up projection (len = r). It keeps eight dot products going at once, so one
 * load of v feeds eight independent sums that V8 holds in registers — about twice as fast as one
 * sum at a time on a 4096-wide module at rank 16 (see cli/bench/edge-math.ts) — and writes its
 * results itself: a callback per result, as it once took, cost more than the products where len
 * is a rank (512 outputs at rank 8: 6.3 → 3.2 µs a row, 337 → 140 µs for 64 rows). Each sum still
 * adds in index order, so the results are bit-identical to the plain loop, which remains as the
 * tail after the blocks of eight and four.
 */
function dotsInto(v: Floats, vo: number, M: Floats, n: number, len: number, out: Floats, oo: number, base: Floats | null, s: number): void {
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
    out[oo + j] = base === null ? s * s0 : base[oo + j] + s * s0;
    out[oo + j + 1] = base === null ? s * s1 : base[oo + j + 1] + s * s1;
    out[oo + j + 2] = base === null ? s * s2 : base[oo + j + 2] + s * s2;
    out[oo + j + 3] = base === null ? s * s3 : base[oo + j + 3] + s * s3;
    out[oo + j + 4] = base === null ? s * s4 : base[oo + j + 4] + s * s4;
    out[oo + j + 5] = base === null ? s * s5 : base[oo + j + 5] + s * s5;
    out[oo + j + 6] = base === null ? s * s6 : base[oo + j + 6] + s * s6;
    out[oo + j + 7] = base === null ? s * s7 : base[oo + j + 7] + s * s7;
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
    out[oo + j] = base === null ? s * s0 : base[oo + j] + s * s0;
    out[oo + j + 1] = base === null ? s * s1 : base[oo + j + 1] + s * s1;
    out[oo + j + 2] = base === null ? s * s2 : base[oo + j + 2] + s * s2;
    out[oo + j + 3] = base === null ? s * s3 : base[oo + j + 3] + s * s3;
  }
  for (; j < n; j++) {
    const mo = j * len;
    let acc = 0;
    for (let i = 0; i < len; i++) acc += v[vo + i] * M[mo + i];
    out[oo + j] = base === null ? s * acc : base[oo + j] + s * acc;
  }
}

/** h = x·Aᵀ, [rows, r], in the precision of x. */
export function loraDown(p: LoraParams, x: Floats, rows: number): Floats {
  const { A, r, inDim } = p;
  const h = floatsLike(x, rows * r);
  for (let t = 0; t < rows; t++) dotsInto(x, t * inDim, A, r, inDim, h, t * r, null, 1);
  return h;
}

/**
 * h = x·Aᵀ of the forwards a backward may follow, by their x (the taps keep a forward's x for
 * its backward): the backward reads the forward's h — the same floats — instead of computing
 * one of loraBackward's five products again. An inference's x is dropped, and its entry with it.
 */
export class KeptDowns {
  private readonly byX = new WeakMap<Floats, Floats>();

  /** The forward's h, kept for x. */
  forward(p: LoraParams, x: Floats, rows: number): Floats {
    const h = loraDown(p, x, rows);
    this.byX.set(x, h);
    return h;
  }

  /** For a backward: the h its forward kept for x, else computed. */
  of(p: LoraParams, x: Floats, rows: number): Floats {
    return this.byX.get(x) ?? loraDown(p, x, rows);
  }
}

/** out[t, o] = base[t, o] + s·Σ_k h[t, k]·B[o, k] (base may be null: the delta alone). */
export function loraUp(p: LoraParams, h: Floats, base: Floats | null, rows: number, like: Floats): Floats {
  const { B, r, outDim, scale } = p;
  const out = floatsLike(like, rows * outDim);
  for (let t = 0; t < rows; t++) dotsInto(h, t * r, B, outDim, r, out, t * outDim, base, scale);
  return out;
}

/**
 * Backward of the delta s·(x·Aᵀ)·Bᵀ given g = dL/d(delta) [rows, out] and h = x·Aᵀ [rows, r]:
 * adds dA, dB into grads and returns dL/dx [rows, in] in the precision of x. The four products
 * run as float64 matmulInto calls (register-blocked; the element-by-element accumulation they
 * replace was 2–4× slower at the bench finetune shapes).
 */
export function loraBackward(p: LoraParams, x: Floats, h: Floats, g: Floats, rows: number, grads: Grads, defer?: DeferWork): Floats {
  const { r, inDim, outDim, scale } = p;
  const A = asFloat64(p.A); // [r, in]
  const B = asFloat64(p.B); // [out, r]
  const g64 = asFloat64(g); // [rows, out]
  const dh = new Float64Array(rows * r); // s·g·B [rows, r]
  matmulInto(dh, rowMajor(g64, outDim), B, rows, outDim, r, scale, false);
  // dx = dh·A [rows, in]
  const dx = new Float64Array(rows * inDim);
  matmulInto(dx, rowMajor(dh, r), A, rows, r, inDim, 1, false);
  // dB += s·gᵀ·h [out, r]; dA += dhᵀ·x [r, in] — two of the four products, none needed for dx
  const weights = () => {
    matmulInto(gradSlot(grads, p.keyB, outDim * r), transposed(g64, outDim), asFloat64(h), outDim, rows, r, scale, true);
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
  private readonly downs = new KeptDowns();

  constructor(readonly p: LoraParams) {
    checkLength('lora_A', p.A, p.r * p.inDim);
    checkLength('lora_B', p.B, p.outDim * p.r);
  }

  forwardOutput(x: Floats, y0: Floats, rows: number): Floats {
    checkLength('LoRA input x', x, rows * this.p.inDim);
    checkLength('LoRA base output y0', y0, rows * this.p.outDim);
    return loraUp(this.p, this.downs.forward(this.p, x, rows), y0, rows, x);
  }

  backwardOutput(x: Floats, _y0: Floats, dy: Floats, rows: number, grads: Grads, defer?: DeferWork): { dx: Floats | null; dy0: Floats } {
    checkLength('LoRA dy', dy, rows * this.p.outDim);
    // dL/dy0 = dL/dy: the delta does not depend on y0. The same array, read-only (see taps.ts).
    return { dx: loraBackward(this.p, x, this.downs.of(this.p, x, rows), dy, rows, grads, defer), dy0: dy };
  }

  forwardInput(_x: Floats, _rows: number): Floats {
    throw new Error('LoRA acts on a module output, not its input');
  }

  backwardInput(_x: Floats, _dxPrime: Floats, _rows: number, _grads: Grads): Floats {
    throw new Error('LoRA acts on a module output, not its input');
  }
}
