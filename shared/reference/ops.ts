/**
 * The operations of a Llama-family decoder, each with its backward pass (input gradients only:
 * the base model is frozen, so no op ever produces a weight gradient).
 *
 * Every op is generic over Float32Array / Float64Array: the output has the element type of the
 * first activation argument, so the same code runs in float64 for finite-difference checks.
 * Sums accumulate in JavaScript numbers (float64) in either case. Matrices are row-major; a
 * weight W is [out, in] as in PyTorch, activations are [rows, features].
 */
import type { Floats } from '../model/types';

// ─── helpers ────────────────────────────────────────────────────────────────────────────────

/** A zeroed array of n elements of the same element type as `like`. */
export function zerosLike<T extends Floats>(like: T, n: number): T {
  return (like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n)) as T;
}

/**
 * An op's result array: `out` when the caller gives one (the server's pooled activations; every
 * element is written, so its prior contents do not matter), else a new one like `like`.
 */
function outOr<T extends Floats>(out: T | undefined, like: T, n: number): T {
  if (out === undefined) return zerosLike(like, n);
  checkShape('out', out, n);
  return out;
}

/** `a` converted to the element type of `like` (a itself when it already is). */
export function conform<T extends Floats>(a: Floats, like: T): T {
  if (a instanceof Float64Array === like instanceof Float64Array) return a as T;
  const out = zerosLike(like, a.length);
  out.set(a);
  return out;
}

/** Anything with a length: an array, or a tensor that lives elsewhere. */
export interface Sized {
  readonly length: number;
}

export function checkShape(what: string, a: Sized, n: number): void {
  if (a.length !== n) throw new Error(`${what}: expected ${n} elements, got ${a.length}`);
}

// ─── linear ─────────────────────────────────────────────────────────────────────────────────

/** y = x·Wᵀ + b.  x [rows, inDim], W [outDim, inDim], b [outDim] → y [rows, outDim] */
export function linear<T extends Floats>(x: T, w: Floats, b: Floats | undefined, rows: number, inDim: number, outDim: number): T {
  checkShape('linear x', x, rows * inDim);
  checkShape('linear W', w, outDim * inDim);
  if (b) checkShape('linear b', b, outDim);
  const y = zerosLike(x, rows * outDim);
  let r = 0;
  // four rows at a time: each weight is read once for four dot products
  for (; r + 4 <= rows; r += 4) {
    const x0 = r * inDim;
    const x1 = x0 + inDim;
    const x2 = x1 + inDim;
    const x3 = x2 + inDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      const bias = b ? b[o] : 0;
      let s0 = bias;
      let s1 = bias;
      let s2 = bias;
      let s3 = bias;
      for (let i = 0; i < inDim; i++) {
        const wi = w[wo + i];
        s0 += x[x0 + i] * wi;
        s1 += x[x1 + i] * wi;
        s2 += x[x2 + i] * wi;
        s3 += x[x3 + i] * wi;
      }
      y[r * outDim + o] = s0;
      y[(r + 1) * outDim + o] = s1;
      y[(r + 2) * outDim + o] = s2;
      y[(r + 3) * outDim + o] = s3;
    }
  }
  for (; r < rows; r++) {
    const xr = r * inDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      let s = b ? b[o] : 0;
      for (let i = 0; i < inDim; i++) s += x[xr + i] * w[wo + i];
      y[r * outDim + o] = s;
    }
  }
  return y;
}

