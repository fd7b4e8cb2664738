/**
 * Choosing the next token from one row of logits: greedy (temperature 0), or a draw from
 * softmax(logits / temperature) restricted to the top-k tokens and then to the nucleus (the
 * smallest set of most likely tokens whose probability reaches top_p), renormalised — the order
 * of Hugging Face's logits warpers. Draws use the seedable Rng, so a seed repeats a generation.
 */
import type { Floats } from '../model/types';
import { Rng } from '../util/rng';
import { DrawScratch, drawToken, temperedSoftmax, type Softmax } from './draw';

export interface SamplingParams {
  /** 0 = greedy; default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens; 0 or absent = off. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches topP; 1 or absent = off. */
  topP?: number;
  /** Seed of the draws; absent = a random seed. */
  seed?: number;
}

function checkParams({ temperature = 1, topK = 0, topP = 1 }: SamplingParams): void {
  if (!Number.isFinite(temperature) || temperature < 0) throw new Error(`sampling: temperature must be ≥ 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new Error(`sampling: topK must be an integer ≥ 0, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`sampling: topP must be in (0, 1], got ${topP}`);
}

/** The index of the largest value (the first one on ties). */
export function argmax(x: ArrayLike<number>): number {
  // Length and element read once each: re-reading them through the ArrayLike in the loop made
  // greedy decoding's argmax over a 32k vocabulary ~2× slower (80–110 → 43–50 µs).
  const n = x.length;
  let best = 0;
  let bestValue = x[0];
  for (let i = 1; i < n; i++) {
    const v = x[i];
    if (v > bestValue) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

/**
 * The distribution a token is drawn from, over the whole vocabulary (zeros outside the kept
 * set). logits [vocab] → probabilities [vocab]. Greedy is the one-hot of the argmax.
 */
export function samplingDistribution(logits: Floats, params: SamplingParams = {}): Float64Array {
  checkParams(params);
  const { temperature = 1, topK = 0, topP = 1 } = params;
  const n = logits.length;
  const p = new Float64Array(n);
  if (n === 0) throw new Error('sampling: empty logits');
  if (temperature === 0) {
    p[argmax(logits)] = 1;
    return p;
  }
  temperedSoftmax(logits, temperature, p);
  if ((topK === 0 || topK >= n) && topP === 1) return p;

  // most likely first (ties: lower id first), then cut by top-k, then by top-p within the kept mass
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
  let keep = topK === 0 ? n : Math.min(topK, n);
  if (topP < 1) {
    let kept = 0;
    for (let i = 0; i < keep; i++) kept += p[order[i]];
    let cum = 0;
    for (let i = 0; i < keep; i++) {
      cum += p[order[i]];
      if (cum >= topP * kept) {
        keep = i + 1;
        break;
      }
    }
  }
  let keptSum = 0;
  for (let i = 0; i < keep; i++) keptSum += p[order[i]];
  const out = new Float64Array(n);
  for (let i = 0; i < keep; i++) out[order[i]] = p[order[i]] / keptSum;
  return out;
}

/**
 * A draw's passes over the vocabulary: greedy's argmax and the tempered softmax. A runtime with
 * faster versions of the same definitions passes its own (the server: gpu-server/backend/wasm).
 */
export interface DrawKernels {
  argmax(logits: Floats): number;
  softmax: Softmax;
}

export const REFERENCE_KERNELS: DrawKernels = { argmax, softmax: temperedSoftmax };

export class Sampler {
  readonly params: SamplingParams;
  readonly rng: Rng;
  private readonly scratch = new DrawScratch();

  /**
   * `rng` overrides params.seed (e.g. an Rng restored from a checkpoint); `kernels` compute the
   * per-token passes over the vocabulary (the definitions here unless a runtime has faster ones).
   */
  constructor(
    params: SamplingParams = {},
    rng?: Rng,
    private readonly kernels: DrawKernels = REFERENCE_KERNELS,
  ) {
    checkParams(params);
    this.params = params;
    this.rng = rng ?? new Rng(params.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  /**
   * One token id from a row of logits [vocab]: where a uniform draw falls in the running sum, in
   * id order, of samplingDistribution (the last kept token if the rounded total falls short of
   * it), computed without building that distribution (draw.ts). Greedy draws no random numbers.
   */
  sample(logits: Floats): number {
    if (this.params.temperature === 0) return this.kernels.argmax(logits);
    if (logits.length === 0) throw new Error('sampling: empty logits');
    return drawToken(logits, this.params, this.rng.nextFloat(), this.scratch, this.kernels.softmax);
  }
}
