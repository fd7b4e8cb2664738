/**
 * GEMM throughput of the CPU backend's forward path against onnxruntime-node's bare MatMul, on
 * the same shapes in the same run (`symbiosis bench serve`, key cpu_gemm_vs_ort; `bench kernels`).
 *
 *   backend   ConstantWeightSession.linear — the very session CpuBackend.linear runs: Gemm
 *             transB=1 with W [out, in] a constant initializer, the backend's session options
 *             (intra-op spinning off).
 *   ort       a plain MatMul model, X · W with W [in, out] a constant initializer, with the
 *             same session options: the comparison isolates the graph and the backend's
 *             wrapping. (A session with intra-op spinning on, ORT's default, skews any
 *             comparison made in the same process: its spinning threads take cores from the
 *             other path — measured +20–40% for it and −20% for the other on 2 cores. The
 *             backend turns spinning off for the reason given in cpu/sessions.ts.)
 *
 * The two are timed in alternating slices (~50 ms each, a short untimed pause after each) so
 * that a machine whose load changes during the run affects both alike. Nothing is printed;
 * the numbers are returned.
 */
import * as ort from 'onnxruntime-node';
import { matmulModel } from './cpu/onnx-model';
import { ConstantWeightSession, defaultThreads, runSession, sessionOptions } from './cpu/sessions';

export interface GemmShape {
  rows: number;
  inDim: number;
  outDim: number;
}

export interface GemmPathResult {
  /** 2·rows·in·out floating-point operations per call, over the mean time of a call. */
  gflops: number;
  msPerCall: number;
  calls: number;
}

export interface GemmBenchRow extends GemmShape {
  threads: number;
  backend: GemmPathResult;
  ort: GemmPathResult;
  /** backend.gflops / ort.gflops */
  ratio: number;
}

export interface GemmBenchOptions {
  /** Measuring time per shape, shared by the two paths (warm-up not included). */
  secondsPerShape: number;
  /** Intra-op threads of both paths; default: the machine's cores, as CpuBackend. */
  threads?: number;
  /** Untimed calls of each path before measuring; default 2. */
  warmup?: number;
}

const SLICE_MS = 50;
const PAUSE_MS = 20;

export async function benchGemm(shapes: GemmShape[], opts: GemmBenchOptions): Promise<GemmBenchRow[]> {
  const threads = opts.threads ?? defaultThreads();
  const warmup = opts.warmup ?? 2;
  if (!(opts.secondsPerShape > 0)) throw new Error(`secondsPerShape must be positive, got ${opts.secondsPerShape}`);
  const rows: GemmBenchRow[] = [];
  for (const shape of shapes) {
    const { rows: m, inDim, outDim } = shape;
    for (const [k, v] of Object.entries(shape)) if (!Number.isInteger(v) || v < 1) throw new Error(`benchGemm: ${k} must be a positive integer, got ${v}`);
    // One weight buffer serves both: read as [out, in] by the backend, as [in, out] by MatMul.
    const weight = randomFloats(inDim * outDim, 0.02);
    const x = randomFloats(m * inDim, 1);
    const backend = await ConstantWeightSession.linear(weight, outDim, inDim, undefined, sessionOptions(threads));
    const bare = await ort.InferenceSession.create(matmulModel(weight, inDim, outDim), sessionOptions(threads));
    try {
      const paths = [
        () => backend.run(x, m),
        () => runSession(bare, { X: new ort.Tensor('float32', x, [m, inDim]) }, 'Y', m * outDim),
      ];
      for (const run of paths) for (let i = 0; i < warmup; i++) await run();
      const spent = [0, 0];
      const calls = [0, 0];
      const budget = opts.secondsPerShape * 1000;
      while (spent[0] + spent[1] < budget) {
        for (let p = 0; p < 2; p++) {
          const t0 = performance.now();
          let t = t0;
          do {
            await paths[p]();
            calls[p]++;
            t = performance.now();
          } while (t - t0 < SLICE_MS && spent[0] + spent[1] + (t - t0) < budget);
          spent[p] += t - t0;
          await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
        }
      }
      const flop = 2 * m * inDim * outDim;
      const result = (p: number): GemmPathResult => {
        const ms = spent[p] / calls[p];
        return { gflops: flop / (ms * 1e6), msPerCall: ms, calls: calls[p] };
      };
      const b = result(0);
      const o = result(1);
      rows.push({ rows: m, inDim, outDim, threads, backend: b, ort: o, ratio: b.gflops / o.gflops });
    } finally {
      await Promise.all([backend.release(), bare.release()]);
    }
  }
  return rows;
}

/** Uniform noise of the given scale (deterministic; the values don't matter to the timing). */
function randomFloats(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let s = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 0x100000000 - 0.5) * 2 * scale;
  }
  return a;
}
