/**
 * Float32Array-only versions of the reference RoPE and attention (shared/reference/ops), for the
 * server's forward: the same arithmetic (RoPE in the same order, so identical results; attention's
 * sums split into partial sums, so equal to rounding — see fastops.test.ts), without the generic
 * element type, with RoPE's cos/sin read from a table computed once per (headDim, theta) and the
 * scratch buffers reused across calls. Attention is most of the per-session work of a batched
 * decode step, so its loops read each key and value element once per pair of query heads that
 * share it, and keep their sums in locals (measured at the 30m preset's shapes, 32 sessions:
 * 16–21 → 11–15 ms of attention per step on a loaded 2-core machine).
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

/** = rope(x, rows, nHeads, headDim, pos0, theta) of shared/reference/ops, for Float32Array. */
export function ropeF32(x: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): Float32Array {
  checkShape('rope x', x, rows * nHeads * headDim);
  if (headDim % 2 !== 0) throw new Error(`rope: headDim must be even, got ${headDim}`);
  const half = headDim / 2;
  const { cos, sin } = ropeTable(headDim, theta, pos0 + rows);
  const y = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    const t = (pos0 + r) * half;
    for (let h = 0; h < nHeads; h++) {
      const o = (r * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const x1 = x[o + i];
        const x2 = x[o + i + half];
        const c = cos[t + i];
        const s = sin[t + i];
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

/**
 * headScores for two heads that share a kv head (grouped-query attention): each key element is
 * read once for both, with two partial sums per head. Scores go to probs[0..n) and probs[n..2n);
 * returns the two maxima.
 */
function pairScores(q: Float32Array, qa: number, qb: number, k: Floats, ko: number, kvDim: number, headDim: number, n: number, scale: number, probs: Float64Array): [number, number] {
  let maxA = -Infinity, maxB = -Infinity;
  for (let j = 0; j < n; j++) {
    const kj = j * kvDim + ko;
    let a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    let d = 0;
    for (; d + 1 < headDim; d += 2) {
      const k0 = k[kj + d];
      const k1 = k[kj + d + 1];
      a0 += q[qa + d] * k0;
      a1 += q[qa + d + 1] * k1;
      b0 += q[qb + d] * k0;
      b1 += q[qb + d + 1] * k1;
    }
    for (; d < headDim; d++) {
      a0 += q[qa + d] * k[kj + d];
      b0 += q[qb + d] * k[kj + d];
    }
    const sa = (a0 + a1) * scale;
    const sb = (b0 + b1) * scale;
    probs[j] = sa;
    probs[n + j] = sb;
    if (sa > maxA) maxA = sa;
    if (sb > maxB) maxB = sb;
  }
  return [maxA, maxB];
}

/** weightedSum for two heads sharing a kv head: probs[0..n) → out at oa, probs[n..2n) → out at ob. */
function pairWeightedSum(probs: Float64Array, v: Floats, vo: number, kvDim: number, headDim: number, n: number, out: Float32Array, oa: number, ob: number): void {
  let d = 0;
  for (; d + 1 < headDim; d += 2) {
    let a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    for (let j = 0, vj = vo + d; j < n; j++, vj += kvDim) {
      const pa = probs[j];
      const pb = probs[n + j];
      const v0 = v[vj];
      const v1 = v[vj + 1];
      a0 += pa * v0;
      a1 += pa * v1;
      b0 += pb * v0;
      b1 += pb * v1;
    }
    out[oa + d] = a0;
    out[oa + d + 1] = a1;
    out[ob + d] = b0;
    out[ob + d + 1] = b1;
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
      const [maxA, maxB] = pairScores(q, qa, qa + headDim, k, ko, kvDim, headDim, n, scale, probs);
      softmaxPrefixInPlace(probs, n, maxA);
      softmaxPrefixInPlace(probs.subarray(n), n, maxB);
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
