/**
 * The cases a draw is checked on (draw.test.ts, and the server's softmax in
 * gpu-server/backend/wasm/tempered-softmax.test.ts): rows of logits, sampling settings and
 * uniform numbers, and the token each must give by the definition — where r falls in the running
 * sum, in id order, of samplingDistribution (which sorts the whole vocabulary).
 */
import { Rng } from '../util/rng';
import { samplingDistribution, type SamplingParams } from './sampling';

/** The definition's draw for a row and setting: r → the token (the distribution built once). */
export function byDistribution(logits: Float32Array, params: SamplingParams): (r: number) => number {
  const p = samplingDistribution(logits, params);
  return (r) => {
    let cum = 0;
    let last = 0;
    for (let i = 0; i < p.length; i++) {
      if (p[i] === 0) continue;
      cum += p[i];
      last = i;
      if (r < cum) return i;
    }
    return last;
  };
}

/**
 * The tokens a draw may give where the probabilities are the definition's to a few ulps: the
 * definition's, and where a boundary falls within 1e-12 of where rounding put it — a top-p cut
 * on ties summing to top_p exactly, or r exactly on a running sum (r = 0.25 over 64 equal
 * probabilities) — those with top_p or r moved by that much: such a boundary goes either way.
 */
export function byDistributionNearly(logits: Float32Array, params: SamplingParams): (r: number) => Set<number> {
  const { topP = 1 } = params;
  const cuts = topP < 1 ? [topP, topP * (1 - 1e-12), Math.min(1, topP * (1 + 1e-12))] : [topP];
  const draws = cuts.map((cut) => byDistribution(logits, { ...params, topP: cut }));
  return (r) => new Set([r, r * (1 - 1e-12), Math.min(1 - 2 ** -53, r * (1 + 1e-12))].flatMap((near) => draws.map((draw) => draw(near))));
}

export const DRAW_PARAMS: SamplingParams[] = [
  { temperature: 1 },
  { temperature: 0.8, topP: 0.9 },
  { temperature: 0.05, topP: 0.5 }, // most probabilities underflow to 0
  { temperature: 1.3, topK: 40 },
  { temperature: 0.7, topK: 40, topP: 0.8 },
  { temperature: 1, topK: 1 },
  { temperature: 1, topP: 1e-9 },
  { temperature: 2, topP: 0.999999 }, // nearly the whole vocabulary: several threshold passes
  { temperature: 1, topP: 1 - 2 ** -40 }, // the cut among probabilities ~2^-40 of the total and below
];

/** Rows of logits: a 32k vocabulary peaked and nearly flat, one spanning 200 nats, ties, flat, a single token. */
export function drawRows(seed: number): { name: string; logits: Float32Array }[] {
  const rng = new Rng(seed);
  return [
    { name: '32k vocabulary', logits: Float32Array.from({ length: 32000 }, () => 3 * rng.normal()) },
    { name: '32k, nearly flat', logits: Float32Array.from({ length: 32000 }, () => 0.3 * rng.normal()) },
    { name: 'logits over 200 nats', logits: Float32Array.from({ length: 4001 }, () => -200 * rng.nextFloat()) },
    { name: 'many ties', logits: Float32Array.from({ length: 500 }, () => Math.floor(rng.nextFloat() * 4)) },
    { name: 'a flat row', logits: new Float32Array(300) },
    { name: 'one token', logits: Float32Array.of(0.3) },
  ];
}

/** Uniform numbers: the ends, round values, and `random` more from rng. */
export function drawRs(rng: Rng, random = 12): number[] {
  return [0, 1e-12, 0.25, 0.5, 0.9, 0.999999, 1 - 2 ** -53, ...Array.from({ length: random }, () => rng.nextFloat())];
}
