import { describe, expect, it } from 'vitest';
import { benchGemm } from './gemm-bench';

describe('benchGemm', () => {
  it('returns finite positive numbers for both paths of every shape', async () => {
    const shapes = [
      { rows: 1, inDim: 8, outDim: 12 },
      { rows: 5, inDim: 16, outDim: 4 },
    ];
    const result = await benchGemm(shapes, { secondsPerShape: 0.02, threads: 1, warmup: 1 });
    expect(result.map(({ rows, inDim, outDim }) => ({ rows, inDim, outDim }))).toEqual(shapes);
    for (const r of result) {
      expect(r.threads).toBe(1);
      for (const path of [r.backend, r.ort]) {
        expect(path.calls).toBeGreaterThan(0);
        for (const v of [path.gflops, path.msPerCall]) {
          expect(Number.isFinite(v)).toBe(true);
          expect(v).toBeGreaterThan(0);
        }
      }
      expect(r.ratio).toBeCloseTo(r.backend.gflops / r.ort.gflops, 12);
    }
  });

  it('rejects bad shapes and options', async () => {
    await expect(benchGemm([{ rows: 0, inDim: 4, outDim: 4 }], { secondsPerShape: 0.01 })).rejects.toThrow(/rows must be a positive integer/);
    await expect(benchGemm([], { secondsPerShape: 0 })).rejects.toThrow(/secondsPerShape must be positive/);
  });
});
