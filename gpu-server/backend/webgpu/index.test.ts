/**
 * The WebGPU backend against the reference backend, on whatever adapter Dawn finds — lavapipe
 * on the development and CI machines. Without an adapter every test here fails with the
 * install hint: CI installs the driver, so a missing one is a broken environment, not a skip.
 * Shapes stay small: lavapipe runs a tiled matmul at ~0.3 GFLOP/s.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectCloseToScale, randomFloats } from '../../testing/numeric';
import { randomModel, tinyConfig } from '../../../shared/model/random';
import type { Model, ModelConfig } from '../../../shared/model/types';
import { BackendInputError, groupShape } from '../groups';
import { attention, attentionBackward } from '../../../shared/reference/ops';
import { ReferenceBackend } from '../reference/index';
import { WEIGHT_GROUPS, type WeightGroup } from '../types';
import { fromHalfBits, toHalfBits } from './half';
import { WebGpuBackend, type WeightPrecision } from './index';

/**
 * Tolerance: every element is within 1e-5 · max|reference| of the reference (float64
 * accumulation); f32 sums in another order differ by a few ulps of the largest terms, so the
 * bound is relative to the result's scale, as for the CPU backend. With f16 weights the
 * reference runs on the same weights rounded to f16, so the same bound holds.
 */
const TOL = 1e-5;

/** The model with every matrix rounded to f16 (biases, like activations, stay f32). */
function roundedToHalf(model: Model): Model {
  const round = <T extends Float32Array | Float64Array>(a: T): T => a.map((v) => fromHalfBits(toHalfBits(v))) as T;
  const layers = model.weights.layers.map((l) => ({ ...l, wq: round(l.wq), wk: round(l.wk), wv: round(l.wv), wo: round(l.wo), wGate: round(l.wGate), wUp: round(l.wUp), wDown: round(l.wDown) }));
  return { config: model.config, weights: { ...model.weights, layers, lmHead: round(model.weights.lmHead) } };
}

/** stories260K's shapes (dim 64, hidden 172 — not a multiple of the 16-wide tiles —, GQA 8/4, vocab 512), 2 of its 5 layers. */
const STORIES_SHAPE = tinyConfig({ dim: 64, hiddenDim: 172, nLayers: 2, nHeads: 8, nKvHeads: 4, vocabSize: 512, tieWordEmbeddings: true });

const CONFIGS: [string, WeightPrecision, ModelConfig][] = [
  ['tiny Llama, GQA 4/2, no bias', 'f32', tinyConfig()],
  ['tiny Qwen2, q/k/v bias, tied head', 'f32', tinyConfig({ architecture: 'Qwen2ForCausalLM', attentionBias: true, tieWordEmbeddings: true })],
  ['GQA 4/1, headDim 6 ≠ dim/nHeads, bias', 'f32', tinyConfig({ nKvHeads: 1, headDim: 6, attentionBias: true })],
  ['stories260K shapes', 'f32', STORIES_SHAPE],
  ['stories260K shapes, bias', 'f16', { ...STORIES_SHAPE, attentionBias: true }],
];

describe.each(CONFIGS)('WebGpuBackend on %s, %s weights', (_, precision, config) => {
  const model = randomModel(config, 7);
  const reference = new ReferenceBackend(precision === 'f16' ? roundedToHalf(model) : model);
  let gpu: WebGpuBackend;
  beforeAll(async () => {
    gpu = await WebGpuBackend.create(model, { weights: precision });
  });
  afterAll(async () => {
    await gpu?.dispose();
  });

  it('linear and linearBackward match the reference for every group, rows 1, 3, 17, 40', async () => {
    expect(gpu.precision).toBe(precision);
    let seed = 1;
    for (let layer = 0; layer < config.nLayers; layer++) {
      for (const group of WEIGHT_GROUPS) {
        const { inDim, outDim } = groupShape(config, group);
        for (const rows of [1, 3, 17, 40]) {
          const x = randomFloats(rows * inDim, seed++);
          expectCloseToScale(await gpu.linear(layer, group, x, rows), await reference.linear(layer, group, x, rows), TOL, `linear L${layer} ${group} rows ${rows}`);
          const dy = randomFloats(rows * outDim, seed++);
          expectCloseToScale(await gpu.linearBackward(layer, group, dy, rows), await reference.linearBackward(layer, group, dy, rows), TOL, `backward L${layer} ${group} rows ${rows}`);
        }
      }
    }
  });

  it('a batch of stacked rows gives the rows of separate calls (matvec and tiled kernels agree)', async () => {
    const parts = [1, 3, 13]; // three "sessions" stacked by the scheduler, 17 rows in all
    for (const group of WEIGHT_GROUPS) {
      const { inDim, outDim } = groupShape(config, group);
      for (const [op, width, outWidth] of [
        ['linear', inDim, outDim],
        ['linearBackward', outDim, inDim],
      ] as const) {
        const inputs = parts.map((rows, i) => randomFloats(rows * width, 100 + i));
        const stacked = new Float32Array(17 * width);
        inputs.reduce((offset, a) => (stacked.set(a, offset), offset + a.length), 0);
        const together = await gpu[op](1, group, stacked, 17);
        let offset = 0;
        for (const [i, rows] of parts.entries()) {
          const alone = await gpu[op](1, group, inputs[i], rows);
          expectCloseToScale(together.subarray(offset, offset + rows * outWidth), alone, 1e-6, `${op} ${group} part ${i}`);
          offset += rows * outWidth;
        }
      }
    }
  });
});