/** dx = dy·W.  dy [rows, outDim], W [outDim, inDim] → dx [rows, inDim] */
export function linearBackward<T extends Floats>(dy: T, w: Floats, rows: number, inDim: number, outDim: number): T {
  checkShape('linearBackward dy', dy, rows * outDim);
  checkShape('linearBackward W', w, outDim * inDim);
  const dx = zerosLike(dy, rows * inDim);
  // dx[r] = Σ_o dy[r, o]·W[o], accumulated in float64, four rows at a time
  const acc = new Float64Array(4 * inDim);
  for (let r0 = 0; r0 < rows; r0 += 4) {
    const n = Math.min(4, rows - r0);
    acc.fill(0);
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      if (n === 4) {
        const g0 = dy[r0 * outDim + o];
        const g1 = dy[(r0 + 1) * outDim + o];
        const g2 = dy[(r0 + 2) * outDim + o];
        const g3 = dy[(r0 + 3) * outDim + o];
        for (let i = 0; i < inDim; i++) {
          const wi = w[wo + i];
          acc[i] += g0 * wi;
          acc[inDim + i] += g1 * wi;
          acc[2 * inDim + i] += g2 * wi;
          acc[3 * inDim + i] += g3 * wi;
        }
      } else {
        for (let k = 0; k < n; k++) {
          const g = dy[(r0 + k) * outDim + o];
          const a = k * inDim;
          for (let i = 0; i < inDim; i++) acc[a + i] += g * w[wo + i];
        }
      }
    }
    dx.set(acc.subarray(0, n * inDim), r0 * inDim);
  }
  return dx;
}

// ─── RMSNorm ────────────────────────────────────────────────────────────────────────────────

/** y = x / sqrt(mean(x²) + eps) ⊙ weight, per row.  x [rows, dim] → y [rows, dim] */
export function rmsnorm<T extends Floats>(x: T, weight: Floats, rows: number, dim: number, eps: number, out?: T): T {
  checkShape('rmsnorm x', x, rows * dim);
  checkShape('rmsnorm weight', weight, dim);
  const y = outOr(out, x, rows * dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[o + i] * x[o + i];
    const s = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) y[o + i] = x[o + i] * s * weight[i];
  }
  return y;
}

/**
 * With s = (mean(x²) + eps)^-½ and y = s·x ⊙ w:
 * dx_j = s·w_j·dy_j − s³·x_j/dim · Σ_i dy_i·w_i·x_i.   dy, x [rows, dim] → dx [rows, dim]
 */
export function rmsnormBackward<T extends Floats>(dy: T, x: Floats, weight: Floats, rows: number, dim: number, eps: number, out?: T): T {
  checkShape('rmsnormBackward dy', dy, rows * dim);
  checkShape('rmsnormBackward x', x, rows * dim);
  const dx = outOr(out, dy, rows * dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    let dot = 0;
    for (let i = 0; i < dim; i++) {
      ss += x[o + i] * x[o + i];
      dot += dy[o + i] * weight[i] * x[o + i];
    }
    const s = 1 / Math.sqrt(ss / dim + eps);
    const c = (s * s * s * dot) / dim;
    for (let i = 0; i < dim; i++) dx[o + i] = s * weight[i] * dy[o + i] - c * x[o + i];
  }
  return dx;
}

// ─── RoPE (Hugging Face Llama convention: rotate_half pairs dim i with i + headDim/2) ──────────

