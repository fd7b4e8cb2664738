import { describe, expect, it } from 'vitest';
import { AdamW, clipGradNorm } from './optimizer';
import { learningRate } from './schedule';

describe('AdamW', () => {
  it('matches torch.optim.AdamW step by step on a known trajectory', () => {
    // torch: p = [1.0, -2.0], AdamW(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
    // grads [0.5, -1.0] then [0.25, 0.5]. First step moves each by lr·sign(g) after decay.
    const p = new Map([['w', Float32Array.from([1, -2])]]);
    const opt = new AdamW(p, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
    opt.update(new Map([['w', [0.5, -1]]]), 0.1);
    expect(p.get('w')![0]).toBeCloseTo(1 * (1 - 0.001) - 0.1, 6);
    expect(p.get('w')![1]).toBeCloseTo(-2 * (1 - 0.001) + 0.1, 6);
    // Second step by the formula, in float64.
    const m = [0.1 * 0.5 * 0.9 + 0.1 * 0.25, 0.1 * -1 * 0.9 + 0.1 * 0.5];
    const v = [0.001 * 0.25 * 0.999 + 0.001 * 0.0625, 0.001 * 1 * 0.999 + 0.001 * 0.25];
    const before = [p.get('w')![0], p.get('w')![1]];
    opt.update(new Map([['w', [0.25, 0.5]]]), 0.1);
    for (let i = 0; i < 2; i++) {
      const expected = before[i] * (1 - 0.001) - (0.1 * (m[i] / (1 - 0.9 ** 2))) / (Math.sqrt(v[i] / (1 - 0.999 ** 2)) + 1e-8);
      expect(p.get('w')![i]).toBeCloseTo(expected, 6);
    }
  });

  it('resumes exactly from its state', () => {
    const run = (split: boolean) => {
      const p = new Map([['w', Float32Array.from([0.3, -0.7, 1.1])]]);
      let opt = new AdamW(p);
      const grads = [[0.1, 0.2, -0.3], [-0.5, 0.05, 0.2], [0.3, -0.1, 0.0]];
      grads.forEach((g, i) => {
        if (split && i === 2) {
          const state = opt.state();
          opt = new AdamW(p);
          opt.load(state);
        }
        opt.update(new Map([['w', g]]), 0.01);
      });
      return Array.from(p.get('w')!);
    };
    expect(run(true)).toEqual(run(false));
  });
});

describe('clipGradNorm', () => {
  it('scales to the max norm and reports the norm before', () => {
    const g = new Map([['a', Float64Array.from([3, 0])], ['b', Float64Array.from([4])]]);
    expect(clipGradNorm(g, 1)).toBeCloseTo(5);
    expect(Math.hypot(...g.get('a')!, ...g.get('b')!)).toBeCloseTo(1, 5);
    const small = new Map([['a', Float64Array.from([0.3])]]);
    clipGradNorm(small, 1);
    expect(small.get('a')![0]).toBe(0.3);
  });
});

describe('learningRate', () => {
  const s = { lr: 1, warmupSteps: 4, totalSteps: 14, minRatio: 0.1 };
  it('warms up linearly, then decays by a cosine to the floor', () => {
    expect([0, 1, 2, 3].map((i) => learningRate(i, s))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(learningRate(4, s)).toBeCloseTo(1);
    expect(learningRate(9, s)).toBeCloseTo(0.1 + 0.9 * 0.5);
    expect(learningRate(14, s)).toBeCloseTo(0.1);
    expect(learningRate(100, s)).toBeCloseTo(0.1);
  });
});
