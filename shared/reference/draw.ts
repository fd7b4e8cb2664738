/**
 * One token drawn as `samplingDistribution` defines it — where a uniform r falls in the running
 * sum, in token-id order, of the kept tokens' renormalised probabilities — without building that
 * distribution and without sorting the vocabulary: the kept set of top-k comes from a heap of k
 * (topIndices), that of top-p alone from a selection by mass (nucleus) — the same head of the
 * same descending order, ties by id, with sums taken in another order (so a cut that rounding
 * puts exactly on top_p may fall one token apart). At a 32k vocabulary a top-p or top-k draw
 * took 6.6–8.4 ms (a full sort per token).
 */
import type { Floats } from '../model/types';
import { topIndices } from '../util/top';
import type { SamplingParams } from './sampling';

/** A draw's working arrays, kept from token to token (a 32k vocabulary would otherwise allocate ~420 KB a token). */
export class DrawScratch {
  p = new Float64Array(0); // probabilities
  kept = new Uint8Array(0); // 1: kept by top-k / top-p
  ids = new Int32Array(0); // top-p's candidates
  readonly mass = new Float64Array(BUCKETS); // top-p's mass per bucket

  /** Room for n tokens, `kept` cleared. */
  fit(n: number): this {
    if (this.p.length < n) [this.p, this.kept, this.ids] = [new Float64Array(n), new Uint8Array(n), new Int32Array(n)];
    this.kept.fill(0, 0, n);
    return this;
  }
}

/** p ← softmax(logits / T), T > 0, float64. */
export type Softmax = (logits: Floats, temperature: number, p: Float64Array) => void;

/** The definition (a Softmax): the probabilities of samplingDistribution and of a draw. */
export function temperedSoftmax(logits: Floats, temperature: number, p: Float64Array): void {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i] = Math.exp((logits[i] - max) / temperature);
  for (let i = 0; i < n; i++) p[i] /= sum;
}

/**
 * The token for uniform r ∈ [0, 1); temperature > 0. `softmax` computes the probabilities: the
 * definition here, a faster one of the same definition where a runtime has one (the server's).
 */
export function drawToken(logits: Floats, params: SamplingParams, r: number, scratch: DrawScratch, softmax: Softmax = temperedSoftmax): number {
  const { temperature = 1, topK = 0, topP = 1 } = params;
  const n = logits.length;
  scratch.fit(n);
  const p = scratch.p.subarray(0, n);
  const kept = scratch.kept.subarray(0, n);
  softmax(logits, temperature, p);

  const whole = (topK === 0 || topK >= n) && topP === 1;
  // renormalised over what is kept (its mass, summed as it was found); the whole distribution as
  // it is (as samplingDistribution does)
  let keptSum = 1;
  if (whole) kept.fill(1);
  else if (topK > 0 && topK < n) keptSum = topKThenP(p, topK, topP, kept);
  else keptSum = nucleus(p, topP, kept, scratch.ids.subarray(0, n), scratch);
  // the running sum in id order, zeros skipped; the last kept token if rounding leaves r past it
  let cum = 0;
  let last = 0;
  for (let i = 0; i < n; i++) {
    if (!kept[i]) continue;
    const q = p[i] / keptSum;
    if (q === 0) continue;
    cum += q;
    last = i;
    if (r < cum) return i;
  }
  return last;
}

/** top-k (a heap of k), then top-p within those k, cut in their descending order; returns the kept mass. */
function topKThenP(p: Float64Array, topK: number, topP: number, kept: Uint8Array): number {
  const order = topIndices(p, topK);
  let keep = order.length;
  if (topP < 1) {
    let mass = 0;
    for (const i of order) mass += p[i];
    let cum = 0;
    for (let i = 0; i < order.length; i++) {
      cum += p[order[i]];
      if (cum >= topP * mass) {
        keep = i + 1;
        break;
      }
    }
  }
  let keptMass = 0;
  for (let i = 0; i < keep; i++) {
    kept[order[i]] = 1;
    keptMass += p[order[i]];
  }
  return keptMass;
}

