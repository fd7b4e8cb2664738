/**
 * Float32Array-only versions of the reference RoPE and attention (shared/reference/ops), for the
 * server's forward: the same arithmetic (RoPE in the same order, so identical results; attention's
 * sums split into partial sums, so equal to rounding — see fastops.test.ts), without the generic
 * element type, with RoPE's cos/sin read from a table computed once per (headDim, theta) and the
 * scratch buffers reused across calls. Its loops read each key and value element once per pair
 * of query heads that share it, and keep their sums in locals (measured at the 30m preset's
 * shapes, 32 sessions: 16–21 → 11–15 ms of attention per step on a loaded 2-core machine). The
 * cpu backend's sessions decode in WebAssembly instead (cpu/decode-attention.ts, ~5× faster);
 * this serves arrays it did not place (a caller's own, or a headDim not a multiple of 4).
 */
import type { Floats } from '../../shared/model/types';
import { checkAttention, checkShape, softmaxPrefixInPlace, type AttentionShape } from '../../shared/reference/ops';

interface RopeTable {
  cos: Float64Array; // [positions, headDim/2]: cos(pos · inv_freq_i)
  sin: Float64Array;
  positions: number;
}
const ropeTables = new Map<string, RopeTable>();

/** cos/sin of pos · theta^(-2i/headDim) for pos < positions (at least), as the reference computes them. */
function ropeTable(headDim: number, theta: number, positions: number): RopeTable {
  const key = `${headDim}/${theta}`;
  const cached = ropeTables.get(key);
  if (cached && cached.positions >= positions) return cached;
  const size = Math.max(positions, 2 * (cached?.positions ?? 0), 256);
  const half = headDim / 2;
  const table: RopeTable = { cos: new Float64Array(size * half), sin: new Float64Array(size * half), positions: size };
  for (let i = 0; i < half; i++) {
    const invFreq = 1 / Math.pow(theta, (2 * i) / headDim);
    for (let pos = 0; pos < size; pos++) {
      table.cos[pos * half + i] = Math.cos(pos * invFreq);
      table.sin[pos * half + i] = Math.sin(pos * invFreq);
    }
  }
  ropeTables.set(key, table);
  return table;
}

/** = rope(x, rows, nHeads, headDim, pos0, theta) of shared/reference/ops, for Float32Array; y into `out` when given. */
export function ropeF32(x: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, theta: number, out?: Float32Array): Float32Array {
  return rotateF32(x, rows, nHeads, headDim, pos0, theta, 1, out);
}

/** = ropeBackward of shared/reference/ops (the rotation by the opposite angle), for Float32Array. */
export function ropeBackwardF32(dy: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, theta: number, out?: Float32Array): Float32Array {
  return rotateF32(dy, rows, nHeads, headDim, pos0, theta, -1, out);
}

/** The reference's rotate: x·cos + rotate_half(x)·(sign·sin), the same products in the same order. */
function rotateF32(x: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, theta: number, sign: 1 | -1, y: Float32Array = new Float32Array(x.length)): Float32Array {
  checkShape('rope x', x, rows * nHeads * headDim);
  checkShape('rope out', y, x.length);
  if (headDim % 2 !== 0) throw new Error(`rope: headDim must be even, got ${headDim}`);
  const half = headDim / 2;
  const { cos, sin } = ropeTable(headDim, theta, pos0 + rows);
  for (let r = 0; r < rows; r++) {
    const t = (pos0 + r) * half;
    for (let h = 0; h < nHeads; h++) {
      const o = (r * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const x1 = x[o + i];
        const x2 = x[o + i + half];
        const c = cos[t + i];
        const s = sign * sin[t + i];
        y[o + i] = x1 * c - x2 * s;
        y[o + i + half] = x2 * c + x1 * s;
      }
    }
  }
  return y;
}

/** Reused by attentionF32: probs [≥ 2 × positions] (two heads at a time). */
const scratch = { probs: new Float64Array(256) };

