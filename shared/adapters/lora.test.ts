import { describe, expect, it } from 'vitest';
import { LoraModule, loraDown, loraScale, loraUp } from './lora';
import type { Floats } from '../model/types';
import type { Grads } from './taps';
import { checkOutputModule, compareGradients, randomArray } from './test-support';

// Tolerance of every finite-difference check here: |fd − analytic| ≤ 1e-9 + 1e-6·|analytic|,
// float64, central differences with step 1e-5 (LoRA is bilinear, so the differences are exact
// up to rounding).
const RTOL = 1e-6;
const ATOL = 1e-9;

function make(rows = 3, inDim = 5, outDim = 4, r = 2) {
  const A = randomArray(r * inDim, 1);
  const B = randomArray(outDim * r, 2);
  const mod = new LoraModule({ A, B, r, inDim, outDim, scale: loraScale(16, r, false), keyA: 'A', keyB: 'B' });
  const x = randomArray(rows * inDim, 3);
  const y0 = randomArray(rows * outDim, 4);
  return { A, B, mod, x, y0, rows, inDim, outDim, r };
}

describe('LoRA module', () => {
  it('computes y0 + s·B·A·x', () => {
    const { A, B, mod, x, y0, rows, inDim, outDim, r } = make();
    const y = mod.forwardOutput(x, y0, rows);
    const s = 16 / r;
    for (let t = 0; t < rows; t++) {
      for (let o = 0; o < outDim; o++) {
        let want = y0[t * outDim + o];
        for (let i = 0; i < inDim; i++) {
          let ba = 0;
          for (let k = 0; k < r; k++) ba += B[o * r + k] * A[k * inDim + i];
          want += s * ba * x[t * inDim + i];
        }
        expect(y[t * outDim + o]).toBeCloseTo(want, 12);
      }
    }
  });

  it('scales by alpha/r, or alpha/√r with rsLoRA', () => {
    expect(loraScale(16, 4, false)).toBe(4);
    expect(loraScale(16, 4, true)).toBe(8);
  });

  it('keeps the precision of x', () => {
    const { mod, rows, inDim, outDim } = make();
    const y = mod.forwardOutput(new Float32Array(rows * inDim), new Float32Array(rows * outDim), rows);
    expect(y).toBeInstanceOf(Float32Array);
    const { dx, dy0 } = mod.backwardOutput(new Float32Array(rows * inDim), new Float32Array(rows * outDim), new Float32Array(rows * outDim), rows, new Map());
    expect(dx).toBeInstanceOf(Float32Array);
    expect(dy0).toBeInstanceOf(Float32Array);
  });

  for (const afterForward of [false, true]) {
    it(`backward equals central finite differences (dx, dy0, dA, dB) in float64${afterForward ? ', after its forward (the kept x·Aᵀ)' : ''}`, () => {
      const { A, B, mod, x, y0, rows } = make();
      if (afterForward) mod.forwardOutput(x, y0, rows);
      for (const c of checkOutputModule(mod, x, y0, rows, { A, B })) {
        expect(compareGradients(c.analytic, c.numeric, RTOL, ATOL).worst, c.name).toBeLessThanOrEqual(0);
      }
    });
  }

  it('a backward after its forward reads the forward\'s x·Aᵀ: the same gradients, bit for bit, in either precision', () => {
    for (const f32 of [false, true]) {
      const grads = (forwardFirst: boolean) => {
        const { mod, x, y0, rows, outDim } = make(4, 7, 6, 3);
        const [xs, y0s] = f32 ? [Float32Array.from(x), Float32Array.from(y0)] : [x, y0];
        if (forwardFirst) mod.forwardOutput(xs, y0s, rows);
        const g: Grads = new Map();
        const { dx } = mod.backwardOutput(xs, y0s, randomArray(rows * outDim, 9), rows, g);
        return { dx: Array.from(dx!), A: Array.from(g.get('A')!), B: Array.from(g.get('B')!) };
      };
      expect(grads(true)).toEqual(grads(false));
    }
  });

  it('the x·Aᵀ a backward reads is its forward\'s, not one computed from A as it is now', () => {
    const kept = make();
    const fresh = make();
    kept.mod.forwardOutput(kept.x, kept.y0, kept.rows);
    kept.A.fill(NaN); // whatever A holds now, dB = s·gᵀ·h pairs with the forward that ran
    const dB = (m: ReturnType<typeof make>) => {
      const g: Grads = new Map();
      m.mod.backwardOutput(m.x, m.y0, randomArray(m.rows * m.outDim, 9), m.rows, g);
      return Array.from(g.get('B')!);
    };
    const want = dB(fresh);
    expect(want.every(Number.isFinite)).toBe(true);
    expect(dB(kept)).toEqual(want);
  });

  it('adds into existing gradients', () => {
    const { mod, x, y0, rows, outDim } = make();
    const dy = randomArray(rows * outDim, 7);
    const grads: Grads = new Map();
    mod.backwardOutput(x, y0, dy, rows, grads);
    const once = Float64Array.from(grads.get('A')!);
    mod.backwardOutput(x, y0, dy, rows, grads);
    const twice = grads.get('A')!;
    for (let i = 0; i < once.length; i++) expect(twice[i]).toBeCloseTo(2 * once[i], 12);
  });

  it('with defer: the same dx at once, A and B gradients only when the deferred work runs, bit for bit', () => {
    const { mod, x, y0, rows, outDim } = make();
    const dy = randomArray(rows * outDim, 7);
    const now: Grads = new Map();
    const immediate = mod.backwardOutput(x, y0, dy, rows, now);
    const later: Grads = new Map();
    const works: (() => void)[] = [];
    const deferred = mod.backwardOutput(x, y0, dy, rows, later, (w) => works.push(w));
    expect(Array.from(deferred.dx!)).toEqual(Array.from(immediate.dx!));
    expect(works).toHaveLength(1);
    expect(later.size).toBe(0);
    works[0]();
    for (const key of ['A', 'B']) expect(Array.from(later.get(key)!), key).toEqual(Array.from(now.get(key)!));
  });

  it('rejects parameters of the wrong size', () => {
    expect(() => new LoraModule({ A: new Float32Array(3), B: new Float32Array(8), r: 2, inDim: 5, outDim: 4, scale: 1, keyA: 'A', keyB: 'B' })).toThrow(/lora_A/);
  });
});