describe('WebGpuBackend', () => {
  const config = tinyConfig({ attentionBias: true });
  const model: Model = randomModel(config, 3);
  let gpu: WebGpuBackend;
  beforeAll(async () => {
    gpu = await WebGpuBackend.create(model, { weights: 'f32' });
  });
  afterAll(async () => {
    await gpu?.dispose();
  });

  it('attention over a session\'s K/V cache as the engine writes it equals the reference: decode rows appended one by one, a training step restarting at 0, its backward', async () => {
    const { nHeads, nKvHeads, headDim } = config;
    const kvDim = nKvHeads * headDim;
    const capacity = 9;
    const k = new Float32Array(capacity * kvDim); // one layer's cache, written as the engine writes it
    const v = new Float32Array(capacity * kvDim);
    const check = async (rows: number, pos0: number, seed: number) => {
      k.set(randomFloats(rows * kvDim, seed), pos0 * kvDim);
      v.set(randomFloats(rows * kvDim, seed + 1), pos0 * kvDim);
      const q = randomFloats(rows * nHeads * headDim, seed + 2);
      const shape = { rows, pos0, nHeads, nKvHeads, headDim };
      expectCloseToScale(await gpu.attention(q, k, v, shape), attention(q, k, v, shape), TOL, `${rows} rows at ${pos0}`);
      return { q, shape };
    };
    await check(3, 0, 1); // a prefill
    for (let pos = 3; pos < 6; pos++) await check(1, pos, 10 * pos); // decode rows
    const { q, shape } = await check(4, 0, 99); // a new whole sequence over the same cache
    const dOut = randomFloats(q.length, 7);
    const got = await gpu.attentionBackward(dOut, q, k, v, shape);
    const want = attentionBackward(dOut, q, k, v, shape);
    for (const name of ['dq', 'dk', 'dv'] as const) expectCloseToScale(got[name], want[name], TOL, name);
  });

  it('attention and its backward over several sessions\' own caches (prefill and decode rows) each equal the reference', async () => {
    const { nHeads, nKvHeads, headDim } = config;
    const kvDim = nKvHeads * headDim;
    const sessions = [
      { rows: 5, pos0: 0 },
      { rows: 1, pos0: 6 },
      { rows: 1, pos0: 0 },
      { rows: 3, pos0: 2 },
    ].map(({ rows, pos0 }, i) => {
      const keys = pos0 + rows;
      const k = randomFloats((keys + 2) * kvDim, 100 + i); // caches longer than used, as a session's are
      const v = randomFloats((keys + 2) * kvDim, 200 + i);
      return { q: randomFloats(rows * nHeads * headDim, 300 + i), k, v, shape: { rows, pos0, nHeads, nKvHeads, headDim } };
    });
    const outs = await Promise.all(sessions.map((c) => gpu.attention(c.q, c.k, c.v, c.shape)));
    sessions.forEach((c, i) => expectCloseToScale(outs[i], attention(c.q, c.k, c.v, c.shape), TOL, `call ${i}`));
    // A bad call is refused before the device runs anything.
    await expect(gpu.attention(new Float32Array(3), sessions[1].k, sessions[1].v, sessions[1].shape)).rejects.toThrow(/attention q/);

    // Their backward likewise: each dq, dk, dv equal to the reference's.
    const backward = sessions.map((c, i) => ({ ...c, shape: { ...c.shape, pos0: 0, rows: c.shape.pos0 + c.shape.rows }, q: randomFloats((c.shape.pos0 + c.shape.rows) * nHeads * headDim, 400 + i) }));
    const withGrads = backward.map((c, i) => ({ ...c, dOut: randomFloats(c.q.length, 500 + i) }));
    const grads = await Promise.all(withGrads.map((c) => gpu.attentionBackward(c.dOut, c.q, c.k, c.v, c.shape)));
    withGrads.forEach((c, i) => {
      const want = attentionBackward(c.dOut, c.q, c.k, c.v, c.shape);
      for (const name of ['dq', 'dk', 'dv'] as const) expectCloseToScale(grads[i][name], want[name], TOL, `call ${i} ${name}`);
    });
    const bad = withGrads[1];
    await expect(gpu.attentionBackward(new Float32Array(2), bad.q, bad.k, bad.v, bad.shape)).rejects.toThrow(/dOut/);
  });

  it('describes itself with its adapter', () => {
    expect(gpu.info.name).toBe('webgpu');
    expect(gpu.info.device).toMatch(/\S.*, f32 weights$/);
  });

  it('rejects bad input with a clear error before the device runs anything', async () => {
    const submit = vi.spyOn(GPUQueue.prototype, 'submit');
    try {
      const bad: [string, () => Promise<Float32Array>, RegExp][] = [
        ['x too short', () => gpu.linear(0, 'qkv', new Float32Array(2 * 16 - 1), 2), /x has 31 elements, expected rows·in = 2·16 = 32/],
        ['x for the wrong group', () => gpu.linear(0, 'down', new Float32Array(16), 1), /x has 16 elements, expected rows·in = 1·40 = 40/],
        ['dy too long', () => gpu.linearBackward(1, 'gateup', new Float32Array(81), 1), /dy has 81 elements, expected rows·out = 1·80 = 80/],
        ['layer past the end', () => gpu.linear(2, 'o', new Float32Array(16), 1), /unknown layer 2 \(the model has layers 0\.\.1\)/],
        ['negative layer', () => gpu.linearBackward(-1, 'o', new Float32Array(16), 1), /unknown layer -1/],
        ['fractional layer', () => gpu.linear(0.5, 'o', new Float32Array(16), 1), /unknown layer 0\.5/],
        ['unknown group', () => gpu.linear(0, 'qk' as WeightGroup, new Float32Array(16), 1), /unknown weight group "qk" \(expected one of qkv, o, gateup, down, lmHead\)/],
        ['bad rows', () => gpu.linear(0, 'o', new Float32Array(16), 1.5), /rows must be a non-negative integer, got 1\.5/],
        ['not float32', () => gpu.linear(0, 'o', new Float64Array(16) as unknown as Float32Array, 1), /expected a Float32Array, got \[object Float64Array\]/],
      ];
      for (const [what, call, message] of bad) {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, what).toBeInstanceOf(BackendInputError);
        expect((error as Error).message, what).toMatch(message);
      }
      expect(submit).not.toHaveBeenCalled();
      await gpu.linear(0, 'o', new Float32Array(16), 1); // the spy does see a valid call
      expect(submit).toHaveBeenCalledTimes(1);
    } finally {
      submit.mockRestore();
    }
  });

  it('ignores the layer for lmHead and returns nothing for 0 rows', async () => {
    const x = randomFloats(16, 5);
    expect(await gpu.linear(99, 'lmHead', x, 1)).toEqual(await gpu.linear(0, 'lmHead', x, 1));
    expect(await gpu.linear(0, 'qkv', new Float32Array(0), 0)).toEqual(new Float32Array(0));
  });

  it('runs concurrent calls one at a time, each with its own result, through grown buffers', async () => {
    const rowCounts = [1, 70, 2, 300, 3]; // the input, output and staging buffers grow on the way
    const xs = rowCounts.map((rows) => randomFloats(rows * 16, rows));
    const together = await Promise.all(xs.map((x, i) => gpu.linear(i % 2, 'gateup', x, rowCounts[i])));
    for (const [i, x] of xs.entries()) expect(together[i]).toEqual(await gpu.linear(i % 2, 'gateup', x, rowCounts[i]));
  });

  it('narrows a float64 model to float32', async () => {
    const gpu64 = await WebGpuBackend.create(randomModel(config, 3, { float64: true }), { weights: 'f32' });
    try {
      const x = randomFloats(3 * 16, 9);
      expect(await gpu64.linear(1, 'qkv', x, 3)).toEqual(await gpu.linear(1, 'qkv', x, 3));
      const dy = randomFloats(3 * 80, 9);
      expect(await gpu64.linearBackward(0, 'gateup', dy, 3)).toEqual(await gpu.linearBackward(0, 'gateup', dy, 3));
    } finally {
      await gpu64.dispose();
    }
  });

  it('refuses a model whose weights do not fit its config', async () => {
    const broken = randomModel(config, 3);
    broken.weights.layers[1].wk = new Float32Array(10);
    await expect(WebGpuBackend.create(broken)).rejects.toThrow(/layer 1 qkv: wk has 10 elements, not a multiple of in = 16/);
  });

  it('names what to install when Dawn finds no adapter', async () => {
    await expect(WebGpuBackend.create(model, { requestAdapter: async () => null })).rejects.toThrow(
      'no WebGPU adapter: install a Vulkan driver, e.g. Debian bookworm-backports mesa-vulkan-drivers (lavapipe), or run on a GPU',
    );
  });

  it('refuses calls after dispose', async () => {
    const b = await WebGpuBackend.create(model, { weights: 'f32' });
    await b.dispose();
    await expect(b.linear(0, 'o', new Float32Array(16), 1)).rejects.toThrow(/used after dispose/);
    await b.dispose(); // idempotent
  });
});
