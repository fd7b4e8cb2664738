/**
 * drawToken against the definition (draw-cases.ts): same token for every case; the kept set may
 * differ from the sort's only where summing the same probabilities in another order rounds
 * across top_p's boundary, which these cases do not hit.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng';
import { DrawScratch, drawToken } from './draw';
import { byDistribution, DRAW_PARAMS, drawRows, drawRs } from './draw-cases';

describe('drawToken', () => {
  const rng = new Rng(11);
  for (const { name, logits } of drawRows(11)) {
    it(`picks what samplingDistribution defines (${name})`, () => {
      const scratch = new DrawScratch();
      for (const params of DRAW_PARAMS) {
        const expected = byDistribution(logits, params);
        for (const r of drawRs(rng)) expect(drawToken(logits, params, r, scratch), `${JSON.stringify(params)} r ${r}`).toBe(expected(r));
      }
    });
  }
});
