/**
 * Causal GQA attention and its backward on the device against shared/reference/ops, and a
 * layer's attention path (rmsnorm → rope → attention → residual add) chained in one submit.
 *
 * Tolerance: max |Δ| ≤ 1e-5 · max(1, max|reference|) (testing.ts's expectClose) for out, dq, dk
 * and dv (measured on lavapipe: ≤ 3e-7; dk and dv, summed over every query row and head of the
 * group in f32, are no worse than the rest at these sizes).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as ref from '../../../../shared/reference/ops';
import { runOnDevice } from './run';
import { expectClose, testGpu, type TestGpu } from './testing';
import { randomFloats } from '../../../testing/numeric';

const TOL = 1e-5;

// rows 1 and several; pos0 0 and > 0, past one 64-key chunk; GQA 4/2, 4/1 and none; headDim 6,
// 8, 16, 64 and the kernels' largest, 256
const SHAPES: ref.AttentionShape[] = [
  { rows: 1, pos0: 0, nHeads: 1, nKvHeads: 1, headDim: 8 },
  { rows: 1, pos0: 37, nHeads: 4, nKvHeads: 2, headDim: 16 },
  { rows: 5, pos0: 0, nHeads: 4, nKvHeads: 1, headDim: 8 },
  { rows: 6, pos0: 70, nHeads: 4, nKvHeads: 2, headDim: 16 },
  { rows: 3, pos0: 2, nHeads: 4, nKvHeads: 1, headDim: 6 },
  { rows: 3, pos0: 130, nHeads: 2, nKvHeads: 2, headDim: 64 },
  { rows: 2, pos0: 3, nHeads: 2, nKvHeads: 1, headDim: 256 },
];

const label = (s: ref.AttentionShape) => `rows ${s.rows}, pos0 ${s.pos0}, heads ${s.nHeads}/${s.nKvHeads}, headDim ${s.headDim}`;

/** q, dOut and a K/V cache with 3 positions more than the shape reads (they must be ignored); scale 2 makes the softmax peaky. */
function inputs(s: ref.AttentionShape, seed: number) {
  const kvLength = (s.pos0 + s.rows + 3) * s.nKvHeads * s.headDim;
  const qLength = s.rows * s.nHeads * s.headDim;
  return { q: randomFloats(qLength, seed, 2), k: randomFloats(kvLength, seed + 1, 2), v: randomFloats(kvLength, seed + 2), dOut: randomFloats(qLength, seed + 3) };
}

describe('webgpu attention', () => {
  let gpu: TestGpu;
  beforeAll(async () => {
    gpu = await testGpu();
  });
  afterAll(() => gpu?.device.destroy());

  it.each(SHAPES.map((s) => [label(s), s] as const))('forward and backward, %s', async (_, shape) => {
    const { q, k, v, dOut } = inputs(shape, shape.pos0 + 10 * shape.headDim);
    expectClose(await gpu.arrays.attention(q, k, v, shape), ref.attention(q, k, v, shape), TOL, 'out');
    const actual = await gpu.arrays.attentionBackward(dOut, q, k, v, shape);
    const expected = ref.attentionBackward(dOut, q, k, v, shape);
    expectClose(actual.dq, expected.dq, TOL, 'dq');
    expectClose(actual.dk, expected.dk, TOL, 'dk');
    expectClose(actual.dv, expected.dv, TOL, 'dv');
  });

  it('chains rmsnorm → rope (q and the K cache) → attention → residual add in one submit', async () => {
    const s: ref.AttentionShape = { rows: 4, pos0: 9, nHeads: 4, nKvHeads: 2, headDim: 16 };
    const [dim, theta, eps] = [s.nHeads * s.headDim, 10000, 1e-5];
    const keys = s.pos0 + s.rows;
    const x = randomFloats(s.rows * dim, 1);
    const weight = randomFloats(dim, 2);
    const kRaw = randomFloats(keys * s.nKvHeads * s.headDim, 3);
    const v = randomFloats(keys * s.nKvHeads * s.headDim, 4);

    const q = ref.rope(ref.rmsnorm(x, weight, s.rows, dim, eps), s.rows, s.nHeads, s.headDim, s.pos0, theta);
    const k = ref.rope(kRaw, keys, s.nKvHeads, s.headDim, 0, theta);
    const expected = ref.add(x, ref.attention(q, k, v, s));

    const submit = vi.spyOn(GPUQueue.prototype, 'submit');
    try {
      const { ops } = gpu;
      const { y } = await runOnDevice(gpu.device, { x, weight, kRaw, v }, { normed: x.length, q: x.length, k: kRaw.length, attended: x.length, y: x.length }, (encoder, b) => {
        ops.rmsnorm(encoder, { x: b.x, weight: b.weight, y: b.normed }, s.rows, dim, eps);
        ops.rope(encoder, { x: b.normed, y: b.q }, s.rows, s.nHeads, s.headDim, s.pos0, theta);
        ops.rope(encoder, { x: b.kRaw, y: b.k }, keys, s.nKvHeads, s.headDim, 0, theta);
        ops.attention(encoder, { q: b.q, k: b.k, v: b.v, out: b.attended }, s);
        ops.add(encoder, { a: b.x, b: b.attended, out: b.y }, x.length);
      });
      expect(submit).toHaveBeenCalledTimes(1);
      expectClose(y, expected, TOL, 'y');
    } finally {
      submit.mockRestore();
    }
  });
});
