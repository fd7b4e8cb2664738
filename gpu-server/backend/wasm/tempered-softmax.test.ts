/**
 * The server's sampling softmax against the reference's (shared/reference/draw.ts): every
 * probability within 1e-14 relative (where the reference's is a denormal, below 2^-1021 here too;
 * 0 where e^t is below e^-708), and every draw made with it the token the definition gives
 * (draw-cases.ts).
 */
import { describe, expect, it } from 'vitest';
import { DrawScratch, drawToken, temperedSoftmax } from '../../../shared/reference/draw';
import { byDistributionNearly, DRAW_PARAMS, drawRows, drawRs } from '../../../shared/reference/draw-cases';
import { Rng } from '../../../shared/util/rng';
import { temperedSoftmaxF64 } from './tempered-softmax';

function both(logits: Float32Array, temperature: number): { ref: Float64Array; wasm: Float64Array } {
  const ref = new Float64Array(logits.length);
  const wasm = new Float64Array(logits.length);
  temperedSoftmax(logits, temperature, ref);
  temperedSoftmaxF64(logits, temperature, wasm);
  return { ref, wasm };
}

/** The largest relative difference where the reference's probability is a normal float64, and whether every other one is below 2^-1021 here too. */
function compare({ ref, wasm }: { ref: Float64Array; wasm: Float64Array }): { worst: number; tinyZero: boolean } {
  let worst = 0;
  let tinyZero = true;
  for (let i = 0; i < ref.length; i++) {
    if (ref[i] >= 2 ** -1022) worst = Math.max(worst, Math.abs(wasm[i] - ref[i]) / ref[i]);
    else tinyZero &&= wasm[i] < 2 ** -1021;
  }
  return { worst, tinyZero };
}

describe('temperedSoftmaxF64 (the server sampler’s softmax)', () => {
  const rng = new Rng(5);

  it('= the reference to 1e-14 at every length mod 4 and temperature', () => {
    for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 301, 32000, 32001]) {
      for (const temperature of [0.05, 0.8, 1, 2.5]) {
        const logits = Float32Array.from({ length: n }, () => 4 * rng.normal());
        const { worst, tinyZero } = compare(both(logits, temperature));
        expect(worst, `n ${n} T ${temperature}`).toBeLessThan(1e-14);
        expect(tinyZero, `n ${n} T ${temperature}`).toBe(true);
      }
    }
  });

  it('gives 0 below e^-708, keeps −Infinity at 0 and NaN as NaN', () => {
    const logits = Float32Array.of(0, -1, -100, -700, -707.9, -708.5, -745, -800, -Infinity, -3, -0.5, -0.25);
    const { ref, wasm } = both(logits, 1);
    expect(compare({ ref, wasm })).toEqual({ worst: expect.any(Number), tinyZero: true });
    expect(compare({ ref, wasm }).worst).toBeLessThan(1e-14);
    expect([...wasm.slice(5, 9)]).toEqual([0, 0, 0, 0]);
    expect(wasm[4]).toBeGreaterThan(0);
    const { wasm: withNaN } = both(Float32Array.of(1, NaN, 2, 3, 0.5), 1);
    expect(withNaN.every(Number.isNaN)).toBe(true); // as the reference: a NaN sum
  });

  it('draws what samplingDistribution defines, in every draw case (a cut exactly on top_p either way)', () => {
    const scratch = new DrawScratch();
    const ambiguous = new Set<string>(); // rows where some boundary fell within 1e-12
    for (const { name, logits } of drawRows(11)) {
      for (const params of DRAW_PARAMS) {
        const expected = byDistributionNearly(logits, params);
        for (const r of drawRs(rng, 4)) {
          const tokens = expected(r);
          if (tokens.size > 1) ambiguous.add(name);
          expect(tokens, `${name} ${JSON.stringify(params)} r ${r}`).toContain(drawToken(logits, params, r, scratch, temperedSoftmaxF64));
        }
      }
    }
    // Only rows of equal probabilities (and r at the very end) leave a boundary to rounding; the
    // 32k rows are checked strictly.
    expect([...ambiguous].filter((name) => name.startsWith('32k'))).toEqual([]);
  });

  it('refuses float64 logits and a p of another length', () => {
    expect(() => temperedSoftmaxF64(new Float64Array(4), 1, new Float64Array(4))).toThrow(/Float32Array/);
    expect(() => temperedSoftmaxF64(new Float32Array(4), 1, new Float64Array(3))).toThrow(/p holds 3/);
  });
});
