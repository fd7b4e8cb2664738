/**
 * Timing for `bench edge-math`, the same in Node and in workerd: batches of calls sized to a
 * target duration (so a per-call time is well above the clock's and the transport's noise),
 * the two implementations interleaved batch by batch (so noise from other processes on the
 * machine hits both alike), repeated; medians with their min–max ranges.
 */
import { median } from './stats';

export type Impl = 'ts' | 'ort';

/** Runs `impl` n times on `rows` rows; resolves to the milliseconds the n calls took. */
export type Batch = (impl: Impl, rows: number, n: number) => Promise<number>;

export interface Timing {
  median_ms: number;
  min_ms: number;
  max_ms: number;
  /** At the median. */
  gflops: number;
  samples_ms: number[];
}

export interface ShapeResult {
  rows: number;
  flops: number;
  /** max |ort − ts| / max |ts| on this shape, checked before timing. */
  max_rel_err: number;
  ts: Timing;
  ort: Timing;
  /** ts / ort per call, of the medians (> 1: onnxruntime-web is faster). */
  ort_speedup: number;
  /** The lowest and highest ts / ort of the same repeat. */
  ort_speedup_range: [number, number];
}

/** One runtime's measurement. */
export interface EngineResult {
  runtime: string;
  /** The first onnxruntime-web sessions of the process / isolate: the wasm set up, and one module's two sessions. */
  ort_cold_start_ms: number;
  /** One more module's two sessions (another layer, or another adapter), the wasm already up. */
  ort_module_sessions_ms: number;
  /** One run() of a trivial session: the fixed cost of a call into the wasm backend. */
  ort_run_overhead_ms: number;
  shapes: ShapeResult[];
}

export interface Plan {
  repeats: number;
  /** Wall time each batch aims at. */
  batchMs: number;
  /** The same in workerd, longer: there a batch's time includes a round trip's noise. */
  workerdBatchMs: number;
}

export function summarize(samples: number[], flops: number): Timing {
  const med = median(samples);
  return { median_ms: med, min_ms: Math.min(...samples), max_ms: Math.max(...samples), gflops: flops / med / 1e6, samples_ms: samples };
}

/** How many calls fill `targetMs`: grows a trial batch fourfold until it takes a tenth of it. */
async function calibrate(batch: Batch, impl: Impl, rows: number, targetMs: number): Promise<number> {
  for (let n = 1; ; n *= 4) {
    const ms = await batch(impl, rows, n);
    if (ms >= targetMs / 10 || n >= 1 << 20) return Math.max(1, Math.round((n * targetMs) / Math.max(ms, 1e-3)));
  }
}

/** Per-call times of both implementations on one shape (the calibration batches warm both up). */
export async function timeShape(batch: Batch, rows: number, flops: number, plan: Plan): Promise<Omit<ShapeResult, 'max_rel_err'>> {
  const calls = { ts: await calibrate(batch, 'ts', rows, plan.batchMs), ort: await calibrate(batch, 'ort', rows, plan.batchMs) };
  const samples: Record<Impl, number[]> = { ts: [], ort: [] };
  for (let rep = 0; rep < plan.repeats; rep++) {
    for (const impl of ['ts', 'ort'] as const) samples[impl].push((await batch(impl, rows, calls[impl])) / calls[impl]);
  }
  const ratios = samples.ts.map((t, i) => t / samples.ort[i]);
  const ts = summarize(samples.ts, flops);
  const ort = summarize(samples.ort, flops);
  return { rows, flops, ts, ort, ort_speedup: ts.median_ms / ort.median_ms, ort_speedup_range: [Math.min(...ratios), Math.max(...ratios)] };
}
