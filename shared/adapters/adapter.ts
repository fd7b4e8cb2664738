/**
 * PeftAdapter: a validated PEFT adapter bound to one base model's shape, acting at the taps.
 * Parameters are kept as float32 arrays under their PEFT tensor names; the module actions
 * read them directly, so an optimizer may update them in place (call `refresh()` afterwards
 * when the adapter uses DoRA, whose row norms are derived from them).
 */
import type { Floats, Model, ModelConfig } from '../model/types';
import { parsePeftConfig, type PeftConfig } from './config';
import { DoraModule } from './dora';
import { AdapterError } from './errors';
import { Ia3InputModule, Ia3OutputModule } from './ia3';
import { LoraModule } from './lora';
import { moduleDims, PROMPT_EMBEDDINGS_KEY, tensorKey } from './modules';
import { MODULE_TAP, MODULE_WEIGHT, type ModuleAdapter, type ModuleName, type TapAdapter, type TapName } from './taps';
import { checkPromptConfig, resolveTargets, type AdapterTarget } from './targets';

export type AdapterType = 'LORA' | 'DORA' | 'IA3' | 'PROMPT_TUNING';

/** What an adapter needs of its base model: the shape, and the frozen weights where DoRA needs them. */
export interface BaseModel {
  config: ModelConfig;
  /** The frozen [out, in] weight of a module (DoRA's norms). */
  weight?: (layer: number, module: ModuleName) => Floats;
  /** The frozen bias of a module, if it has one (Qwen2's q/k/v; DoRA leaves it unscaled). */
  bias?: (layer: number, module: ModuleName) => Floats | undefined;
}

const BIAS_FIELD: Partial<Record<ModuleName, 'bq' | 'bk' | 'bv'>> = { q_proj: 'bq', k_proj: 'bk', v_proj: 'bv' };

/** A BaseModel view of an in-memory model. */
export function baseFromModel(model: Model): BaseModel {
  return {
    config: model.config,
    weight: (layer, module) => model.weights.layers[layer][MODULE_WEIGHT[module]] as Floats,
    bias: (layer, module) => {
      const field = BIAS_FIELD[module];
      return field ? model.weights.layers[layer][field] : undefined;
    },
  };
}

export function adapterType(config: PeftConfig): AdapterType {
  if (config.peft_type === 'LORA') return config.use_dora ? 'DORA' : 'LORA';
  return config.peft_type;
}

/** Every tensor the adapter's file must hold, with its exact shape, in a stable order. */
export function expectedTensors(config: PeftConfig, targets: readonly AdapterTarget[], model: ModelConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (config.peft_type === 'PROMPT_TUNING') {
    out.set(PROMPT_EMBEDDINGS_KEY, [config.num_virtual_tokens * (config.num_transformer_submodules ?? 1), config.token_dim]);
    return out;
  }
  for (const t of targets) {
    const d = moduleDims(model, t.module);
    if (config.peft_type === 'LORA') {
      out.set(tensorKey.loraA(t.layer, t.module), [t.r!, d.in]);
      out.set(tensorKey.loraB(t.layer, t.module), [d.out, t.r!]);
      if (config.use_dora) out.set(tensorKey.magnitude(t.layer, t.module), [d.out]);
    } else {
      out.set(tensorKey.ia3(t.layer, t.module), t.form === 'input' ? [1, d.in] : [d.out, 1]);
    }
  }
  return out;
}

export class PeftAdapter implements TapAdapter {
  readonly type: AdapterType;
  /** The validated adapter_config.json. */
  readonly config: PeftConfig;
  readonly modelConfig: ModelConfig;
  /** Parameters by PEFT tensor name (row-major float32). */
  readonly params: Map<string, Float32Array>;
  /** Their shapes, as in the safetensors file. */
  readonly shapes: Map<string, number[]>;
  /** The adapted modules (empty for prompt tuning). */
  readonly targets: readonly AdapterTarget[];
  readonly promptEmbeddings?: Float32Array;
  private readonly modules = new Map<string, ModuleAdapter>();
  private readonly base: BaseModel;

