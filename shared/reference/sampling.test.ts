import { describe, expect, it } from 'vitest';
import { Rng } from '../util';
import { Sampler, argmax, samplingDistribution } from './sampling';

const rng = new Rng(99);
const randomLogits = (n: number) => Float32Array.from({ length: n }, () => 3 * rng.normal());
const expectClose = (got: ArrayLike<number>, want: number[]) => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 12);
};

describe('samplingDistribution', () => {
  it('temperature 0 is the one-hot of the argmax (first on ties)', () => {
    const p = samplingDistribution(Float32Array.from([1, 5, 5, 2]), { temperature: 0 });
    expect(Array.from(p)).toEqual([0, 1, 0, 0]);
  });

  it('is softmax(logits / T); top-k keeps k; top-p keeps the smallest set reaching p; renormalised', () => {
    const logits = Float64Array.from([Math.log(0.1), Math.log(0.5), Math.log(0.15), Math.log(0.25)]);
    const p = samplingDistribution(logits, {});
    expectClose(p, [0.1, 0.5, 0.15, 0.25]);
    const t2 = samplingDistribution(logits, { temperature: 2 });
    const z = [0.1, 0.5, 0.15, 0.25].reduce((s, v) => s + Math.sqrt(v), 0);
    expect(t2[1]).toBeCloseTo(Math.sqrt(0.5) / z, 12);
    const k2 = samplingDistribution(logits, { topK: 2 });
    expectClose(k2, [0, 0.5 / 0.75, 0, 0.25 / 0.75]);
    const p7 = samplingDistribution(logits, { topP: 0.7 }); // 0.5 < 0.7 ≤ 0.5 + 0.25
    expectClose(p7, [0, 0.5 / 0.75, 0, 0.25 / 0.75]);
    const p76 = samplingDistribution(logits, { topP: 0.76 }); // needs the third token
    expect(p76.filter((v) => v > 0).length).toBe(3);
    // top-p applies within the top-k mass, as Hugging Face's warpers do
    const kp = samplingDistribution(logits, { topK: 2, topP: 0.6 }); // 0.5/0.75 ≥ 0.6
    expect(Array.from(kp)).toEqual([0, 1, 0, 0]);
  });

  it('rejects bad parameters', () => {
    const l = Float32Array.from([0, 1]);
    expect(() => samplingDistribution(l, { temperature: -1 })).toThrow(/temperature/);
    expect(() => samplingDistribution(l, { topK: 1.5 })).toThrow(/topK/);
    expect(() => samplingDistribution(l, { topP: 0 })).toThrow(/topP/);
    expect(() => new Sampler({ topP: 1.5 })).toThrow(/topP/);
  });
});

describe('Sampler', () => {
  it('greedy = argmax and draws no random numbers', () => {
    const s = new Sampler({ temperature: 0, seed: 1 });
    const before = s.rng.state();
    for (let i = 0; i < 20; i++) {
      const l = randomLogits(50);
      expect(s.sample(l)).toBe(argmax(l));
    }
    expect(s.rng.state()).toEqual(before);
  });

  it('top-k = 1 and a tiny top-p are greedy at any temperature', () => {
    const k1 = new Sampler({ temperature: 1.5, topK: 1, seed: 2 });
    const pTiny = new Sampler({ temperature: 1.5, topP: 1e-9, seed: 3 });
    for (let i = 0; i < 50; i++) {
      const l = randomLogits(100);
      expect(k1.sample(l)).toBe(argmax(l));
      expect(pTiny.sample(l)).toBe(argmax(l));
    }
  });

  it('the same seed gives the same tokens; another seed others', () => {
    const logits = Array.from({ length: 30 }, () => randomLogits(40));
    const run = (seed: number) => {
      const s = new Sampler({ temperature: 1, topK: 20, topP: 0.9, seed });
      return logits.map((l) => s.sample(l));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it('an Rng restored from state continues the draws', () => {
    const a = new Sampler({ seed: 5 });
    const l = randomLogits(10);
    a.sample(l);
    const b = new Sampler({}, Rng.fromState(a.rng.state()));
    for (let i = 0; i < 20; i++) expect(b.sample(l)).toBe(a.sample(l));
  });

  it('draw frequencies follow the distribution (2 tokens, 20000 draws, within 5σ)', () => {
    const n = 20000;
    const freq = (temperature: number, seed: number) => {
      const s = new Sampler({ temperature, seed });
      const logits = Float32Array.from([Math.log(0.3), Math.log(0.7)]);
      let zeros = 0;
      for (let i = 0; i < n; i++) if (s.sample(logits) === 0) zeros++;
      return zeros / n;
    };
    const within = (f: number, p: number) => expect(Math.abs(f - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
    within(freq(1, 1), 0.3);
    within(freq(2, 2), Math.sqrt(0.3) / (Math.sqrt(0.3) + Math.sqrt(0.7))); // p ∝ p^(1/T)
    within(freq(0.5, 3), 0.09 / (0.09 + 0.49));
  });
});
