import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectCloseToScale, randomFloats } from '../../testing/numeric';
import { randomModel, tinyConfig } from '../../../shared/model/random';
import type { Model, ModelConfig } from '../../../shared/model/types';
import { BackendInputError, groupShape } from '../groups';
import { ReferenceBackend } from '../reference/index';
import { WEIGHT_GROUPS, type WeightGroup } from '../types';
import { CpuBackend, type CpuBackwardMode } from './index';

/**
 * Tolerance: every element of the CPU result is within 1e-5 · max|reference| of the reference
 * (relative to the result's scale: float32 sums in another order differ by a few ulps of the
 * largest terms, so a per-element relative bound would be meaningless near zero).
 */
const TOL = 1e-5;

const CONFIGS: [string, ModelConfig][] = [
  ['Llama, GQA 4/2, no bias', tinyConfig()],
  ['Qwen2, GQA 4/2, q/k/v bias, tied head', tinyConfig({ architecture: 'Qwen2ForCausalLM', attentionBias: true, tieWordEmbeddings: true })],
  ['GQA 4/1, headDim 6 ≠ dim/nHeads, bias', tinyConfig({ nKvHeads: 1, headDim: 6, attentionBias: true })],
];
const MODES: CpuBackwardMode[] = ['shared', 'prepacked'];

describe.each(CONFIGS)('CpuBackend on %s', (_, config) => {
  const model = randomModel(config, 7);
  const reference = new ReferenceBackend(model);
  const backends = new Map<CpuBackwardMode, CpuBackend>();
  beforeAll(async () => {
    for (const mode of MODES) backends.set(mode, await CpuBackend.create(model, { threads: 2, backward: mode }));
  });
  afterAll(async () => {
    for (const b of backends.values()) await b.dispose();
  });

  const layers = [...Array(config.nLayers).keys()];

  it.each(MODES)('linear and linearBackward match the reference for every group, rows 1, 3, 17 (%s backward)', async (mode) => {
    const cpu = backends.get(mode)!;
    let seed = 1;
    for (const layer of layers) {
      for (const group of WEIGHT_GROUPS) {
        const { inDim, outDim } = groupShape(config, group);
        for (const rows of [1, 3, 17]) {
          const x = randomFloats(rows * inDim, seed++);
          expectCloseToScale(await cpu.linear(layer, group, x, rows), await reference.linear(layer, group, x, rows), TOL, `linear L${layer} ${group} rows ${rows}`);
          const dy = randomFloats(rows * outDim, seed++);
          expectCloseToScale(await cpu.linearBackward(layer, group, dy, rows), await reference.linearBackward(layer, group, dy, rows), TOL, `backward L${layer} ${group} rows ${rows}`);
        }
      }
    }
  });

  it.each(MODES)('a batch of stacked rows gives the rows of separate calls (%s backward)', async (mode) => {
    const cpu = backends.get(mode)!;
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
        const together = await cpu[op](1, group, stacked, 17);
        let offset = 0;
        for (const [i, rows] of parts.entries()) {
          const alone = await cpu[op](1, group, inputs[i], rows);
          expectCloseToScale(together.subarray(offset, offset + rows * outWidth), alone, 1e-6, `${op} ${group} part ${i}`);
          offset += rows * outWidth;
        }
        // and row by row
        for (let r = 0; r < 17; r++) {
          const one = await cpu[op](1, group, stacked.slice(r * width, (r + 1) * width), 1);
          expectCloseToScale(together.subarray(r * outWidth, (r + 1) * outWidth), one, 1e-6, `${op} ${group} row ${r}`);
        }
      }
    }
  });
});

