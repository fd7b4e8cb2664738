/**
 * One split-execution session's state on the server: its tap plan, its KV cache (allocated at
 * open for the context it asked for, so its memory is known and bounded), the virtual-token
 * embeddings of a prompt-tuning adapter, its sampler, and a training step's activations.
 */
import type { ModelConfig } from '../../shared/model/types';
import { PlanError, type TapPlan } from '../../shared/protocol/plan';
import { createKVCache, type KVCache } from '../../shared/reference/forward';
import { Sampler, type SamplingParams } from '../../shared/reference/sampling';
import type { LayerTrace } from './forward';

export interface SessionOptions {
  id: string;
  tenant: string;
  mode: 'inference' | 'training';
  maxContext: number;
  plan: TapPlan;
  prompt?: Float32Array; // [promptTokens, dim]
  sampling?: SamplingParams;
}

export class EngineSession {
  readonly id: string;
  readonly tenant: string;
  readonly mode: 'inference' | 'training';
  readonly plan: TapPlan;
  readonly prompt?: Float32Array;
  readonly promptTokens: number;
  readonly kv: KVCache<Float32Array>;
  readonly sampler: Sampler;
  /** The last training forward's activations, kept for its backward. */
  trace?: { layers: LayerTrace[]; rows: number; dhFinal: Float32Array };
  /** Bytes held by the trace (the KV cache's are fixed: kvBytes). */
  traceBytes = 0;
  lastActive = Date.now();
  busy = false;
  seq = -1;

  constructor(readonly config: ModelConfig, opts: SessionOptions) {
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
    this.kv = createKVCache(config, capacity);
    this.sampler = new Sampler(opts.sampling ?? { temperature: 0 });
  }

  get kvBytes(): number {
    return this.kv.layers.reduce((n, l) => n + l.k.byteLength + l.v.byteLength, 0);
  }

  get memoryBytes(): number {
    return this.kvBytes + this.traceBytes;
  }
}
