/**
 * The CPU backend: onnxruntime-node's CPU provider.
 *
 * Forward: one InferenceSession per (layer, group), Y = X·Wᵀ (+ b) as a Gemm (transB = 1) whose
 * fused weight (and Qwen2's q/k/v bias, as Gemm's C) is a constant initializer, so onnxruntime
 * pre-packs it once. Fused groups are written into the model bytes block by block (never
 * concatenated here); onnxruntime keeps only its packed copy (measured: ~1.2× the weight's
 * bytes per session), and nothing of it is kept on the JavaScript side.
 *
 * Backward, dX = dY·W, needs W packed the other way round. Two designs (`backward` option):
 *  - 'shared' (default): three sessions shared by every group — for groups of 1, 2 and 3
 *    stacked blocks — take the model's own weight arrays as runtime inputs (wrapped, not
 *    copied) and split dY by columns across the blocks. No memory beyond the model itself, but
 *    onnxruntime packs W on every call: measured on 2 cores at [2048×2048], 104–108 GFLOP/s
 *    against 150 for 'prepacked' at 64 rows, 16–17 against 17.5 at 1 row. This keeps
 *    references to the model's matrices.
 *  - 'prepacked': a second constant-weight session per (layer, group), MatMul dY·W with W
 *    [out, in] as stored: backward as fast as the forward, at a second native copy of every
 *    matrix; nothing of the model's matrices is referenced afterwards, so a caller that drops
 *    them after creation ends up with the same memory as 'shared' (2× the matrices).
 *
 * Calls run one at a time: each session's thread pool already uses every core.
 */
import * as ort from 'onnxruntime-node';
import type { Model, ModelConfig } from '../../../shared/model/types';
import { checkCall, groupWeights } from '../groups';
import type { AttentionShape } from '../../../shared/reference/ops';
import type { AttentionGradients, Backend, BackendInfo, WeightGroup } from '../types';
import { attentionF32 } from '../fastops';
import { Serial } from '../serial';
import { OrtAttention } from './attention';
import { DecodeAttention } from './decode-attention';
import { dynamicBackwardModel } from './onnx-model';
import { ConstantWeightSession, defaultThreads, ORT_VERSION, runSession, sessionOptions } from './sessions';

export type CpuBackwardMode = 'shared' | 'prepacked';

export interface CpuBackendOptions {
  /** onnxruntime intra-op threads; default: the machine's cores (os.availableParallelism()). */
  threads?: number;
  /** How linearBackward holds the weights (see above); default 'shared'. */
  backward?: CpuBackwardMode;
}

/** The runtime inputs of the shared backward session of one group: its stored blocks, wrapped. */
interface SharedBackward {
  session: ort.InferenceSession;
  weights: Record<string, ort.Tensor>; // W0.. (and `splits` when there are several blocks)
  inDim: number;
  outDim: number;
}

type BackwardRunner = ConstantWeightSession | SharedBackward;

const LAYER_GROUPS = ['qkv', 'o', 'gateup', 'down'] as const;

export class CpuBackend implements Backend {
  readonly info: BackendInfo;
  /** Each session's K/V cache in a WebAssembly memory of its own, where decode attention reads it (decode-attention.ts). */
  readonly allocateKvCache?: Backend['allocateKvCache'];
  private readonly serial = new Serial();
  private disposed = false;

  private constructor(
    private readonly config: ModelConfig,
    private readonly forward: Map<string, ConstantWeightSession>,
    private readonly backward: Map<string, BackwardRunner>,
    private readonly sessions: { release(): Promise<void> }[],
    private readonly attentionSessions: OrtAttention,
    /** Decode attention in WebAssembly over caches from allocateKvCache; none when headDim % 4 ≠ 0 (then JavaScript's, fastops.ts). */
    private readonly decode: DecodeAttention | undefined,
    threads: number,
    mode: CpuBackwardMode,
  ) {
    this.info = { name: 'cpu', device: `onnxruntime-node ${ORT_VERSION} CPU, ${threads} thread${threads === 1 ? '' : 's'}, ${mode} backward` };
    if (decode) this.allocateKvCache = (layers, floats) => decode.allocate(layers, floats);
  }

