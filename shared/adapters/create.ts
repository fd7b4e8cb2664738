/**
 * New adapters for training, initialised as PEFT initialises them, with the config PEFT would
 * write (its default fields included, so the files load in PEFT unchanged):
 *  - LoRA: A Kaiming-uniform (a = √5, i.e. U(±1/√in)), or N(0, 1/r²) with init "gaussian"; B = 0;
 *  - DoRA: as LoRA, and m = ‖W‖ per output row (so the adapter starts as the identity);
 *  - IA3: l = 1;
 *  - prompt tuning: N(0, 1) (nn.Embedding's init), or the embeddings of a text's tokens.
 */
import type { Floats, ModelConfig } from '../model/types';
import { PeftAdapter, type BaseModel } from './adapter';
import type { Ia3Config, LoraConfig, PromptTuningConfig } from './config';
import { doraNorms } from './dora';
import { AdapterError } from './errors';
import { moduleDims, PROMPT_EMBEDDINGS_KEY, tensorKey } from './modules';
import { Rng } from '../util/rng';
import { resolveTargets } from './targets';

export interface CreateLoraOptions extends Omit<BaseModel, 'config'> {
  modelConfig: ModelConfig;
  r: number;
  alpha: number;
  /** Module names (suffix match, e.g. ['q_proj', 'v_proj']), 'all-linear', or a regex over module paths. */
  targetModules: string[] | string;
  seed: number;
  useRslora?: boolean;
  /** DoRA: needs `weight` (and `bias` on a model with attention biases). */
  useDora?: boolean;
  layersToTransform?: number[];
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
  /** Recorded in the config; dropout is a training-time matter. */
  dropout?: number;
  init?: 'kaiming' | 'gaussian';
  baseModelNameOrPath?: string | null;
  revision?: string | null;
}

export function createLora(o: CreateLoraOptions): PeftAdapter {
  const config: LoraConfig = {
    alora_invocation_tokens: null,
    alpha_pattern: o.alphaPattern ?? {},
    arrow_config: null,
    auto_mapping: null,
    base_model_name_or_path: o.baseModelNameOrPath ?? null,
    bias: 'none',
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: o.init === 'gaussian' ? 'gaussian' : true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: o.layersToTransform ?? null,
    loftq_config: {},
    lora_alpha: o.alpha,
    lora_bias: false,
    lora_dropout: o.dropout ?? 0,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    qalora_group_size: 16,
    r: o.r,
    rank_pattern: o.rankPattern ?? {},
    revision: o.revision ?? null,
    target_modules: o.targetModules,
    target_parameters: null,
    task_type: 'CAUSAL_LM',
    trainable_token_indices: null,
    use_dora: o.useDora ?? false,
    use_qalora: false,
    use_rslora: o.useRslora ?? false,
  };
  const base: BaseModel = { config: o.modelConfig, weight: o.weight, bias: o.bias };
  const rng = new Rng(o.seed);
  const params = new Map<string, Float32Array>();
  for (const t of resolveTargets(config, o.modelConfig)) {
    const d = moduleDims(o.modelConfig, t.module);
    const r = t.r!;
    const A = new Float32Array(r * d.in);
    if (o.init === 'gaussian') {
      for (let i = 0; i < A.length; i++) A[i] = rng.normal() / r;
    } else {
      const bound = 1 / Math.sqrt(d.in); // kaiming_uniform_(a=√5): gain √(1/3) · √(3/fan_in)
      for (let i = 0; i < A.length; i++) A[i] = (2 * rng.nextFloat() - 1) * bound;
    }
    const B = new Float32Array(d.out * r);
    params.set(tensorKey.loraA(t.layer, t.module), A);
    params.set(tensorKey.loraB(t.layer, t.module), B);
    if (config.use_dora) {
      if (!o.weight) throw new AdapterError('createLora: DoRA needs the base weights (weight) to initialise its magnitudes');
      const W = o.weight(t.layer, t.module);
      const norms = doraNorms(W, { A, B, r, inDim: d.in, outDim: d.out, scale: t.scale!, keyA: '', keyB: '' });
      params.set(tensorKey.magnitude(t.layer, t.module), Float32Array.from(norms));
    }
  }
  return new PeftAdapter(config, params, base);
}