/**
 * probs[0..n) ← scale · q_h · k_j for one head (q at qo, its kv head at ko), in four partial
 * sums (one running sum is a chain of dependent additions); returns their maximum.
 */
function headScores(q: Float32Array, qo: number, k: Floats, ko: number, kvDim: number, headDim: number, n: number, scale: number, probs: Float64Array): number {
  let max = -Infinity;
  for (let j = 0; j < n; j++) {
    const kj = j * kvDim + ko;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let d = 0;
    for (; d + 3 < headDim; d += 4) {
      s0 += q[qo + d] * k[kj + d];
      s1 += q[qo + d + 1] * k[kj + d + 1];
      s2 += q[qo + d + 2] * k[kj + d + 2];
      s3 += q[qo + d + 3] * k[kj + d + 3];
    }
    for (; d < headDim; d++) s0 += q[qo + d] * k[kj + d];
    const s = (s0 + s1 + s2 + s3) * scale;
    probs[j] = s;
    if (s > max) max = s;
  }
  return max;
}

/**
 * out[oo + d] = Σ_{j<n} probs[j] · v[j·kvDim + vo + d]. Four columns at a time, held in locals
 * across the positions: an accumulator array would be loaded and stored at every product.
 */
function weightedSum(probs: Float64Array, v: Floats, vo: number, kvDim: number, headDim: number, n: number, out: Float32Array, oo: number): void {
  let d = 0;
  for (; d + 3 < headDim; d += 4) {
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (let j = 0, vj = vo + d; j < n; j++, vj += kvDim) {
      const p = probs[j];
      a0 += p * v[vj];
      a1 += p * v[vj + 1];
      a2 += p * v[vj + 2];
      a3 += p * v[vj + 3];
    }
    out[oo + d] = a0;
    out[oo + d + 1] = a1;
    out[oo + d + 2] = a2;
    out[oo + d + 3] = a3;
  }
  for (; d < headDim; d++) {
    let a = 0;
    for (let j = 0; j < n; j++) a += probs[j] * v[j * kvDim + vo + d];
    out[oo + d] = a;
  }
}

/** The two maxima pairScores found (a scratch pair instead of a fresh tuple per call). */
const pairMax = new Float64Array(2);

/**
 * headScores for two heads that share a kv head (grouped-query attention), four keys at a time:
 * each query element is read once per four keys and each key element once for both heads, with
 * eight independent sums in locals. Scores go to probs[0..n) and probs[n..2n); maxima to pairMax.
 */
function pairScores(q: Float32Array, qa: number, qb: number, k: Floats, ko: number, kvDim: number, headDim: number, n: number, scale: number, probs: Float64Array): void {
  let maxA = -Infinity, maxB = -Infinity;
  let j = 0;
  for (; j + 3 < n; j += 4) {
    const k0 = j * kvDim + ko, k1 = k0 + kvDim, k2 = k1 + kvDim, k3 = k2 + kvDim;
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    for (let d = 0; d < headDim; d++) {
      const x = q[qa + d];
      const y = q[qb + d];
      const e0 = k[k0 + d], e1 = k[k1 + d], e2 = k[k2 + d], e3 = k[k3 + d];
      a0 += x * e0;
      a1 += x * e1;
      a2 += x * e2;
      a3 += x * e3;
      b0 += y * e0;
      b1 += y * e1;
      b2 += y * e2;
      b3 += y * e3;
    }
    probs[j] = a0 * scale;
    probs[j + 1] = a1 * scale;
    probs[j + 2] = a2 * scale;
    probs[j + 3] = a3 * scale;
    probs[n + j] = b0 * scale;
    probs[n + j + 1] = b1 * scale;
    probs[n + j + 2] = b2 * scale;
    probs[n + j + 3] = b3 * scale;
    maxA = Math.max(maxA, probs[j], probs[j + 1], probs[j + 2], probs[j + 3]);
    maxB = Math.max(maxB, probs[n + j], probs[n + j + 1], probs[n + j + 2], probs[n + j + 3]);
  }
  for (; j < n; j++) {
    const kj = j * kvDim + ko;
    let a = 0, b = 0;
    for (let d = 0; d < headDim; d++) {
      a += q[qa + d] * k[kj + d];
      b += q[qb + d] * k[kj + d];
    }
    probs[j] = a * scale;
    probs[n + j] = b * scale;
    if (probs[j] > maxA) maxA = probs[j];
    if (probs[n + j] > maxB) maxB = probs[n + j];
  }
  pairMax[0] = maxA;
  pairMax[1] = maxB;
}

