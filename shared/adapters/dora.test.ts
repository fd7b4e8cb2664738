import { describe, expect, it } from 'vitest';
import { DoraModule, doraNorms } from './dora';
import { checkOutputModule, compareGradients, randomArray } from './test-support';

// Tolerance: |fd − analytic| ≤ 1e-9 + 1e-6·|analytic|, float64 central differences (step 1e-5),
// with the norms held fixed while differencing — PEFT's gradient treats them as constants.
const RTOL = 1e-6;
const ATOL = 1e-9;

function make(withBias: boolean, rows = 3, inDim = 5, outDim = 4, r = 2) {
  const A = randomArray(r * inDim, 11);
  const B = randomArray(outDim * r, 12, 0.5);
  const m = randomArray(outDim, 13).map((v) => 1 + Math.abs(v));
  const W = randomArray(outDim * inDim, 14);
  const bias = withBias ? randomArray(outDim, 15) : undefined;
  const scale = 2;
  const mod = new DoraModule({ A, B, m, r, inDim, outDim, scale, keyA: 'A', keyB: 'B', keyM: 'm', bias }, W);
  const x = randomArray(rows * inDim, 16);
  // y0 = x·Wᵀ + b, as the frozen layer computes it
  const y0 = new Float64Array(rows * outDim);
  for (let t = 0; t < rows; t++)
    for (let o = 0; o < outDim; o++) {
      let acc = bias ? bias[o] : 0;
      for (let i = 0; i < inDim; i++) acc += x[t * inDim + i] * W[o * inDim + i];
      y0[t * outDim + o] = acc;
    }
  return { A, B, m, W, bias, mod, x, y0, rows, inDim, outDim, r, scale };
}

describe('DoRA module', () => {
  it('with defer: the same dx and dL/dy0 at once, the magnitude gradient too; A and B when the deferred work runs', () => {
    const { mod, x, y0, rows, outDim } = make(true);
    const dy = randomArray(rows * outDim, 21);
    const now = new Map<string, Float64Array>();
    const immediate = mod.backwardOutput(x, y0, dy, rows, now);
    const later = new Map<string, Float64Array>();
    const works: (() => void)[] = [];
    const deferred = mod.backwardOutput(x, y0, dy, rows, later, (w) => works.push(w));
    expect(Array.from(deferred.dx!)).toEqual(Array.from(immediate.dx!));
    expect(Array.from(deferred.dy0)).toEqual(Array.from(immediate.dy0));
    expect([...later.keys()]).toEqual(['m']);
    for (const w of works) w();
    for (const key of ['A', 'B', 'm']) expect(Array.from(later.get(key)!), key).toEqual(Array.from(now.get(key)!));
  });

  for (const withBias of [false, true]) {
    it(`equals the merged weight (m/‖W+sBA‖)·(W+sBA)·x + b${withBias ? ' (with bias)' : ''}`, () => {
      const { A, B, m, W, bias, mod, x, y0, rows, inDim, outDim, r, scale } = make(withBias);
      const y = mod.forwardOutput(x, y0, rows);
      for (let o = 0; o < outDim; o++) {
        const row = new Float64Array(inDim);
        for (let i = 0; i < inDim; i++) {
          let ba = 0;
          for (let k = 0; k < r; k++) ba += B[o * r + k] * A[k * inDim + i];
          row[i] = W[o * inDim + i] + scale * ba;
        }
        const norm = Math.hypot(...row);
        for (let t = 0; t < rows; t++) {
          let want = 0;
          for (let i = 0; i < inDim; i++) want += row[i] * x[t * inDim + i];
          want = (m[o] / norm) * want + (bias ? bias[o] : 0);
          expect(y[t * outDim + o]).toBeCloseTo(want, 11);
        }
      }
    });

    for (const afterForward of [false, true]) {
      it(`backward equals central finite differences with the norm held constant${withBias ? ' (with bias)' : ''}${afterForward ? ', after its forward (the kept x·Aᵀ)' : ''}`, () => {
        const { A, B, m, mod, x, y0, rows } = make(withBias);
        if (afterForward) mod.forwardOutput(x, y0, rows);
        for (const c of checkOutputModule(mod, x, y0, rows, { A, B, m })) {
          expect(compareGradients(c.analytic, c.numeric, RTOL, ATOL).worst, c.name).toBeLessThanOrEqual(0);
        }
      });
    }
  }

  it('is the identity on the base output when B = 0 and m = ‖W‖ (PEFT init)', () => {
    const { A, W, x, y0, rows, inDim, outDim, r } = make(true);
    const B = new Float64Array(outDim * r);
    const p = { A, B, m: new Float64Array(outDim), r, inDim, outDim, scale: 3, keyA: 'A', keyB: 'B', keyM: 'm', bias: randomArray(outDim, 15) };
    p.m.set(doraNorms(W, p));
    const y = new DoraModule(p, W).forwardOutput(x, y0, rows);
    for (let j = 0; j < y.length; j++) expect(y[j]).toBeCloseTo(y0[j], 12);
  });

  it('computes the row norms ‖W + s·B·A‖ of the definition (ranks covering every column block)', () => {
    for (const [inDim, outDim, r] of [[37, 9, 1], [40, 13, 5], [33, 7, 12], [64, 20, 16]]) {
      const A = randomArray(r * inDim, 21);
      const B = randomArray(outDim * r, 22);
      const W = Float32Array.from(randomArray(outDim * inDim, 23));
      const scale = 1.5;
      const norms = doraNorms(W, { A, B, r, inDim, outDim, scale, keyA: 'A', keyB: 'B' });
      for (let o = 0; o < outDim; o++) {
        let ss = 0;
        for (let i = 0; i < inDim; i++) {
          let w = W[o * inDim + i];
          for (let k = 0; k < r; k++) w += scale * B[o * r + k] * A[k * inDim + i];
          ss += w * w;
        }
        expect(Math.abs(norms[o] - Math.sqrt(ss)) / Math.sqrt(ss), `in ${inDim} out ${outDim} r ${r} row ${o}`).toBeLessThan(1e-12);
      }
    }
  });

  it('keeps its norms until refreshed', () => {
    const { B, W, mod } = make(false);
    const before = Float64Array.from(mod.norms);
    B[0] += 1;
    expect(Array.from(mod.norms)).toEqual(Array.from(before));
    mod.refreshNorms(W);
    expect(mod.norms[0]).not.toBeCloseTo(before[0], 6);
  });
});
