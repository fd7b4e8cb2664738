/**
 * One split-execution session's state on the server: its tap plan, its KV cache (allocated at
 * open for the context it asked for, so its memory is known and bounded), the virtual-token
 * embeddings of a prompt-tuning adapter, its sampler, and a training step's activations.
 */
import type { ModelConfig } from '../../shared/model/types';
import { MODULE_TAP, type ModuleName, type TapName } from '../../shared/adapters/taps';
import type { TapPlanEntry } from '../../shared/protocol/messages';
import { createKVCache, type KVCache } from '../../shared/reference/forward';
import { Sampler, type SamplingParams } from '../../shared/reference/sampling';
import type { LayerTrace } from './forward';

export class PlanError extends Error {}

/** Where each module is planned, checked against the model. */
export class TapPlan {
  private readonly entries = new Map<string, TapPlanEntry>();

  constructor(config: ModelConfig, entries: readonly TapPlanEntry[]) {
    for (const e of entries) {
      if (e.layer >= config.nLayers) throw new PlanError(`tap plan: layer ${e.layer} does not exist (the model has ${config.nLayers})`);
      const key = `${e.layer}:${e.module}`;
      if (this.entries.has(key)) throw new PlanError(`tap plan: layer ${e.layer} ${e.module} is listed twice`);
      if (e.form === 'input' && e.module !== 'o_proj' && e.module !== 'down_proj') {
        throw new PlanError(`tap plan: layer ${e.layer} ${e.module}: the input form is only possible where the module is its input's sole consumer (o_proj, down_proj)`);
      }
      this.entries.set(key, e);
    }
  }

  get(layer: number, module: ModuleName): TapPlanEntry | undefined {
    return this.entries.get(`${layer}:${module}`);
  }

  /** The planned modules of one tap with the given form. */
  at(layer: number, tap: TapName, form: 'output' | 'input'): TapPlanEntry[] {
    return [...this.entries.values()].filter((e) => e.layer === layer && MODULE_TAP[e.module] === tap && e.form === form);
  }
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

export class EngineSession {
  readonly id: string;
  readonly tenant: string;
  readonly mode: 'inference' | 'training';
  readonly plan: TapPlan;
  readonly prompt?: Float32Array;
  readonly promptTokens: number;
  readonly kv: KVCache;
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
