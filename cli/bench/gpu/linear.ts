/**
 * GEMM throughput of a backend's frozen linear layers as the engine calls them: one
 * `linear` (y = x·Wᵀ) or `linearBackward` (dx = dy·W) at a time, on layer 0's weight group (every
 * layer's group has the same shape), timed by wall clock per call — upload of the rows and
 * readback of the result included, since the server pays both on every call.
 */
import { groupShape } from '../../../gpu-server/backend/groups';
import type { Backend, WeightGroup } from '../../../gpu-server/backend/types';
import type { ModelConfig } from '../../../shared/model/types';

export type Direction = 'forward' | 'backward';

export interface LinearTiming {
  group: WeightGroup;
  direction: Direction;
  rows: number;
  inDim: number;
  outDim: number;
  msPerCall: number;
  calls: number;
  /** 2·rows·in·out over the mean time of a call. */
  gflops: number;
  /** The weight group's bytes (at the backend's precision) read once per call, over the time of a call: the bound at 1 row. */
  weightGBps: number;
}

export interface LinearOptions {
  /** Measuring time per shape (warm-up not included); at least `minCalls` calls are made. */
  seconds: number;
  minCalls: number;
  warmup: number;
  /** Bytes per weight on the device (2 for f16, 4 for f32). */
  weightBytes: number;
}

export async function timeLinear(backend: Backend, config: ModelConfig, group: WeightGroup, direction: Direction, rows: number, opts: LinearOptions): Promise<LinearTiming> {
  const { inDim, outDim } = groupShape(config, group);
  const data = noise(rows * (direction === 'forward' ? inDim : outDim));
  const call = () => (direction === 'forward' ? backend.linear(0, group, data, rows) : backend.linearBackward(0, group, data, rows));
  for (let i = 0; i < opts.warmup; i++) await call();
  let calls = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (calls < opts.minCalls || elapsed < opts.seconds * 1000) {
    await call();
    calls++;
    elapsed = performance.now() - t0;
  }
  const ms = elapsed / calls;
  return {
    group,
    direction,
    rows,
    inDim,
    outDim,
    msPerCall: ms,
    calls,
    gflops: (2 * rows * inDim * outDim) / (ms * 1e6),
    weightGBps: (inDim * outDim * opts.weightBytes) / (ms * 1e6),
  };
}

/** Deterministic values in [-1, 1): the timing does not depend on them, but NaNs or zeros could. */
function noise(n: number): Float32Array {
  const a = new Float32Array(n);
  let s = 0x2545f491;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 0x80000000 - 1;
  }
  return a;
}
