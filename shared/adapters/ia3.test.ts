import { describe, expect, it } from 'vitest';
import { Ia3InputModule, Ia3OutputModule } from './ia3';
import { checkInputModule, checkOutputModule, compareGradients, randomArray } from './test-support';

// Tolerance: |fd − analytic| ≤ 1e-9 + 1e-6·|analytic|, float64 central differences (step 1e-5).
const RTOL = 1e-6;
const ATOL = 1e-9;

describe('IA3 modules', () => {
  it('output form scales y0 by l', () => {
    const l = randomArray(4, 1);
    const y0 = randomArray(12, 2);
    const y = new Ia3OutputModule(l, 4, 'l').forwardOutput(randomArray(15, 3), y0, 3);
    for (let j = 0; j < 12; j++) expect(y[j]).toBeCloseTo(y0[j] * l[j % 4], 14);
  });

  it('input form scales x by l', () => {
    const l = randomArray(5, 4);
    const x = randomArray(15, 5);
    const xp = new Ia3InputModule(l, 5, 'l').forwardInput(x, 3);
    for (let j = 0; j < 15; j++) expect(xp[j]).toBeCloseTo(x[j] * l[j % 5], 14);
    expect(new Ia3InputModule(l, 5, 'l').forwardInput(new Float32Array(15), 3)).toBeInstanceOf(Float32Array);
  });

  it('output form backward equals central finite differences (dx = null, dy0, dl)', () => {
    const l = randomArray(4, 6);
    const mod = new Ia3OutputModule(l, 4, 'l');
    const checks = checkOutputModule(mod, randomArray(15, 7), randomArray(12, 8), 3, { l });
    expect(mod.backwardOutput(randomArray(15, 7), randomArray(12, 8), randomArray(12, 9), 3, new Map()).dx).toBeNull();
    for (const c of checks) expect(compareGradients(c.analytic, c.numeric, RTOL, ATOL).worst, c.name).toBeLessThanOrEqual(0);
  });

  it('input form backward equals central finite differences (dx, dl)', () => {
    const l = randomArray(5, 10);
    const mod = new Ia3InputModule(l, 5, 'l');
    for (const c of checkInputModule(mod, randomArray(15, 11), 3, { l })) {
      expect(compareGradients(c.analytic, c.numeric, RTOL, ATOL).worst, c.name).toBeLessThanOrEqual(0);
    }
  });

  it('each form refuses the other', () => {
    expect(() => new Ia3OutputModule(randomArray(4, 1), 4, 'l').forwardInput(new Float64Array(4), 1)).toThrow(/output/);
    expect(() => new Ia3InputModule(randomArray(4, 1), 4, 'l').forwardOutput(new Float64Array(4), new Float64Array(4), 1)).toThrow(/input/);
  });
});