export interface CreateIa3Options {
  modelConfig: ModelConfig;
  targetModules: string[] | string;
  /** Modules whose input is scaled (must be o_proj / down_proj); the rest scale their output. */
  feedforwardModules?: string[] | string;
  baseModelNameOrPath?: string | null;
  revision?: string | null;
}

export function createIa3(o: CreateIa3Options): PeftAdapter {
  const config: Ia3Config = {
    auto_mapping: null,
    base_model_name_or_path: o.baseModelNameOrPath ?? null,
    exclude_modules: null,
    fan_in_fan_out: false,
    feedforward_modules: o.feedforwardModules ?? [],
    inference_mode: true,
    init_ia3_weights: true,
    modules_to_save: null,
    peft_type: 'IA3',
    revision: o.revision ?? null,
    target_modules: o.targetModules,
    task_type: 'CAUSAL_LM',
  };
  const params = new Map<string, Float32Array>();
  for (const t of resolveTargets(config, o.modelConfig)) {
    const d = moduleDims(o.modelConfig, t.module);
    params.set(tensorKey.ia3(t.layer, t.module), new Float32Array(t.form === 'input' ? d.in : d.out).fill(1));
  }
  return new PeftAdapter(config, params, { config: o.modelConfig });
}

export interface CreatePromptTuningOptions {
  modelConfig: ModelConfig;
  numVirtualTokens: number;
  seed: number;
  /** TEXT init: the text's token ids (as the tokenizer gives them) and the token embeddings [vocab, dim]. */
  text?: { text: string; tokenizerNameOrPath: string; tokenIds: number[]; embed: Floats };
  baseModelNameOrPath?: string | null;
  revision?: string | null;
}

export function createPromptTuning(o: CreatePromptTuningOptions): PeftAdapter {
  const { dim } = o.modelConfig;
  const n = o.numVirtualTokens;
  const config: PromptTuningConfig = {
    auto_mapping: null,
    base_model_name_or_path: o.baseModelNameOrPath ?? null,
    inference_mode: true,
    modules_to_save: null,
    num_attention_heads: o.modelConfig.nHeads,
    num_layers: o.modelConfig.nLayers,
    num_transformer_submodules: 1,
    num_virtual_tokens: n,
    peft_type: 'PROMPT_TUNING',
    prompt_tuning_init: o.text ? 'TEXT' : 'RANDOM',
    prompt_tuning_init_text: o.text?.text ?? null,
    revision: o.revision ?? null,
    task_type: 'CAUSAL_LM',
    token_dim: dim,
    tokenizer_kwargs: null,
    tokenizer_name_or_path: o.text?.tokenizerNameOrPath ?? null,
  };
  const emb = new Float32Array(n * dim);
  if (o.text) {
    // PEFT: repeat the text's ids until there are enough, then truncate to num_virtual_tokens.
    const ids = o.text.tokenIds;
    if (ids.length === 0) throw new AdapterError('createPromptTuning: the init text has no tokens');
    for (let v = 0; v < n; v++) {
      const id = ids[v % ids.length];
      if (id < 0 || id >= o.modelConfig.vocabSize) throw new AdapterError(`createPromptTuning: token id ${id} is outside the vocabulary`);
      for (let i = 0; i < dim; i++) emb[v * dim + i] = o.text.embed[id * dim + i];
    }
  } else {
    const rng = new Rng(o.seed);
    for (let i = 0; i < emb.length; i++) emb[i] = rng.normal();
  }
  return new PeftAdapter(config, new Map([[PROMPT_EMBEDDINGS_KEY, emb]]), { config: o.modelConfig });
}