describe('LoRA kernels', () => {
  // The straightforward loops loraDown / loraUp are blocked from: one sum per output, in index order.
  function plainDelta(A: Floats, B: Floats, x: Floats, rows: number, inDim: number, outDim: number, r: number, s: number, y0: Floats, like: Floats) {
    const h = like instanceof Float64Array ? new Float64Array(rows * r) : new Float32Array(rows * r);
    for (let t = 0; t < rows; t++) {
      for (let k = 0; k < r; k++) {
        let acc = 0;
        for (let i = 0; i < inDim; i++) acc += x[t * inDim + i] * A[k * inDim + i];
        h[t * r + k] = acc;
      }
    }
    const y = like instanceof Float64Array ? new Float64Array(rows * outDim) : new Float32Array(rows * outDim);
    for (let t = 0; t < rows; t++) {
      for (let o = 0; o < outDim; o++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += h[t * r + k] * B[o * r + k];
        y[t * outDim + o] = y0[t * outDim + o] + s * acc;
      }
    }
    return y;
  }

  // r 23: two blocks of eight, one of four and a tail in x·Aᵀ; out 20–23: blocks of four and
  // every length of tail in the up projection. Without a base (null) the delta alone.
  it.each([Float64Array, Float32Array])('give the plain loops bit for bit (%o)', (Kind) => {
    for (const outDim of [20, 21, 22, 23]) {
      const [rows, inDim, r] = [3, 13, 23];
      const A = Kind.from(randomArray(r * inDim, 1));
      const B = Kind.from(randomArray(outDim * r, 2));
      const x = Kind.from(randomArray(rows * inDim, 3));
      const y0 = Kind.from(randomArray(rows * outDim, 4));
      const p = { A, B, r, inDim, outDim, scale: 0.75, keyA: 'A', keyB: 'B' };
      const mod = new LoraModule(p);
      expect(Array.from(mod.forwardOutput(x, y0, rows)), `out ${outDim}`).toEqual(Array.from(plainDelta(A, B, x, rows, inDim, outDim, r, 0.75, y0, x)));
      const delta = loraUp(p, loraDown(p, x, rows), null, rows, x);
      expect(Array.from(delta), `out ${outDim}, no base`).toEqual(Array.from(plainDelta(A, B, x, rows, inDim, outDim, r, 0.75, new Kind(rows * outDim), x)));
    }
  });
});
