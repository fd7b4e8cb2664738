/**
 * Softmax and the masked mean cross-entropy (loss and logit gradient) on the device against
 * shared/reference/ops, including masked-out rows (whose targets are ignored) and a batch with
 * every row masked out (loss 0, gradient 0, as the reference defines them).
 *
 * Tolerance: max |Δ| ≤ 1e-5 · max(1, max|reference|) (testing.ts's expectClose): an absolute
 * 1e-5 on probabilities and gradients (all ≤ 1), relative on the loss. Measured on lavapipe: ≤ 7e-8.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as ref from '../../../../shared/reference/ops';
import { expectClose, randomIds, testGpu, type TestGpu } from './testing';
import { randomFloats } from '../../../testing/numeric';

const TOL = 1e-5;

describe('webgpu softmax and cross-entropy', () => {
  let gpu: TestGpu;
  beforeAll(async () => {
    gpu = await testGpu();
  });
  afterAll(() => gpu?.device.destroy());

  // a row shorter than the workgroup, one of exactly 64, a vocabulary-sized one; logits up to ±10
  it.each([
    [1, 5],
    [4, 64],
    [3, 1000],
    [2, 8000],
  ])('softmax, rows %i, n %i', async (rows, n) => {
    const logits = randomFloats(rows * n, rows * n, 10);
    expectClose(await gpu.arrays.softmax(logits, rows, n), ref.softmax(logits, rows, n), TOL, 'softmax');
  });

  it.each([
    ['one row', [1], 300],
    ['rows 1 and 3 masked out, their targets ignored', [1, 0, 1, 0, 1], 1000],
    ['every row masked out', [0, 0, 0], 300],
    ['70 rows, past the workgroup size when counting the mask', Array.from({ length: 70 }, (_, r) => (r % 3 === 2 ? 0 : 1)), 100],
  ])('cross-entropy and its gradient: %s', async (_, mask, vocab) => {
    const rows = mask.length;
    const logits = randomFloats(rows * vocab, rows + vocab, 6);
    const targets = randomIds(rows, vocab, 7).map((t, r) => (mask[r] ? t : -100));
    const loss = await gpu.arrays.crossEntropy(logits, targets, mask, rows, vocab);
    const expectedLoss = ref.crossEntropy(logits, targets, mask, rows, vocab);
    expectClose([loss], [expectedLoss], TOL, 'loss');
    const grad = await gpu.arrays.crossEntropyBackward(logits, targets, mask, rows, vocab);
    expectClose(grad, ref.crossEntropyBackward(logits, targets, mask, rows, vocab), TOL, 'dLogits');
    mask.forEach((m, r) => {
      if (m === 0) expect(grad.subarray(r * vocab, (r + 1) * vocab).every((g) => g === 0)).toBe(true);
    });
  });

  it('refuses bad targets and masks before the device runs anything', async () => {
    const submit = vi.spyOn(GPUQueue.prototype, 'submit');
    try {
      const logits = new Float32Array(2 * 4);
      await expect(gpu.arrays.crossEntropy(logits, [1, 4], [1, 1], 2, 4)).rejects.toThrow('crossEntropy: target 4 at row 1 is outside [0, 4)');
      await expect(gpu.arrays.crossEntropyBackward(logits, [1, 2], [1, 0.5], 2, 4)).rejects.toThrow('crossEntropy: mask[1] must be 0 or 1, got 0.5');
      await expect(gpu.arrays.crossEntropy(logits, [1], [1], 2, 4)).rejects.toThrow('crossEntropy targets: expected 2 elements, got 1');
      expect(submit).not.toHaveBeenCalled();
    } finally {
      submit.mockRestore();
    }
  });
});
