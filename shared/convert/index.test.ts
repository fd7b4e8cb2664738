import { describe, expect, it } from 'vitest';
import { parseLlama2cCheckpoint, permuteForHfRope } from './index';

/** A llama2.c checkpoint of the given header with small deterministic weights. */
function checkpoint(h: { dim: number; hidden: number; layers: number; heads: number; kvHeads: number; vocab: number; seq: number }, extraFloats = 0): Uint8Array {
  const hd = h.dim / h.heads;
  const kv = h.kvHeads * hd;
  const floats = h.vocab * h.dim + h.layers * (2 * h.dim + 2 * h.dim * h.dim + 2 * kv * h.dim + 3 * h.hidden * h.dim) + h.dim + h.seq * hd + extraFloats;
  const bytes = new Uint8Array(28 + floats * 4);
  const view = new DataView(bytes.buffer);
  [h.dim, h.hidden, h.layers, h.heads, h.kvHeads, h.vocab, h.seq].forEach((v, i) => view.setInt32(i * 4, v, true));
  for (let i = 0; i < floats; i++) view.setFloat32(28 + i * 4, Math.sin(i), true);
  return bytes;
}

const header = { dim: 8, hidden: 12, layers: 2, heads: 2, kvHeads: 1, vocab: 10, seq: 16 };

describe('llama2.c checkpoints', () => {
  it('reads the header into a config and the weights in order', () => {
    const { config, weights } = parseLlama2cCheckpoint(checkpoint(header));
    expect(config).toMatchObject({ dim: 8, hiddenDim: 12, nLayers: 2, nHeads: 2, nKvHeads: 1, headDim: 4, vocabSize: 10, maxSeqLen: 16, tieWordEmbeddings: true, rmsNormEps: 1e-5 });
    expect(weights.embed[1]).toBeCloseTo(Math.sin(1), 6);
    expect(weights.lmHead).toBe(weights.embed);
    // rms_att of layer 0 follows the embedding table
    expect(weights.layers[0].attnNorm[0]).toBeCloseTo(Math.sin(10 * 8), 6);
  });

  it('rejects a truncated file, an implausible header and a size that does not match', () => {
    expect(() => parseLlama2cCheckpoint(new Uint8Array(10))).toThrow('shorter than its 28-byte header');
    expect(() => parseLlama2cCheckpoint(checkpoint({ ...header, heads: 3 }))).toThrow('inconsistent');
    expect(() => parseLlama2cCheckpoint(checkpoint(header).subarray(0, 200))).toThrow(/holds \d+ floats after its header; its header implies \d+/);
    expect(() => parseLlama2cCheckpoint(checkpoint(header, 3))).toThrow(/its header implies/);
    const bad = checkpoint(header);
    new DataView(bad.buffer).setInt32(0, -4, true);
    expect(() => parseLlama2cCheckpoint(bad)).toThrow('header field dim = -4');
  });

  it('permutes q/k rows so that rotate-half RoPE scores equal interleaved RoPE scores', () => {
    // One head: q·k after RoPE must not depend on the convention once rows are permuted.
    const hd = 8, cols = 3;
    const wq = Float32Array.from({ length: hd * cols }, (_, i) => Math.cos(i * 1.3));
    const wk = Float32Array.from({ length: hd * cols }, (_, i) => Math.sin(i * 0.7));
    const x = [0.3, -1.2, 0.8];
    const project = (w: Float32Array) => Array.from({ length: hd }, (_, r) => x.reduce((s, xi, c) => s + xi * w[r * cols + c], 0));
    const angle = (i: number, pos: number) => pos / Math.pow(10000, (2 * i) / hd);
    const interleaved = (v: number[], pos: number) => v.map((_, j) => {
      const i = j >> 1, [a, b] = [v[2 * i], v[2 * i + 1]], t = angle(i, pos);
      return j % 2 === 0 ? a * Math.cos(t) - b * Math.sin(t) : a * Math.sin(t) + b * Math.cos(t);
    });
    const rotateHalf = (v: number[], pos: number) => v.map((_, j) => {
      const i = j % (hd / 2), [a, b] = [v[i], v[i + hd / 2]], t = angle(i, pos);
      return j < hd / 2 ? a * Math.cos(t) - b * Math.sin(t) : a * Math.sin(t) + b * Math.cos(t);
    });
    const dot = (a: number[], b: number[]) => a.reduce((s, ai, i) => s + ai * b[i], 0);
    const llama2c = dot(interleaved(project(wq), 5), interleaved(project(wk), 2));
    const hf = dot(rotateHalf(project(permuteForHfRope(wq, 1, hd, cols)), 5), rotateHalf(project(permuteForHfRope(wk, 1, hd, cols)), 2));
    expect(hf).toBeCloseTo(llama2c, 5);
  });
});
