/**
 * Float32Array-only versions of the reference RoPE and attention (shared/reference/ops), for the
 * server's forward: the same arithmetic (RoPE in the same order, so identical results; attention's
 * q·k sums in four partial sums, so equal to rounding — see fastops.test.ts), without the generic
 * element type, with RoPE's cos/sin read from a table computed once per (headDim, theta) and the
 * scratch buffers reused across calls.
 */
import type { Floats } from '../../shared/model/types';
import { checkShape, softmaxPrefixInPlace, type AttentionShape } from '../../shared/reference/ops';

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

/** Reused by attentionF32: probs [≥ positions], acc [≥ headDim]. */
const scratch = { probs: new Float64Array(256), acc: new Float64Array(64) };

/** = attention(q, k, v, shape) of shared/reference/ops, for Float32Array. */
export function attentionF32(q: Float32Array, k: Floats, v: Floats, shape: AttentionShape): Float32Array {
  const { rows, pos0, nHeads, nKvHeads, headDim } = shape;
  if (nHeads % nKvHeads !== 0) throw new Error(`attention: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  checkShape('attention q', q, rows * nHeads * headDim);
  const needed = (pos0 + rows) * nKvHeads * headDim;
  if (k.length < needed || v.length < needed) throw new Error(`attention: K/V hold fewer than ${pos0 + rows} positions`);
  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  if (scratch.probs.length < pos0 + rows) scratch.probs = new Float64Array(2 * (pos0 + rows));
  if (scratch.acc.length < headDim) scratch.acc = new Float64Array(headDim);
  const { probs, acc } = scratch;
  const out = new Float32Array(rows * qDim);
  for (let r = 0; r < rows; r++) {
    const last = pos0 + r;
    for (let h = 0; h < nHeads; h++) {
      const qo = r * qDim + h * headDim;
      const ko = Math.floor(h / group) * headDim;
      // probs[j] = softmax_j(scale · q·k_j), j ≤ last
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        const kj = j * kvDim + ko;
        // four partial sums: one running sum is a chain of dependent additions
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
      softmaxPrefixInPlace(probs, last + 1, max);
      // out = Σ_j probs[j] · v_j
      acc.fill(0, 0, headDim);
      for (let j = 0; j <= last; j++) {
        const p = probs[j];
        const vj = j * kvDim + ko;
        for (let d = 0; d < headDim; d++) acc[d] += p * v[vj + d];
      }
      for (let d = 0; d < headDim; d++) out[qo + d] = acc[d];
    }
  }
  return out;
}
