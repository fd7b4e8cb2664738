/**
 * Time-boxed timing for `bench kernels`: lavapipe runs a kernel 100–1000× slower than a GPU, so
 * every measurement stops at a time budget rather than a fixed count of repetitions.
 */
import { runOnDevice, uploadBuffer, outputBuffer } from '../../../gpu-server/backend/webgpu/ops/run';
import type { WebGpuOps } from '../../../gpu-server/backend/webgpu/ops/index';
import type { OpCase } from './ops';

export interface Budget {
  /** A measurement ends with the first run of `reps` repetitions that takes at least this long… */
  seconds: number;
  /** …or that reaches this many repetitions. */
  maxReps: number;
}

/**
 * Milliseconds per repetition of `run(reps)`: one untimed run of 1 (JIT, pipelines' first use),
 * then runs of 1, 2, 4, … repetitions until one lasts `budget.seconds` or reaches `budget.maxReps`;
 * the last run is the measurement. All of it takes about twice the budget plus the warm-up.
 */
export async function msPerRep(run: (reps: number) => unknown, budget: Budget): Promise<number> {
  await run(1);
  for (let reps = 1; ; reps = Math.min(2 * reps, budget.maxReps)) {
    const t0 = performance.now();
    await run(reps);
    const ms = performance.now() - t0;
    if (ms >= 1000 * budget.seconds || reps >= budget.maxReps) return ms / reps;
  }
}

/** A host implementation: `reps` calls in a row, each awaited (onnxruntime's are asynchronous). */
export function timeJs(call: () => unknown, budget: Budget): Promise<number> {
  return msPerRep(async (reps) => {
    for (let i = 0; i < reps; i++) await call();
  }, budget);
}

/**
 * The WebGPU kernels of `c` on buffers uploaded once: `reps` dispatches (params, bind group and
 * all) recorded into one encoder, one submit, waiting for the queue to finish. A validation error
 * is thrown rather than timed.
 */
export async function timeWebGpu(ops: WebGpuOps, c: OpCase, budget: Budget): Promise<number> {
  const { device } = ops;
  await runOnDevice(device, c.inputs, c.outputs, (encoder, b) => c.webgpu(ops, encoder, b)); // surfaces validation errors
  const buffers: Record<string, GPUBuffer> = {};
  for (const [name, data] of Object.entries(c.inputs)) buffers[name] = uploadBuffer(device, name, data);
  for (const [name, n] of Object.entries(c.outputs)) buffers[name] = outputBuffer(device, name, n);
  try {
    return await msPerRep(async (reps) => {
      const encoder = device.createCommandEncoder({ label: `bench ${c.op}` });
      for (let i = 0; i < reps; i++) c.webgpu(ops, encoder, buffers);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
    }, budget);
  } finally {
    for (const buffer of Object.values(buffers)) buffer.destroy();
  }
}