/**
 * top-p alone: the head of the descending order (ties by id) whose mass first reaches top_p of
 * the total, without ordering it. First every token goes to a bucket by its probability's
 * magnitude (sixteen to an octave, read off the float64's high word: monotone in the value),
 * summing each bucket's mass; the buckets wholly above the cut are kept outright and only the
 * tokens of the bucket holding it stay candidates. Those are split in place around a pivot into
 * those above it, equal to it and below it; a part wholly above the cut is kept, the search goes
 * on in the part holding it, and values equal to the pivot are taken in id order. At a 32k
 * vocabulary: two passes and a selection among a few hundred to a few thousand candidates; the
 * selection alone over all of them took ~9 passes over ~42k entries (a top-p draw on a nearly
 * flat row 1.45 ms, against 0.44 with temperature alone; 0.67 now). All tokens are kept where
 * rounding never reaches top_p (as the sorted walk keeps them). Returns the kept mass.
 */
function nucleus(p: Float64Array, topP: number, kept: Uint8Array, ids: Int32Array, scratch: DrawScratch): number {
  const n = p.length;
  const { mass } = scratch;
  mass.fill(0);
  const high = new Uint32Array(p.buffer, p.byteOffset, 2 * n); // little-endian: word 2i + 1 is p[i]'s sign, exponent and top mantissa bits
  let total = 0;
  for (let i = 0; i < n; i++) {
    const v = p[i];
    total += v;
    mass[bucketOf(high[2 * i + 1])] += v;
  }
  const need = topP * total;
  let above = 0; // mass kept so far: every kept token ranks above every candidate
  let cut = 0;
  while (cut < BUCKETS && above + mass[cut] < need) above += mass[cut++];
  if (cut === BUCKETS) {
    kept.fill(1);
    return total;
  }
  let hi = 0; // candidates: ids[0, hi)
  for (let i = 0; i < n; i++) {
    const b = bucketOf(high[2 * i + 1]);
    if (b < cut) kept[i] = 1;
    else if (b === cut) ids[hi++] = i;
  }
  let lo = 0;
  while (lo < hi) {
    const a = p[ids[lo]], b = p[ids[(lo + hi) >> 1]], c = p[ids[hi - 1]];
    const pivot = Math.max(Math.min(a, b), Math.min(Math.max(a, b), c)); // median of three
    // ids[lo, gt) > pivot, ids[gt, i) = pivot, ids[lt, hi) < pivot (Dijkstra's three-way partition)
    let gt = lo;
    let i = lo;
    let lt = hi;
    let higherMass = 0;
    while (i < lt) {
      const id = ids[i];
      const v = p[id];
      if (v > pivot) {
        ids[i++] = ids[gt];
        ids[gt++] = id;
        higherMass += v;
      } else if (v < pivot) {
        ids[i] = ids[--lt];
        ids[lt] = id;
      } else i++;
    }
    if (above + higherMass >= need) {
      hi = gt;
      continue;
    }
    for (let k = lo; k < gt; k++) kept[ids[k]] = 1;
    above += higherMass;
    const equal = ids.subarray(gt, lt).sort(); // ties: lower id first
    for (const id of equal) {
      kept[id] = 1;
      above += p[id];
      if (above >= need) return above;
    }
    lo = lt;
  }
  return above;
}

/**
 * Buckets of nucleus: sixteen to an octave (an exponent and the top four mantissa bits), from 1
 * down — bucket 0 holds only p = 1, bucket 1 [0.96875, 1), bucket 2 [0.9375, 0.96875), … — and
 * everything below 2^-64 (0 too) in the last.
 */
const BUCKETS = 64 * 16 + 1;
/** The float64 1.0's high word, shifted as bucketOf shifts it. */
const TOP = 0x3ff00000 >>> 16;

/** A probability's bucket from its float64's high word (p ∈ [0, 1]: the larger p, the lower the bucket). */
function bucketOf(high: number): number {
  const b = TOP - (high >>> 16);
  return b < BUCKETS - 1 ? b : BUCKETS - 1;
}
