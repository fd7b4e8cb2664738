import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-web';
import { AGREEMENT_TOLERANCE, checkAgreement, deltaFlops, loraProblem, maxRelErr, OrtDelta, randomRows, tsDelta } from './edge-math-delta';
import { renderEdgeMath, type EdgeMathResult } from './edge-math';
import { summarize } from './edge-math-timing';

// Correctness only (no timing): on small shapes, with r neither a multiple of the TypeScript
// kernels' blocks nor of the width, onnxruntime-web's wasm backend gives the adapters' delta.
describe('bench edge-math: the two deltas', () => {
  ort.env.wasm.numThreads = 1;

  it.each([
    [1, 40, 4],
    [5, 72, 12],
    [17, 64, 16],
  ])('agree on %i rows of width %i at rank %i', async (rows, width, r) => {
    const p = loraProblem(width, r, 7);
    const x = randomRows(rows, width, 8);
    const want = tsDelta(p, x, rows);
    expect(want.some((v) => v !== 0)).toBe(true);
    const delta = await OrtDelta.create(ort, p);
    try {
      const got = await delta.run(x, rows);
      expect(got.length).toBe(rows * width);
      expect(maxRelErr(got, want)).toBeLessThan(AGREEMENT_TOLERANCE);
    } finally {
      await delta.release();
    }
  });

  it('measures the error relative to the largest value', () => {
    expect(maxRelErr([1, 2.002], [1, 2])).toBeCloseTo(0.001, 12);
    expect(maxRelErr([0, 0], [0, 0])).toBe(0);
    expect(() => maxRelErr([1], [1, 2])).toThrow(/lengths/);
    expect(() => checkAgreement('here', { 1: 1e-7, 256: 1e-3 })).toThrow(/256 rows/);
    expect(() => checkAgreement('here', { 1: NaN })).toThrow(/disagree/);
  });

  it('counts 2·rows·r·(in + out) flops', () => {
    expect(deltaFlops({ r: 16, inDim: 4096, outDim: 4096 }, 256)).toBe(2 * 256 * 16 * 8192);
  });

  it('renders a table with both engines, or says why workerd is missing', () => {
    const shape = { rows: 1, flops: 1e6, max_rel_err: 2e-7, ts: summarize([0.2, 0.3, 0.25], 1e6), ort: summarize([0.1, 0.1, 0.12], 1e6), ort_speedup: 2.5, ort_speedup_range: [2, 3] as [number, number] };
    const engine = { runtime: 'test', ort_cold_start_ms: 400, ort_module_sessions_ms: 20, ort_run_overhead_ms: 0.05, shapes: [shape] };
    const result: EdgeMathResult = { bench: 'edge-math', width: 4096, rank: 16, threads: 1, repeats: 3, batch_ms: 80, workerd_batch_ms: 300, node: engine, workerd: null, workerd_error: 'no workerd here', seconds: 1 };
    const text = renderEdgeMath(result);
    expect(text).toMatch(/^node\s+1\s+0\.250 \(0\.200–0\.300\)\s+4\.00/m);
    expect(text).toMatch(/workerd: not measured: no workerd here/);
    expect(renderEdgeMath({ ...result, workerd: { ...engine, bundle_bytes: 2 ** 20, bundle_gzip_bytes: 2 ** 19 }, workerd_error: undefined })).toMatch(/^workerd\s+1 .*\n[\s\S]*bundle 1\.0 MiB, 0\.5 MiB gzip/m);
  });
});