/** inv_freq_i = theta^(-2i/headDim), i < headDim/2 */
function inverseFrequencies(headDim: number, theta: number): Float64Array {
  const half = headDim / 2;
  const f = new Float64Array(half);
  for (let i = 0; i < half; i++) f[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  return f;
}

function rotate<T extends Floats>(x: T, rows: number, nHeads: number, headDim: number, pos0: number, theta: number, sign: 1 | -1): T {
  checkShape('rope x', x, rows * nHeads * headDim);
  if (headDim % 2 !== 0) throw new Error(`rope: headDim must be even, got ${headDim}`);
  const half = headDim / 2;
  const invFreq = inverseFrequencies(headDim, theta);
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  const y = zerosLike(x, x.length);
  for (let r = 0; r < rows; r++) {
    const pos = pos0 + r;
    for (let i = 0; i < half; i++) {
      cos[i] = Math.cos(pos * invFreq[i]);
      sin[i] = sign * Math.sin(pos * invFreq[i]);
    }
    for (let h = 0; h < nHeads; h++) {
      const o = (r * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const x1 = x[o + i];
        const x2 = x[o + i + half];
        y[o + i] = x1 * cos[i] - x2 * sin[i];
        y[o + i + half] = x2 * cos[i] + x1 * sin[i];
      }
    }
  }
  return y;
}

/**
 * Rotary position embedding of rows at positions pos0, pos0+1, …:
 * y = x·cos(pos·f) + rotate_half(x)·sin(pos·f), rotate_half(x) = [−x₂, x₁].
 * x [rows, nHeads*headDim] → y [rows, nHeads*headDim]
 */
export function rope<T extends Floats>(x: T, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): T {
  return rotate(x, rows, nHeads, headDim, pos0, theta, 1);
}

/** A rotation's transpose is the rotation by the opposite angle.  dy → dx, same shapes */
export function ropeBackward<T extends Floats>(dy: T, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): T {
  return rotate(dy, rows, nHeads, headDim, pos0, theta, -1);
}

// ─── causal grouped-query attention ─────────────────────────────────────────────────────────

export interface AttentionShape {
  rows: number; // query rows, at positions pos0 … pos0+rows-1
  pos0: number;
  nHeads: number;
  nKvHeads: number; // head h reads kv head floor(h / (nHeads / nKvHeads))
  headDim: number;
}

/**
 * Checks an attention call's shape against its operands' lengths (and its backward's dOut), host
 * arrays or device tensors alike; every implementation calls it first.
 */
export function checkAttention(q: Sized, k: Sized, v: Sized, s: AttentionShape, dOut?: Sized): void {
  if (!Number.isInteger(s.rows) || s.rows < 0 || !Number.isInteger(s.pos0) || s.pos0 < 0) throw new Error(`attention: rows ${s.rows} and pos0 ${s.pos0} must be non-negative integers`);
  if (s.nHeads % s.nKvHeads !== 0) throw new Error(`attention: nHeads ${s.nHeads} is not a multiple of nKvHeads ${s.nKvHeads}`);
  checkShape('attention q', q, s.rows * s.nHeads * s.headDim);
  if (dOut) checkShape('attentionBackward dOut', dOut, s.rows * s.nHeads * s.headDim);
  const needed = (s.pos0 + s.rows) * s.nKvHeads * s.headDim;
  if (k.length < needed || v.length < needed) throw new Error(`attention: K/V hold fewer than ${s.pos0 + s.rows} positions`);
}

/** probs[j] = softmax_j(scale · q·k_j) over keys j ≤ last, written into probs[0..last] */
function attentionWeights(q: Floats, qo: number, k: Floats, kvDim: number, ko: number, headDim: number, last: number, probs: Float64Array): void {
  const scale = 1 / Math.sqrt(headDim);
  let max = -Infinity;
  for (let j = 0; j <= last; j++) {
    const kj = j * kvDim + ko;
    let s = 0;
    for (let d = 0; d < headDim; d++) s += q[qo + d] * k[kj + d];
    s *= scale;
    probs[j] = s;
    if (s > max) max = s;
  }
  softmaxPrefixInPlace(probs, last + 1, max);
}

/** probs[at..at+n) ← their softmax, given their maximum (subtracted for stability). */
export function softmaxPrefixInPlace(probs: Float64Array, n: number, max: number, at = 0): void {
  let sum = 0;
  for (let j = at; j < at + n; j++) {
    const e = Math.exp(probs[j] - max);
    probs[j] = e;
    sum += e;
  }
  for (let j = at; j < at + n; j++) probs[j] /= sum;
}

/**
 * out_r = Σ_{j ≤ pos0+r} softmax_j(q_r·k_j / sqrt(headDim)) · v_j, per head.
 * q [rows, nHeads*headDim] (after RoPE); k, v [≥ pos0+rows, nKvHeads*headDim] (keys after RoPE,
 * extra positions beyond pos0+rows are ignored) → out [rows, nHeads*headDim]
 */
export function attention<T extends Floats>(q: T, k: Floats, v: Floats, shape: AttentionShape): T {
  checkAttention(q, k, v, shape);
  const { rows, pos0, nHeads, nKvHeads, headDim } = shape;
  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const out = zerosLike(q, rows * qDim);
  const probs = new Float64Array(pos0 + rows);
  const acc = new Float64Array(headDim);
  for (let r = 0; r < rows; r++) {
    const last = pos0 + r;
    for (let h = 0; h < nHeads; h++) {
      const qo = r * qDim + h * headDim;
      const ko = Math.floor(h / group) * headDim;
      attentionWeights(q, qo, k, kvDim, ko, headDim, last, probs);
      acc.fill(0);
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

/**
 * Backward of `attention` (probabilities recomputed). With p = softmax(s), s_j = scale·q·k_j:
 * dv_j += p_j·dout;  dp_j = dout·v_j;  ds_j = p_j(dp_j − Σ p·dp);  dq += scale·ds_j·k_j;  dk_j += scale·ds_j·q.
 * dOut [rows, nHeads*headDim] → dq [rows, nHeads*headDim], dk, dv [pos0+rows, nKvHeads*headDim]
 */
export function attentionBackward<T extends Floats>(dOut: T, q: Floats, k: Floats, v: Floats, shape: AttentionShape): { dq: T; dk: T; dv: T } {
  checkAttention(q, k, v, shape, dOut);
  const { rows, pos0, nHeads, nKvHeads, headDim } = shape;
  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const nKeys = pos0 + rows;
  const dq = zerosLike(dOut, rows * qDim);
  const dk = new Float64Array(nKeys * kvDim); // accumulated over rows and heads in float64
  const dv = new Float64Array(nKeys * kvDim);
  const probs = new Float64Array(nKeys);
  const dp = new Float64Array(nKeys);
  for (let r = 0; r < rows; r++) {
    const last = pos0 + r;
    for (let h = 0; h < nHeads; h++) {
      const qo = r * qDim + h * headDim;
      const ko = Math.floor(h / group) * headDim;
      attentionWeights(q, qo, k, kvDim, ko, headDim, last, probs);
      let pdp = 0;
      for (let j = 0; j <= last; j++) {
        const vj = j * kvDim + ko;
        let s = 0;
        for (let d = 0; d < headDim; d++) {
          s += dOut[qo + d] * v[vj + d];
          dv[vj + d] += probs[j] * dOut[qo + d];
        }
        dp[j] = s;
        pdp += probs[j] * s;
      }
      for (let j = 0; j <= last; j++) {
        const ds = scale * probs[j] * (dp[j] - pdp);
        if (ds === 0) continue;
        const kj = j * kvDim + ko;
        for (let d = 0; d < headDim; d++) {
          dq[qo + d] += ds * k[kj + d];
          dk[kj + d] += ds * q[qo + d];
        }
      }
    }
  }
  return { dq, dk: conform(dk, dOut), dv: conform(dv, dOut) };
}

// ─── SwiGLU ─────────────────────────────────────────────────────────────────────────────────

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** m = silu(g) ⊙ u, silu(g) = g·σ(g).  g, u [rows, hiddenDim] → m [rows, hiddenDim] */
export function siluMul<T extends Floats>(g: T, u: Floats): T {
  checkShape('siluMul u', u, g.length);
  const m = zerosLike(g, g.length);
  for (let i = 0; i < g.length; i++) m[i] = g[i] * sigmoid(g[i]) * u[i];
  return m;
}

/** dg = dm·u·σ(g)(1 + g(1 − σ(g))),  du = dm·silu(g) */
export function siluMulBackward<T extends Floats>(dm: T, g: Floats, u: Floats): { dg: T; du: T } {
  checkShape('siluMulBackward g', g, dm.length);
  checkShape('siluMulBackward u', u, dm.length);
  const dg = zerosLike(dm, dm.length);
  const du = zerosLike(dm, dm.length);
  for (let i = 0; i < dm.length; i++) {
    const sg = sigmoid(g[i]);
    dg[i] = dm[i] * u[i] * sg * (1 + g[i] * (1 - sg));
    du[i] = dm[i] * g[i] * sg;
  }
  return { dg, du };
}

// ─── embeddings, residual ───────────────────────────────────────────────────────────────────

/** rows of a table: out[r] = table[ids[r]].  table [n, dim] → out [ids.length, dim] */
export function gather<T extends Floats>(table: T, ids: readonly number[], dim: number): T {
  const n = table.length / dim;
  const out = zerosLike(table, ids.length * dim);
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r];
    if (!Number.isInteger(id) || id < 0 || id >= n) throw new Error(`gather: id ${id} at row ${r} is outside [0, ${n})`);
    out.set(table.subarray(id * dim, (id + 1) * dim), r * dim);
  }
  return out;
}

/**
 * The table gradient of `gather`: scatter-add of the rows' gradients into [tableRows, dim].
 * Used for trainable tables only (prompt-tuning embeddings); the model's own table is frozen.
 */
export function gatherBackward(dOut: Floats, ids: readonly number[], tableRows: number, dim: number): Float64Array {
  checkShape('gatherBackward dOut', dOut, ids.length * dim);
  const dTable = new Float64Array(tableRows * dim);
  for (let r = 0; r < ids.length; r++) {
    const o = ids[r] * dim;
    for (let i = 0; i < dim; i++) dTable[o + i] += dOut[r * dim + i];
  }
  return dTable;
}

/** Rows of a then rows of b.  a [ra, dim], b [rb, dim] → [ra+rb, dim] */
export function concatRows<T extends Floats>(a: T, b: Floats, out?: T): T {
  const y = outOr(out, a, a.length + b.length);
  y.set(a);
  y.set(b, a.length);
  return y;
}

/** Residual connection: a + b, a new array (or `out`). */
export function add<T extends Floats>(a: T, b: Floats, out?: T): T {
  checkShape('add b', b, a.length);
  const y = outOr(out, a, a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
  return y;
}

/** a += b (for accumulating gradients). */
export function addInPlace(a: Floats, b: Floats): void {
  checkShape('addInPlace b', b, a.length);
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}

// ─── LM head, softmax, loss ─────────────────────────────────────────────────────────────────

/** Row-wise softmax.  logits [rows, n] → probabilities [rows, n] */
export function softmax<T extends Floats>(logits: T, rows: number, n: number): T {
  checkShape('softmax logits', logits, rows * n);
  const p = zerosLike(logits, rows * n);
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[o + i] > max) max = logits[o + i];
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(logits[o + i] - max);
    for (let i = 0; i < n; i++) p[o + i] = Math.exp(logits[o + i] - max) / sum;
  }
  return p;
}

/** Checks a loss call's shapes, mask (0 or 1) and the masked-in targets; → how many rows count. */
export function checkLoss(logits: ArrayLike<number>, targets: ArrayLike<number>, mask: ArrayLike<number>, rows: number, vocab: number): number {
  checkShape('crossEntropy logits', logits, rows * vocab);
  checkShape('crossEntropy targets', targets, rows);
  checkShape('crossEntropy mask', mask, rows);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    if (mask[r] !== 0 && mask[r] !== 1) throw new Error(`crossEntropy: mask[${r}] must be 0 or 1, got ${mask[r]}`);
    if (mask[r] === 0) continue;
    const t = targets[r];
    if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new Error(`crossEntropy: target ${t} at row ${r} is outside [0, ${vocab})`);
    count++;
  }
  return count;
}

