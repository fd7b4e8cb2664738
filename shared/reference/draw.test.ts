/**
 * drawToken against the definition: the token where r falls in the running sum, in id order, of
 * samplingDistribution (which sorts the whole vocabulary). Same token for every case; the kept
 * set may differ from the sort's only where summing the same probabilities in another order
 * rounds across top_p's boundary, which these cases do not hit.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng';
import { DrawScratch, drawToken } from './draw';
import { samplingDistribution, type SamplingParams } from './sampling';

function byDistribution(logits: Float32Array, params: SamplingParams, r: number): number {
  const p = samplingDistribution(logits, params);
  let cum = 0;
  let last = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    cum += p[i];
    last = i;
    if (r < cum) return i;
  }
  return last;
}

const PARAMS: SamplingParams[] = [
  { temperature: 1 },
  { temperature: 0.8, topP: 0.9 },
  { temperature: 0.05, topP: 0.5 }, // most probabilities underflow to 0
  { temperature: 1.3, topK: 40 },
  { temperature: 0.7, topK: 40, topP: 0.8 },
  { temperature: 1, topK: 1 },
  { temperature: 1, topP: 1e-9 },
  { temperature: 2, topP: 0.999999 }, // nearly the whole vocabulary: several threshold passes
];

describe('drawToken', () => {
  const rng = new Rng(11);
  const rows = [
    { name: '32k vocabulary', logits: Float32Array.from({ length: 32000 }, () => 3 * rng.normal()) },
    { name: 'many ties', logits: Float32Array.from({ length: 500 }, () => Math.floor(rng.nextFloat() * 4)) },
    { name: 'a flat row', logits: new Float32Array(300) },
    { name: 'one token', logits: Float32Array.of(0.3) },
  ];
  for (const { name, logits } of rows) {
    it(`picks what samplingDistribution defines (${name})`, () => {
      const scratch = new DrawScratch();
      for (const params of PARAMS) {
        for (const r of [0, 1e-12, 0.25, 0.5, 0.9, 0.999999, 1 - 2 ** -53, ...Array.from({ length: 12 }, () => rng.nextFloat())]) {
          expect(drawToken(logits, params, r, scratch), `${JSON.stringify(params)} r ${r}`).toBe(byDistribution(logits, params, r));
        }
      }
    });
  }
});
