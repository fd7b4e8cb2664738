/**
 * The CPU backend's onnxruntime attention against the reference ops. onnxruntime sums in
 * float32 in its own order (the reference keeps probabilities in float64), so outputs and
 * gradients must match to 1e-5 of the reference's largest magnitude.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCloseToScale, randomFloats } from '../../testing/numeric';
import { attention, attentionBackward } from '../../../shared/reference/ops';
import { OrtAttention } from './attention';
import { sessionOptions } from './sessions';

// [rows, pos0, nHeads, nKvHeads, headDim]: training (pos0 0), prefill after a cached prefix, decode.
const CASES = [[6, 0], [5, 3], [1, 9], [9, 0]];
const SHAPES = [[4, 2, 8], [6, 3, 4], [3, 3, 6], [4, 1, 16]];

describe('OrtAttention (the CPU backend’s attention)', () => {
  const sessions = new Map<string, OrtAttention>();
  beforeAll(async () => {
    for (const [nHeads, nKvHeads, headDim] of SHAPES) sessions.set(`${nHeads}/${nKvHeads}/${headDim}`, await OrtAttention.create({ nHeads, nKvHeads, headDim }, sessionOptions(1)));
  });
  afterAll(async () => {
    for (const s of sessions.values()) await s.release();
  });

  for (const [nHeads, nKvHeads, headDim] of SHAPES) {
    for (const [rows, pos0] of CASES) {
      it(`forward and backward = the reference (heads ${nHeads}/${nKvHeads}×${headDim}, ${rows} rows after ${pos0})`, async () => {
        const ort = sessions.get(`${nHeads}/${nKvHeads}/${headDim}`)!;
        const shape = { rows, pos0, nHeads, nKvHeads, headDim };
        const keys = pos0 + rows;
        const q = randomFloats(rows * nHeads * headDim, 1 + rows);
        // a cache with room beyond the used positions: only the first `keys` rows count
        const k = randomFloats((keys + 2) * nKvHeads * headDim, 2 + pos0);
        const v = randomFloats((keys + 2) * nKvHeads * headDim, 3 + pos0);
        const dOut = randomFloats(rows * nHeads * headDim, 4 + headDim);
        expectCloseToScale(await ort.forward(q, k, v, shape), attention(q, k, v, shape), 1e-5, 'out');
        const ref = attentionBackward(dOut, q, k, v, shape);
        const got = await ort.backward(dOut, q, k, v, shape);
        for (const name of ['dq', 'dk', 'dv'] as const) expectCloseToScale(got[name], ref[name], 1e-5, name);
      });
    }
  }

  it('rejects wrong shapes before onnxruntime sees them', async () => {
    const ort = sessions.get('4/2/8')!;
    const x = new Float32Array(64);
    await expect(ort.forward(x.subarray(0, 10), x, x, { rows: 2, pos0: 0, nHeads: 4, nKvHeads: 2, headDim: 8 })).rejects.toThrow(/attention q/);
    await expect(ort.backward(x.subarray(0, 10), x, x, x, { rows: 2, pos0: 0, nHeads: 4, nKvHeads: 2, headDim: 8 })).rejects.toThrow(/dOut/);
    await expect(ort.forward(x, x.subarray(0, 8), x, { rows: 2, pos0: 0, nHeads: 4, nKvHeads: 2, headDim: 8 })).rejects.toThrow(/fewer/);
  });
});