describe('CpuBackend', () => {
  const config = tinyConfig({ attentionBias: true });
  const model: Model = randomModel(config, 3);
  let cpu: CpuBackend;
  beforeAll(async () => {
    cpu = await CpuBackend.create(model, { threads: 1 });
  });
  afterAll(async () => {
    await cpu?.dispose();
  });

  it('describes itself', () => {
    expect(cpu.info.name).toBe('cpu');
    expect(cpu.info.device).toMatch(/^onnxruntime-node \d+\.\d+\.\d+ CPU, 1 thread, shared backward$/);
  });

  it('rejects bad input with a clear error before onnxruntime runs', async () => {
    // Every session is an instance of onnxruntime-common's InferenceSession class.
    const sessionClass = ort.InferenceSession as unknown as { prototype: ort.InferenceSession };
    const run = vi.spyOn(sessionClass.prototype, 'run');
    try {
      const bad: [string, () => Promise<Float32Array>, RegExp][] = [
        ['x too short', () => cpu.linear(0, 'qkv', new Float32Array(2 * 16 - 1), 2), /x has 31 elements, expected rows·in = 2·16 = 32/],
        ['x for the wrong group', () => cpu.linear(0, 'down', new Float32Array(16), 1), /x has 16 elements, expected rows·in = 1·40 = 40/],
        ['dy too long', () => cpu.linearBackward(1, 'gateup', new Float32Array(81), 1), /dy has 81 elements, expected rows·out = 1·80 = 80/],
        ['layer past the end', () => cpu.linear(2, 'o', new Float32Array(16), 1), /unknown layer 2 \(the model has layers 0\.\.1\)/],
        ['negative layer', () => cpu.linearBackward(-1, 'o', new Float32Array(16), 1), /unknown layer -1/],
        ['fractional layer', () => cpu.linear(0.5, 'o', new Float32Array(16), 1), /unknown layer 0\.5/],
        ['unknown group', () => cpu.linear(0, 'qk' as WeightGroup, new Float32Array(16), 1), /unknown weight group "qk" \(expected one of qkv, o, gateup, down, lmHead\)/],
        ['bad rows', () => cpu.linear(0, 'o', new Float32Array(16), 1.5), /rows must be a non-negative integer, got 1\.5/],
        ['not float32', () => cpu.linear(0, 'o', new Float64Array(16) as unknown as Float32Array, 1), /expected a Float32Array, got \[object Float64Array\]/],
      ];
      for (const [what, call, message] of bad) {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, what).toBeInstanceOf(BackendInputError);
        expect((error as Error).message, what).toMatch(message);
      }
      expect(run).not.toHaveBeenCalled();
      await cpu.linear(0, 'o', new Float32Array(16), 1); // the spy does see a valid call
      expect(run).toHaveBeenCalledTimes(1);
    } finally {
      run.mockRestore();
    }
  });

  it('ignores the layer for lmHead and returns nothing for 0 rows', async () => {
    const x = randomFloats(16, 5);
    expect(await cpu.linear(99, 'lmHead', x, 1)).toEqual(await cpu.linear(0, 'lmHead', x, 1));
    expect(await cpu.linear(0, 'qkv', new Float32Array(0), 0)).toEqual(new Float32Array(0));
  });

  it('runs concurrent calls one at a time, each with its own result', async () => {
    const xs = [1, 2, 3].map((rows) => randomFloats(rows * 16, rows));
    const together = await Promise.all(xs.map((x, i) => cpu.linear(i % 2, 'gateup', x, i + 1)));
    for (const [i, x] of xs.entries()) expect(together[i]).toEqual(await cpu.linear(i % 2, 'gateup', x, i + 1));
  });

  it('narrows a float64 model to float32', async () => {
    const model64 = randomModel(config, 3, { float64: true });
    const cpu64 = await CpuBackend.create(model64, { threads: 1 });
    try {
      const x = randomFloats(3 * 16, 9);
      expect(await cpu64.linear(1, 'qkv', x, 3)).toEqual(await cpu.linear(1, 'qkv', x, 3));
      const dy = randomFloats(3 * 80, 9);
      expect(await cpu64.linearBackward(0, 'gateup', dy, 3)).toEqual(await cpu.linearBackward(0, 'gateup', dy, 3));
    } finally {
      await cpu64.dispose();
    }
  });

  it('refuses a model whose weights do not fit its config, and bad options', async () => {
    const broken = randomModel(config, 3);
    broken.weights.layers[1].wk = new Float32Array(10);
    await expect(CpuBackend.create(broken)).rejects.toThrow(/layer 1 qkv: wk has 10 elements, not a multiple of in = 16/);
    const noBias = randomModel(config, 3);
    delete noBias.weights.layers[0].bv;
    await expect(CpuBackend.create(noBias)).rejects.toThrow(/layer 0 qkv: attentionBias is set but the bias of wv has no elements, expected 8/);
    await expect(CpuBackend.create(model, { threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
    await expect(CpuBackend.create(model, { backward: 'both' as CpuBackwardMode })).rejects.toThrow(/unknown backward mode "both"/);
  });

  it('refuses calls after dispose', async () => {
    const b = await CpuBackend.create(model, { threads: 1 });
    await b.dispose();
    await expect(b.linear(0, 'o', new Float32Array(16), 1)).rejects.toThrow(/used after dispose/);
    await b.dispose(); // idempotent
  });
});