/**
 * weightedSum for two heads sharing a kv head, four columns at a time (eight sums in locals, each
 * value element read once for both heads): probs[0..n) → out at oa, probs[n..2n) → out at ob.
 */
function pairWeightedSum(probs: Float64Array, v: Floats, vo: number, kvDim: number, headDim: number, n: number, out: Float32Array, oa: number, ob: number): void {
  let d = 0;
  for (; d + 3 < headDim; d += 4) {
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    for (let j = 0, vj = vo + d; j < n; j++, vj += kvDim) {
      const pa = probs[j];
      const pb = probs[n + j];
      const v0 = v[vj], v1 = v[vj + 1], v2 = v[vj + 2], v3 = v[vj + 3];
      a0 += pa * v0;
      a1 += pa * v1;
      a2 += pa * v2;
      a3 += pa * v3;
      b0 += pb * v0;
      b1 += pb * v1;
      b2 += pb * v2;
      b3 += pb * v3;
    }
    out[oa + d] = a0;
    out[oa + d + 1] = a1;
    out[oa + d + 2] = a2;
    out[oa + d + 3] = a3;
    out[ob + d] = b0;
    out[ob + d + 1] = b1;
    out[ob + d + 2] = b2;
    out[ob + d + 3] = b3;
  }
  for (; d < headDim; d++) {
    let a = 0, b = 0;
    for (let j = 0; j < n; j++) {
      a += probs[j] * v[j * kvDim + vo + d];
      b += probs[n + j] * v[j * kvDim + vo + d];
    }
    out[oa + d] = a;
    out[ob + d] = b;
  }
}

/** = attention(q, k, v, shape) of shared/reference/ops, for Float32Array. */
export function attentionF32(q: Float32Array, k: Floats, v: Floats, shape: AttentionShape): Float32Array {
  checkAttention(q, k, v, shape);
  const { rows, pos0, nHeads, nKvHeads, headDim } = shape;
  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  if (scratch.probs.length < 2 * (pos0 + rows)) scratch.probs = new Float64Array(4 * (pos0 + rows));
  const { probs } = scratch;
  const out = new Float32Array(rows * qDim);
  for (let r = 0; r < rows; r++) {
    const n = pos0 + r + 1; // row r sees positions 0 … pos0 + r
    let h = 0;
    // heads of one kv head in pairs (they read the same keys and values), then any odd one out
    for (; h + 1 < nHeads; h += 2) {
      const ko = Math.floor(h / group) * headDim;
      if (Math.floor((h + 1) / group) * headDim !== ko) break;
      const qa = r * qDim + h * headDim;
      pairScores(q, qa, qa + headDim, k, ko, kvDim, headDim, n, scale, probs);
      softmaxPrefixInPlace(probs, n, pairMax[0]);
      softmaxPrefixInPlace(probs, n, pairMax[1], n);
      pairWeightedSum(probs, v, ko, kvDim, headDim, n, out, qa, qa + headDim);
    }
    for (; h < nHeads; h++) {
      const qo = r * qDim + h * headDim;
      const ko = Math.floor(h / group) * headDim;
      const max = headScores(q, qo, k, ko, kvDim, headDim, n, scale, probs);
      softmaxPrefixInPlace(probs, n, max);
      weightedSum(probs, v, ko, kvDim, headDim, n, out, qo);
    }
  }
  return out;
}
