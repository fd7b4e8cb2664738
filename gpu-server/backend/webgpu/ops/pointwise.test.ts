/**
 * RMSNorm, RoPE, silu·mul (each with its backward), the residual add and the embedding gather on
 * the device against shared/reference/ops, on small random shapes.
 *
 * Tolerance: max |Δ| ≤ 1e-5 · max(1, max|reference|) (testing.ts's expectClose) for the ops that
 * round (RMSNorm's sums, RoPE's products, silu's exp); add and gather are exact (one correctly
 * rounded f32 addition, a copy). Measured on lavapipe: ≤ 3e-7.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as ref from '../../../../shared/reference/ops';
import { expectClose, randomIds, testGpu, type TestGpu } from './testing';
import { randomFloats } from '../../../testing/numeric';

const TOL = 1e-5;

describe('webgpu pointwise and row-wise ops', () => {
  let gpu: TestGpu;
  beforeAll(async () => {
    gpu = await testGpu();
  });
  afterAll(() => gpu?.device.destroy());

  // dims below, at and past the workgroup's 64 threads, and not multiples of it
  it.each([
    [1, 8, 1e-5],
    [3, 64, 1e-6],
    [7, 100, 1e-5],
    [2, 300, 1e-5],
  ])('rmsnorm and its backward, rows %i, dim %i, eps %f', async (rows, dim, eps) => {
    const x = randomFloats(rows * dim, 11 * dim + rows, 3);
    const weight = randomFloats(dim, 5 + dim);
    const dy = randomFloats(rows * dim, 17 * dim + rows);
    expectClose(await gpu.arrays.rmsnorm(x, weight, rows, dim, eps), ref.rmsnorm(x, weight, rows, dim, eps), TOL, 'rmsnorm');
    expectClose(await gpu.arrays.rmsnormBackward(dy, x, weight, rows, dim, eps), ref.rmsnormBackward(dy, x, weight, rows, dim, eps), TOL, 'rmsnormBackward');
  });

  it('rmsnorm over 65600 rows, past 65535 workgroups along one grid dimension', async () => {
    const [rows, dim] = [65600, 4];
    const x = randomFloats(rows * dim, 3);
    const weight = randomFloats(dim, 4);
    expectClose(await gpu.arrays.rmsnorm(x, weight, rows, dim, 1e-5), ref.rmsnorm(x, weight, rows, dim, 1e-5), TOL, 'rmsnorm');
  });

  // pos0 > 0; positions past the cos/sin table's first 256 (headDim 16's grows, headDim 64's starts large); Llama 3's theta
  it.each([
    [1, 1, 8, 0, 10000],
    [5, 4, 16, 7, 10000],
    [3, 2, 16, 1000, 10000],
    [3, 2, 64, 1000, 10000],
    [2, 3, 8, 40, 500000],
  ])('rope and its backward, rows %i, %i heads of %i, pos0 %i, theta %i', async (rows, nHeads, headDim, pos0, theta) => {
    const x = randomFloats(rows * nHeads * headDim, rows + 100 * headDim + pos0);
    expectClose(await gpu.arrays.rope(x, rows, nHeads, headDim, pos0, theta), ref.rope(x, rows, nHeads, headDim, pos0, theta), TOL, 'rope');
    expectClose(await gpu.arrays.ropeBackward(x, rows, nHeads, headDim, pos0, theta), ref.ropeBackward(x, rows, nHeads, headDim, pos0, theta), TOL, 'ropeBackward');
  });

  it.each([1, 100, 3 * 64 + 5])('silu·mul and its backward, %i elements, gates up to ±8 (σ saturating)', async (n) => {
    const [g, u, dm] = [randomFloats(n, n, 8), randomFloats(n, n + 1), randomFloats(n, n + 2)];
    expectClose(await gpu.arrays.siluMul(g, u), ref.siluMul(g, u), TOL, 'siluMul');
    const { dg, du } = await gpu.arrays.siluMulBackward(dm, g, u);
    const expected = ref.siluMulBackward(dm, g, u);
    expectClose(dg, expected.dg, TOL, 'dg');
    expectClose(du, expected.du, TOL, 'du');
  });

  it.each([1, 1000, 65535 * 64 + 100])('add, %i elements (the last past 65535 workgroups), exactly', async (n) => {
    const [a, b] = [randomFloats(n, 1), randomFloats(n, 2)];
    const [actual, expected] = [await gpu.arrays.add(a, b), ref.add(a, b)];
    expect(actual.length).toBe(n);
    expect(actual.findIndex((x, i) => x !== expected[i])).toBe(-1); // toEqual takes seconds on 4M elements
  });

  it('gather: rows of the table at repeated and edge ids, exactly', async () => {
    const [tableRows, dim] = [50, 12];
    const table = randomFloats(tableRows * dim, 9);
    for (const ids of [[7], [0, 49, 3, 3, 0], randomIds(70, tableRows, 5)]) {
      expect(await gpu.arrays.gather(table, ids, dim)).toEqual(ref.gather(table, ids, dim));
    }
  });

  it('refuses an id outside the table before the device runs anything', async () => {
    const submit = vi.spyOn(GPUQueue.prototype, 'submit');
    try {
      await expect(gpu.arrays.gather(new Float32Array(8), [0, 4], 2)).rejects.toThrow('gather: id 4 at row 1 is outside [0, 4)');
      await expect(gpu.arrays.gather(new Float32Array(8), [-1], 2)).rejects.toThrow('gather: id -1 at row 0 is outside [0, 4)');
      expect(submit).not.toHaveBeenCalled();
    } finally {
      submit.mockRestore();
    }
  });
});
