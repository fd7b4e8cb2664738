/**
 * One token drawn as `samplingDistribution` defines it — where a uniform r falls in the running
 * sum, in token-id order, of the kept tokens' renormalised probabilities — without building that
 * distribution and without sorting the vocabulary: the kept set of top-k comes from a heap of k
 * (topIndices), that of top-p alone from a heap of all tokens popped until their mass reaches
 * top_p (descendingUntil) — the same head of the same descending order, ties by id. At a 32k
 * vocabulary a top-p or top-k draw took ~7 ms (a full sort per token).
 */
import type { Floats } from '../model/types';
import { descendingUntil, topIndices } from '../util/top';
import type { SamplingParams } from './sampling';

/** The token for uniform r ∈ [0, 1); temperature > 0. `scratch` holds at least logits.length values. */
export function drawToken(logits: Floats, params: SamplingParams, r: number, scratch: Float64Array): number {
  const { temperature = 1, topK = 0, topP = 1 } = params;
  const n = logits.length;
  const p = scratch.subarray(0, n);
  // softmax(logits / T), as samplingDistribution computes it
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i] = Math.exp((logits[i] - max) / temperature);
  for (let i = 0; i < n; i++) p[i] /= sum;

  if ((topK === 0 || topK >= n) && topP === 1) return walk(p, null, 1, r);
  const order = topK > 0 && topK < n ? topIndices(p, topK) : nucleusHead(p, topP);
  let keep = order.length;
  if (topP < 1) {
    let kept = 0;
    if (topK > 0 && topK < n) for (const i of order) kept += p[i];
    else for (let i = 0; i < n; i++) kept += p[i];
    let cum = 0;
    for (let i = 0; i < order.length; i++) {
      cum += p[order[i]];
      if (cum >= topP * kept) {
        keep = i + 1;
        break;
      }
    }
  }
  const ids = order.slice(0, keep);
  let keptSum = 0;
  for (const i of ids) keptSum += p[i];
  return walk(p, ids.sort((a, b) => a - b), keptSum, r);
}

/** The head of the descending order whose running sum first reaches top_p of the mass (all of it if rounding never does). */
function nucleusHead(p: Float64Array, topP: number): number[] {
  let total = 0;
  for (let i = 0; i < p.length; i++) total += p[i];
  let cum = 0;
  return descendingUntil(p, (i) => (cum += p[i]) >= topP * total);
}

/** The first token (in id order, of `ids` or of all) whose running sum of p / scale passes r; zeros skipped. */
function walk(p: Float64Array, ids: number[] | null, scale: number, r: number): number {
  let cum = 0;
  let last = 0;
  const count = ids ? ids.length : p.length;
  for (let k = 0; k < count; k++) {
    const i = ids ? ids[k] : k;
    const q = p[i] / scale;
    if (q === 0) continue;
    cum += q;
    last = i;
    if (r < cum) return i;
  }
  return last;
}
