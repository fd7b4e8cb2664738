/**
 * The card's measured f32 FMA throughput (fma-peak.wgsl), the denominator of the GEMM rows'
 * fraction_of_peak.
 *
 * Timing is wall clock around submit → onSubmittedWorkDone, which includes a submission's fixed
 * cost; the work is therefore grown until one dispatch takes at least `targetMs` (first the grid,
 * up to enough invocations to fill any current GPU, then the loop count), so that the fixed cost
 * is a few percent at most. The best of `trials` is reported: the peak is what the card can do,
 * and interference only ever slows it down.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PeakResult {
  gflops: number;
  msPerDispatch: number;
  workgroups: number;
  iterations: number;
  /** FLOPs of one dispatch: invocations · iterations · 64. */
  flops: number;
}

export interface PeakOptions {
  targetMs: number;
  trials: number;
}

const WG = 256; // must match fma-peak.wgsl
const FLOP_PER_ITERATION = 8 * 4 * 2; // 8 vec4 chains, an FMA is 2 FLOPs
/** 8192 workgroups of 256: 2M invocations, ~8× what an H200 (132 SMs × 2048) keeps resident. */
const MAX_WORKGROUPS = 8192;
const MAX_ITERATIONS = 2 ** 24;

export async function measurePeak(adapter: GPUAdapter, opts: PeakOptions): Promise<PeakResult> {
  const device = await adapter.requestDevice({ label: 'bench gpu: fma peak' });
  try {
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: 'fma-peak.wgsl', code: readFileSync(join(import.meta.dirname, 'fma-peak.wgsl'), 'utf8') });
    const pipeline = await device.createComputePipelineAsync({ label: 'fma peak', layout: 'auto', compute: { module, entryPoint: 'main' } });
    const params = device.createBuffer({ label: 'fma params', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    const sink = device.createBuffer({ label: 'fma sink', size: 16 * 1024, usage: GPUBufferUsage.STORAGE });
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [params, sink].map((buffer, binding) => ({ binding, resource: { buffer } })) });
    const error = await device.popErrorScope();
    if (error) throw new Error(`bench gpu: the fma kernel failed validation: ${error.message}`);

    const run = async (workgroups: number, iterations: number): Promise<number> => {
      const u = new ArrayBuffer(16);
      new Uint32Array(u, 0, 1)[0] = iterations;
      new Float32Array(u, 4, 3).set([0.999, 0.001, -1]);
      device.queue.writeBuffer(params, 0, u);
      await device.queue.onSubmittedWorkDone();
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(workgroups);
      pass.end();
      const t0 = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };

    let workgroups = 64;
    let iterations = 64;
    await run(workgroups, iterations); // first dispatch: pipeline and driver warm-up
    while ((await run(workgroups, iterations)) < opts.targetMs) {
      if (workgroups < MAX_WORKGROUPS) workgroups *= 2;
      else if (iterations < MAX_ITERATIONS) iterations *= 2;
      // ~10²¹ FLOPs in under targetMs: the driver must have removed the loop, and the number would be a lie.
      else throw new Error(`bench gpu: the fma kernel stays under ${opts.targetMs} ms at ${iterations} iterations; its loop was optimized away`);
    }
    let best = Infinity;
    for (let t = 0; t < opts.trials; t++) best = Math.min(best, await run(workgroups, iterations));
    const flops = workgroups * WG * iterations * FLOP_PER_ITERATION;
    return { gflops: flops / (best * 1e6), msPerDispatch: best, workgroups, iterations, flops };
  } finally {
    device.destroy();
  }
}
