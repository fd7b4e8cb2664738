/**
 * One split-execution session's state on the server: its tap plan, its KV cache (allocated at
 * open for the context it asked for, so its memory is known and bounded), the virtual-token
 * embeddings of a prompt-tuning adapter, its sampler, and a training step's activations.
 */
import type { ModelConfig } from '../../shared/model/types';
import { PlanError, type TapPlan } from '../../shared/protocol/plan';
import { Sampler, type DrawKernels, type SamplingParams } from '../../shared/reference/sampling';
import type { ActivationScope } from '../backend/activations';
import { argmaxF32 } from '../backend/wasm/argmax';
import { temperedSoftmaxF64 } from '../backend/wasm/tempered-softmax';
import type { LayerTrace } from './forward';

/** The reference's definitions, their passes over the vocabulary in WebAssembly (backend/wasm): one pair for every session's sampler. */
const DRAW_KERNELS: DrawKernels = { argmax: argmaxF32, softmax: temperedSoftmaxF64 };

/** A session's K/V cache in the backend's activations: per layer K and V [capacity, nKvHeads·headDim]. */
export interface SessionKV<T> {
  maxSeq: number;
  layers: { k: T; v: T }[];
  /** Positions filled. */
  length: number;
}

export interface SessionOptions {
  id: string;
  tenant: string;
  mode: 'inference' | 'training';
  maxContext: number;
  plan: TapPlan;
  prompt?: Float32Array; // [promptTokens, dim]
  sampling?: SamplingParams;
}

export class StepError extends Error {}

export class EngineSession<T = unknown> {
  readonly id: string;
  readonly tenant: string;
  readonly mode: 'inference' | 'training';
  readonly plan: TapPlan;
  readonly prompt?: Float32Array;
  readonly promptTokens: number;
  readonly kv: SessionKV<T>;
  /** Bytes of the KV cache, fixed at open. */
  readonly kvBytes: number;
  readonly sampler: Sampler;
  /** The last training forward's activations, kept for its backward in the scope that holds them. */
  trace?: { layers: LayerTrace<T>[]; rows: number; dhFinal: T; scope: ActivationScope<T> };
  /** Bytes held by the trace (the KV cache's are fixed: kvBytes). */
  traceBytes = 0;
  lastActive = Date.now();
  /** A step is running (set by `step`; read by the handler's one-step-at-a-time rule, metrics and idle expiry). */
  busy = false;
  seq = -1;
  private closed = false;

  /** `memory` holds the KV cache for the session's life: released at close. */
  constructor(readonly config: ModelConfig, opts: SessionOptions, private readonly memory: ActivationScope<T>) {
    this.id = opts.id;
    this.tenant = opts.tenant;
    this.mode = opts.mode;
    this.plan = opts.plan;
    this.prompt = opts.prompt;
    this.promptTokens = opts.prompt ? opts.prompt.length / config.dim : 0;
    const capacity = opts.maxContext + this.promptTokens;
    if (capacity > config.maxSeqLen) {
      throw new PlanError(`maxContext ${opts.maxContext} (+ ${this.promptTokens} virtual tokens) exceeds the model's context of ${config.maxSeqLen}`);
    }
    const n = capacity * config.nKvHeads * config.headDim;
    this.kv = { maxSeq: capacity, length: 0, layers: memory.kvCache(config.nLayers, n) };
    this.kvBytes = 2 * config.nLayers * n * 4;
    this.sampler = new Sampler(opts.sampling ?? { temperature: 0 }, undefined, DRAW_KERNELS);
  }

  /**
   * Runs one of the session's steps, one at a time. A session closed meanwhile (its client gone)
   * is freed when the step has unwound, not under it: on a device, ops the step records after the
   * close would name buffers already destroyed.
   */
  async step<R>(run: () => Promise<R>): Promise<R> {
    if (this.closed) throw new StepError('the session is closed');
    if (this.busy) throw new StepError('a step is already running on this session');
    this.busy = true;
    try {
      return await run();
    } finally {
      this.busy = false;
      if (this.closed) this.free();
    }
  }

  /** Drops the training trace, if any, and frees its activations. */
  dropTrace(): void {
    this.trace?.scope.release();
    this.trace = undefined;
    this.traceBytes = 0;
  }

  /** Frees everything the session holds, now or when the step in flight ends. */
  release(): void {
    this.closed = true;
    if (!this.busy) this.free();
  }

  private free(): void {
    this.dropTrace();
    this.memory.release();
  }

  get memoryBytes(): number {
    return this.kvBytes + this.traceBytes;
  }
}