/**
 * Masked mean cross-entropy: mean over rows with mask 1 of −log softmax(logits_r)[targets_r]
 * (0 when no row is masked in). Targets of rows with mask 0 are ignored.  logits [rows, vocab]
 */
export function crossEntropy(logits: Floats, targets: readonly number[], mask: readonly number[], rows: number, vocab: number): number {
  const count = checkLoss(logits, targets, mask, rows, vocab);
  if (count === 0) return 0;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    if (mask[r] === 0) continue;
    const o = r * vocab;
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) if (logits[o + i] > max) max = logits[o + i];
    let sum = 0;
    for (let i = 0; i < vocab; i++) sum += Math.exp(logits[o + i] - max);
    total += Math.log(sum) + max - logits[o + targets[r]];
  }
  return total / count;
}

/** dL/dlogits = (softmax(logits_r) − onehot(targets_r)) / count on rows with mask 1, 0 elsewhere. */
export function crossEntropyBackward<T extends Floats>(logits: T, targets: readonly number[], mask: readonly number[], rows: number, vocab: number): T {
  const count = checkLoss(logits, targets, mask, rows, vocab);
  const d = zerosLike(logits, rows * vocab);
  if (count === 0) return d;
  const p = softmax(logits, rows, vocab);
  for (let r = 0; r < rows; r++) {
    if (mask[r] === 0) continue;
    const o = r * vocab;
    for (let i = 0; i < vocab; i++) d[o + i] = p[o + i] / count;
    d[o + targets[r]] -= 1 / count;
  }
  return d;
}
