/**
 * onnxruntime-node sessions of the CPU backend, shared with gemm-bench so that the bench times
 * exactly the backend's path.
 *
 * Session options, measured on 2 cores (Node 20, onnxruntime-node 1.30):
 *  - intra-op threads = cores, inter-op 1, graph optimization 'all';
 *  - intra-op spinning OFF. Every session owns a thread pool; with spinning on, the idle pools of
 *    a model's other sessions spin and starve the running one: 120 sessions (a 30-layer model)
 *    took 80 ms per call at any batch size, against 0.35 ms (1 row) to 1.5 ms (64 rows) with
 *    spinning off ('session.force_spinning_stop' with spinning on: still ~4× slower than off).
 *    A lone session loses nothing measurable with spinning off (~150 GFLOP/s at 64 rows of
 *    [2048×2048] on a quiet 2-core machine either way);
 *  - no CPU memory arena. Each session's arena keeps its largest intermediate and output buffers
 *    for good, and a model has ~50 sessions per direction: with training batches of ~500 rows
 *    that held ~340 MB in the 110m bench server (peak RSS 1.96 → 1.62 GB without it, 2 runs
 *    each). onnxruntime-node copies every output into a JavaScript array anyway, so the arena
 *    only saved a malloc per run: tokens/s unchanged within noise (155, 155 → 153, 164).
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { linearModel, matmulModel, type Stacked } from './onnx-model';

export const ORT_VERSION: string = ort.env.versions.node ?? ort.env.versions.common;

export function defaultThreads(): number {
  return availableParallelism();
}

export function sessionOptions(threads: number, spinning = false): ort.InferenceSession.SessionOptions {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: false,
    extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
  };
}

/** The output tensor of a run, as a Float32Array of the expected length. */
export async function runSession(session: ort.InferenceSession, feeds: ort.InferenceSession.FeedsType, output: string, expected: number): Promise<Float32Array> {
  const result = await session.run(feeds);
  const y = result[output].data;
  if (!(y instanceof Float32Array) || y.length !== expected) {
    throw new Error(`onnxruntime returned ${y.length} ${y.constructor.name} elements for ${output}, expected ${expected} float32`);
  }
  return y;
}

/**
 * A session whose weight is a constant initializer: onnxruntime copies it out of the model bytes
 * and pre-packs it once, then drops its unpacked copy; the caller's arrays are not referenced
 * afterwards, and the model bytes (one copy of W) are garbage once the session exists.
 * Input X [rows, xWidth] → output Y [rows, yWidth].
 */
export class ConstantWeightSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly xWidth: number,
    readonly yWidth: number,
  ) {}

  /** y [rows, out] = x [rows, in] · Wᵀ (+ b): Gemm transB=1, W [out, in] as stored (the forward). */
  static async linear(weight: Stacked, outDim: number, inDim: number, bias: Stacked | undefined, options: ort.InferenceSession.SessionOptions): Promise<ConstantWeightSession> {
    return new ConstantWeightSession(await ort.InferenceSession.create(linearModel(weight, outDim, inDim, bias), options), inDim, outDim);
  }

  /** y [rows, k] · W [k, n]: a plain MatMul (the backward dY·W with W [out, in] as stored; the bench's baseline). */
  static async matmul(weight: Stacked, k: number, n: number, options: ort.InferenceSession.SessionOptions): Promise<ConstantWeightSession> {
    return new ConstantWeightSession(await ort.InferenceSession.create(matmulModel(weight, k, n), options), k, n);
  }

  /** x must hold rows·xWidth floats (callers check; see groups.ts). */
  run(x: Float32Array, rows: number): Promise<Float32Array> {
    return runSession(this.session, { X: new ort.Tensor('float32', x, [rows, this.xWidth]) }, 'Y', rows * this.yWidth);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
