import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from './random';

describe('tinyConfig', () => {
  it('is a small GQA Llama with overridable fields', () => {
    const c = tinyConfig();
    expect(c).toMatchObject({ dim: 16, hiddenDim: 40, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 4, vocabSize: 37, maxSeqLen: 64 });
    expect(tinyConfig({ dim: 32 }).headDim).toBe(8);
    expect(tinyConfig({ nHeads: 2, nKvHeads: 2 }).headDim).toBe(8);
    expect(tinyConfig({ headDim: 6 }).headDim).toBe(6);
  });
});

describe('randomModel', () => {
  it('is deterministic in the seed and has the config shapes', () => {
    const c = tinyConfig();
    const a = randomModel(c, 1);
    const b = randomModel(c, 1);
    expect(a.weights.embed).toEqual(b.weights.embed);
    expect(a.weights.layers[1].wDown).toEqual(b.weights.layers[1].wDown);
    expect(randomModel(c, 2).weights.embed).not.toEqual(a.weights.embed);
    const w = a.weights;
    expect(w.embed.length).toBe(37 * 16);
    expect(w.lmHead.length).toBe(37 * 16);
    expect(w.lmHead).not.toBe(w.embed);
    expect(w.layers).toHaveLength(2);
    const l = w.layers[0];
    expect([l.wq.length, l.wk.length, l.wv.length, l.wo.length]).toEqual([16 * 16, 8 * 16, 8 * 16, 16 * 16]);
    expect([l.wGate.length, l.wUp.length, l.wDown.length]).toEqual([40 * 16, 40 * 16, 16 * 40]);
    expect(l.bq).toBeUndefined();
    expect(w.embed).toBeInstanceOf(Float32Array);
  });

  it('has N(0, 0.02²) matrices and norms near 1 (not exactly 1)', () => {
    const m = randomModel(tinyConfig({ dim: 64, vocabSize: 500 }), 3);
    const e = Array.from(m.weights.embed);
    const mean = e.reduce((s, v) => s + v, 0) / e.length;
    const sd = Math.sqrt(e.reduce((s, v) => s + v * v, 0) / e.length);
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(Math.abs(sd - 0.02)).toBeLessThan(0.002);
    const norm = m.weights.layers[0].attnNorm;
    expect(norm.every((v) => Math.abs(v - 1) < 0.5)).toBe(true);
    expect(norm.some((v) => v !== 1)).toBe(true);
  });

  it('float64 holds the same numbers as float32; options std, biases, tied embeddings', () => {
    const c = tinyConfig({ attentionBias: true, tieWordEmbeddings: true });
    const f32 = randomModel(c, 5);
    const f64 = randomModel(c, 5, { float64: true });
    expect(f64.weights.embed).toBeInstanceOf(Float64Array);
    expect(Array.from(f64.weights.layers[1].wq)).toEqual(Array.from(f32.weights.layers[1].wq));
    expect(f32.weights.layers[0].bq?.length).toBe(16);
    expect(f32.weights.layers[0].bk?.length).toBe(8);
    expect(f32.weights.layers[0].bv?.length).toBe(8);
    expect(f32.weights.lmHead).toBe(f32.weights.embed);
    const big = randomModel(c, 5, { std: 0.5 });
    expect(big.weights.layers[0].wq[0] / f32.weights.layers[0].wq[0]).toBeCloseTo(25, 3);
  });

  it('rejects nHeads not a multiple of nKvHeads', () => {
    expect(() => randomModel(tinyConfig({ nKvHeads: 3 }), 1)).toThrow(/multiple/);
  });
});