  static async create(model: Model, opts: CpuBackendOptions = {}): Promise<CpuBackend> {
    const threads = opts.threads ?? defaultThreads();
    const mode = opts.backward ?? 'shared';
    if (mode !== 'shared' && mode !== 'prepacked') throw new Error(`unknown backward mode ${JSON.stringify(mode)} (expected shared or prepacked)`);
    const options = sessionOptions(threads);
    const forward = new Map<string, ConstantWeightSession>();
    const backward = new Map<string, BackwardRunner>();
    const shared = new Map<number, ort.InferenceSession>(); // by number of blocks
    const sessions: { release(): Promise<void> }[] = [];
    const track = <S extends { release(): Promise<void> }>(s: S): S => (sessions.push(s), s);
    let attention: OrtAttention;
    try {
      const { nHeads, nKvHeads, headDim } = model.config;
      attention = track(await OrtAttention.create({ nHeads, nKvHeads, headDim }, options));
      const targets: [number, WeightGroup][] = model.weights.layers.flatMap((_, l) => LAYER_GROUPS.map((g): [number, WeightGroup] => [l, g]));
      targets.push([0, 'lmHead']);
      for (const [layer, group] of targets) {
        const g = groupWeights(model, layer, group);
        // Weights arrive as float32 (F16/BF16 files are widened at load); float64 test models
        // are narrowed here (and, with the shared backward, that copy is kept).
        const blocks = g.blocks.map((b) => (b instanceof Float32Array ? b : Float32Array.from(b)));
        const bias = g.bias?.map((b) => (b instanceof Float32Array ? b : Float32Array.from(b)));
        const k = key(layer, group);
        forward.set(k, track(await ConstantWeightSession.linear(blocks, g.outDim, g.inDim, bias, options)));
        if (mode === 'prepacked') {
          backward.set(k, track(await ConstantWeightSession.matmul(blocks, g.outDim, g.inDim, options)));
          continue;
        }
        let session = shared.get(blocks.length);
        if (!session) shared.set(blocks.length, (session = track(await ort.InferenceSession.create(dynamicBackwardModel(blocks.length), options))));
        const weights: Record<string, ort.Tensor> = {};
        blocks.forEach((b, i) => (weights[`W${i}`] = new ort.Tensor('float32', b, [b.length / g.inDim, g.inDim])));
        if (blocks.length > 1) weights.splits = new ort.Tensor('int64', BigInt64Array.from(blocks, (b) => BigInt(b.length / g.inDim)), [blocks.length]);
        backward.set(k, { session, weights, inDim: g.inDim, outDim: g.outDim });
      }
    } catch (e) {
      await Promise.all(sessions.map((s) => s.release()));
      throw e;
    }
    const { nHeads, nKvHeads, headDim } = model.config;
    const decode = headDim % 4 === 0 ? new DecodeAttention({ nHeads, nKvHeads, headDim }) : undefined;
    return new CpuBackend(model.config, forward, backward, sessions, attention, decode, threads, mode);
  }

  linear(layer: number, group: WeightGroup, x: Float32Array, rows: number): Promise<Float32Array> {
    return this.call('linear', layer, group, x, rows, (k) => this.forward.get(k)!.run(x, rows));
  }

  linearBackward(layer: number, group: WeightGroup, dy: Float32Array, rows: number): Promise<Float32Array> {
    return this.call('linearBackward', layer, group, dy, rows, (k) => {
      const b = this.backward.get(k)!;
      if (b instanceof ConstantWeightSession) return b.run(dy, rows);
      return runSession(b.session, { dY: new ort.Tensor('float32', dy, [rows, b.outDim]), ...b.weights }, 'dX', rows * b.inDim);
    });
  }

  /**
   * One query row (a decode step) runs at once, on this thread: its work is a few dot products
   * per head, less than an onnxruntime run's overhead, and it need not wait behind queued GEMMs.
   * Caches from allocateKvCache are read in place by WebAssembly SIMD; other arrays (a caller's
   * own) by JavaScript loops.
   */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<Float32Array> {
    if (shape.rows === 1 && !this.disposed) {
      try {
        return Promise.resolve(this.decode?.holds(k, v) ? this.decode.attend(q, k, v, shape) : attentionF32(q, k, v, shape));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.enqueue(() => this.attentionSessions.forward(q, k, v, shape));
  }

  attentionBackward(dOut: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<AttentionGradients> {
    return this.enqueue(() => this.attentionSessions.backward(dOut, q, k, v, shape));
  }

  /** Checks the call (throws before onnxruntime sees anything), then runs it after the previous one. */
  private call(op: 'linear' | 'linearBackward', layer: number, group: WeightGroup, data: Float32Array, rows: number, run: (key: string) => Promise<Float32Array>): Promise<Float32Array> {
    try {
      checkCall(this.config, op, layer, group, data, rows);
    } catch (e) {
      return Promise.reject(e);
    }
    if (rows === 0) return Promise.resolve(new Float32Array(0));
    const k = key(group === 'lmHead' ? 0 : layer, group);
    return this.enqueue(() => run(k));
  }

  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('cpu backend: used after dispose()'));
    return this.serial.run(run);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.serial.drained();
    this.forward.clear();
    this.backward.clear();
    await Promise.all(this.sessions.splice(0).map((s) => s.release()));
  }
}

function key(layer: number, group: WeightGroup): string {
  return `${layer}:${group}`;
}