  /**
   * Binds a config and its parameters to a base model, checking everything (use readPeftAdapter
   * for files). `params` must hold exactly the expected tensors with their exact sizes.
   */
  constructor(config: unknown, params: Map<string, Float32Array>, base: BaseModel) {
    this.config = parsePeftConfig(config);
    this.type = adapterType(this.config);
    this.modelConfig = base.config;
    this.base = base;
    this.params = params;
    if (this.config.peft_type === 'PROMPT_TUNING') {
      checkPromptConfig(this.config, base.config);
      this.targets = [];
    } else {
      this.targets = resolveTargets(this.config, base.config);
    }
    this.shapes = expectedTensors(this.config, this.targets, base.config);
    for (const [name, shape] of this.shapes) {
      const p = params.get(name);
      if (!p) throw new AdapterError(`missing tensor "${name}" (expected shape [${shape.join(', ')}])`);
      const n = shape.reduce((a, b) => a * b, 1);
      if (p.length !== n) throw new AdapterError(`tensor "${name}": expected ${n} elements (shape [${shape.join(', ')}]), got ${p.length}`);
    }
    for (const name of params.keys()) {
      if (!this.shapes.has(name)) throw new AdapterError(`unexpected tensor "${name}": not part of this ${this.type} adapter`);
    }
    if (this.config.peft_type === 'PROMPT_TUNING') this.promptEmbeddings = params.get(PROMPT_EMBEDDINGS_KEY);
    this.buildModules();
  }

  private buildModules(): void {
    const cfg = this.config;
    for (const t of this.targets) {
      const d = moduleDims(this.modelConfig, t.module);
      let mod: ModuleAdapter;
      if (cfg.peft_type === 'LORA') {
        const lora = {
          A: this.params.get(tensorKey.loraA(t.layer, t.module))!,
          B: this.params.get(tensorKey.loraB(t.layer, t.module))!,
          r: t.r!,
          inDim: d.in,
          outDim: d.out,
          scale: t.scale!,
          keyA: tensorKey.loraA(t.layer, t.module),
          keyB: tensorKey.loraB(t.layer, t.module),
        };
        if (cfg.use_dora) {
          const keyM = tensorKey.magnitude(t.layer, t.module);
          mod = new DoraModule({ ...lora, m: this.params.get(keyM)!, keyM, bias: this.baseBias(t.layer, t.module) }, this.baseWeight(t.layer, t.module));
        } else {
          mod = new LoraModule(lora);
        }
      } else {
        const key = tensorKey.ia3(t.layer, t.module);
        const l = this.params.get(key)!;
        mod = t.form === 'input' ? new Ia3InputModule(l, d.in, key) : new Ia3OutputModule(l, d.out, key);
      }
      this.modules.set(`${t.layer}.${t.module}`, mod);
    }
  }

  private baseWeight(layer: number, module: ModuleName): Floats {
    if (!this.base.weight) {
      throw new AdapterError(`DoRA needs the base weights to compute its row norms ‖W + s·B·A‖ (none given for ${module} of layer ${layer})`);
    }
    const w = this.base.weight(layer, module);
    const d = moduleDims(this.modelConfig, module);
    if (w.length !== d.out * d.in) throw new AdapterError(`base weight of ${module}, layer ${layer}: expected ${d.out}×${d.in}, got ${w.length} elements`);
    return w;
  }

  private baseBias(layer: number, module: ModuleName): Floats | undefined {
    const hasBias = this.modelConfig.attentionBias && module in BIAS_FIELD;
    if (!hasBias) return undefined;
    const b = this.base.bias?.(layer, module);
    if (!b) throw new AdapterError(`DoRA on ${module} needs the base bias of layer ${layer} (the model has attention biases); pass base.bias`);
    return b;
  }

  module(layer: number, name: ModuleName): ModuleAdapter | undefined {
    return this.modules.get(`${layer}.${name}`);
  }

  /** The taps a session must declare, per layer (from target_modules and layers_to_transform). */
  taps(): { layer: number; tap: TapName; modules: ModuleName[] }[] {
    const byKey = new Map<string, { layer: number; tap: TapName; modules: ModuleName[] }>();
    for (const t of this.targets) {
      const tap = MODULE_TAP[t.module];
      const k = `${t.layer}.${tap}`;
      if (!byKey.has(k)) byKey.set(k, { layer: t.layer, tap, modules: [] });
      byKey.get(k)!.modules.push(t.module);
    }
    return [...byKey.values()];
  }

  /** Recomputes what is derived from the parameters (DoRA's row norms) after they changed. */
  refresh(): void {
    for (const t of this.targets) {
      const mod = this.modules.get(`${t.layer}.${t.module}`);
      if (mod instanceof DoraModule) mod.refreshNorms(this.baseWeight(t.layer, t.module));
    }
  }
}
