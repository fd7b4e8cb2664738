/**
 * Weight groups larger than one storage binding: the backend splits them into chunks of whole
 * output rows (weights.ts). The test runs the real device (lavapipe here and in CI) behind an
 * adapter and device that report a 40 KiB binding limit, so stories260K-shaped groups split:
 * lmHead (512×64 f32, 128 KiB) into 4 chunks, gateup into 3, down into 2; qkv and o fit. Every
 * group's forward and backward, and the training head (both in one submit), must equal the
 * reference within the backend's usual bound (1e-5 of scale, f32 and f16 weights).
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { randomModel, tinyConfig } from '../../../shared/model/random';
import type { Model } from '../../../shared/model/types';
import { expectCloseToScale, randomFloats } from '../../testing/numeric';
import { groupShape } from '../groups';
import { composedTrainingHead } from '../head';
import { backendTrainingHead } from '../../testing/head';
import { ReferenceBackend } from '../reference/index';
import { WEIGHT_GROUPS } from '../types';
import { findAdapter } from './adapter';
import { fromHalfBits, toHalfBits } from './half';
import { WebGpuBackend, type WeightPrecision } from './index';

const BINDING = 40 * 1024;
const config = tinyConfig({ dim: 64, hiddenDim: 172, nLayers: 2, nHeads: 8, nKvHeads: 4, vocabSize: 512, tieWordEmbeddings: false, attentionBias: true });

/** `target` with `limits.maxStorageBufferBindingSize` reported as BINDING; methods run on the real object. */
function reporting<T extends object>(target: T, extra: Record<string, unknown> = {}): T {
  return new Proxy(target, {
    get(t, key) {
      if (key in extra) return extra[key as string];
      if (key === 'limits') return new Proxy((t as { limits: object }).limits, { get: (l, k) => (k === 'maxStorageBufferBindingSize' ? BINDING : Reflect.get(l, k, l)) });
      const v = Reflect.get(t, key, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

async function smallBindingAdapter(): Promise<GPUAdapter | null> {
  const real = await findAdapter();
  if (!real) return null;
  return reporting(real, { requestDevice: async (d?: GPUDeviceDescriptor) => reporting(await real.requestDevice(d)) });
}

function roundedToHalf(model: Model): Model {
  const round = <T extends Float32Array | Float64Array>(a: T): T => a.map((v) => fromHalfBits(toHalfBits(v))) as T;
  const layers = model.weights.layers.map((l) => ({ ...l, wq: round(l.wq), wk: round(l.wk), wv: round(l.wv), wo: round(l.wo), wGate: round(l.wGate), wUp: round(l.wUp), wDown: round(l.wDown) }));
  return { config: model.config, weights: { ...model.weights, layers, lmHead: round(model.weights.lmHead) } };
}

describe.each(['f32', 'f16'] as WeightPrecision[])('weight groups split across bindings (%s weights)', (precision) => {
  const model = randomModel(config, 9);
  const reference = new ReferenceBackend(precision === 'f16' ? roundedToHalf(model) : model);
  let gpu: WebGpuBackend | undefined;
  let skip = false;
  beforeAll(async () => {
    const adapter = await findAdapter();
    skip = precision === 'f16' && !adapter?.features.has('shader-f16');
    if (!skip) gpu = await WebGpuBackend.create(model, { weights: precision, requestAdapter: smallBindingAdapter });
  });
  afterAll(() => gpu?.dispose());

  it('linear and linearBackward of every group equal the reference at 1, 3 and 17 rows', async (ctx) => {
    if (skip) ctx.skip();
    const dispatch = vi.spyOn(GPUComputePassEncoder.prototype, 'dispatchWorkgroups');
    onTestFinished(() => dispatch.mockRestore());
    let seed = 1;
    for (let layer = 0; layer < config.nLayers; layer++) {
      for (const group of WEIGHT_GROUPS) {
        const { inDim, outDim } = groupShape(config, group);
        for (const rows of [1, 3, 17]) {
          const x = randomFloats(rows * inDim, seed++);
          expectCloseToScale(await gpu!.linear(layer, group, x, rows), await reference.linear(layer, group, x, rows), 1e-5, `linear L${layer} ${group} rows ${rows}`);
          const dy = randomFloats(rows * outDim, seed++);
          expectCloseToScale(await gpu!.linearBackward(layer, group, dy, rows), await reference.linearBackward(layer, group, dy, rows), 1e-5, `backward L${layer} ${group} rows ${rows}`);
        }
      }
    }
    // The groups really were split: one dispatch per chunk.
    dispatch.mockClear();
    await gpu!.linear(0, 'lmHead', randomFloats(3 * config.dim, 5), 3);
    expect(dispatch).toHaveBeenCalledTimes(precision === 'f32' ? 4 : 2);
  });

  it('the training head over a split lmHead equals the reference composition', async (ctx) => {
    if (skip) ctx.skip();
    const rows = 9;
    const xf = randomFloats(rows * config.dim, 77);
    const targets = Int32Array.from({ length: rows }, (_, r) => (r * 131 + 7) % config.vocabSize);
    const mask = Float32Array.from({ length: rows }, (_, r) => (r === 2 ? 0 : 1));
    const [got, want] = await Promise.all([backendTrainingHead(gpu!, config, xf, targets, mask, rows, true), composedTrainingHead(reference, config, xf, targets, mask, rows, true)]);
    expect(Math.abs(got.loss - want.loss) / want.loss).toBeLessThan(1e-5);
    expectCloseToScale(got.logits!, want.logits!, 1e-5, 'logits');
    expectCloseToScale(got.dxf, want.dxf, 1e-5, 'dxf');
  });
});
