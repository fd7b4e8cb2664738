/**
 * Hugging Face `config.json` (and `generation_config.json`) → ModelConfig.
 * HF configs carry many harmless fields, so unknown keys pass; every field that changes the
 * math is validated, and values this implementation does not compute are rejected by name.
 */
import { z } from 'zod';
import type { Architecture, ModelConfig } from '../types';

const SUPPORTED_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'] as const;

const positiveInt = z.number().int().positive();
const tokenIds = z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]);

const HfConfigSchema = z
  .object({
    architectures: z.array(z.string()).length(1),
    hidden_size: positiveInt,
    intermediate_size: positiveInt,
    num_hidden_layers: positiveInt,
    num_attention_heads: positiveInt,
    num_key_value_heads: positiveInt.optional(),
    head_dim: positiveInt.nullish(),
    vocab_size: positiveInt,
    max_position_embeddings: positiveInt,
    rope_theta: z.number().positive().default(10000),
    rms_norm_eps: z.number().positive().default(1e-6),
    tie_word_embeddings: z.boolean().default(false),
    attention_bias: z.boolean().optional(),
    mlp_bias: z.boolean().optional(),
    hidden_act: z.string().default('silu'),
    rope_scaling: z.unknown().optional(),
    sliding_window: z.number().int().positive().nullish(),
    use_sliding_window: z.boolean().optional(),
    bos_token_id: z.number().int().nonnegative().nullish(),
    eos_token_id: tokenIds.nullish(),
  })
  .loose();

export type HfConfig = z.infer<typeof HfConfigSchema>;

export const GenerationConfigSchema = z
  .object({ bos_token_id: z.number().int().nonnegative().nullish(), eos_token_id: tokenIds.nullish() })
  .loose();

export class ModelConfigError extends Error {}

function asList(ids: number | number[] | null | undefined): number[] {
  if (ids === null || ids === undefined) return [];
  return Array.isArray(ids) ? ids : [ids];
}

/** Parses config.json (and optionally generation_config.json, whose token ids take precedence). */
export function parseHfConfig(configJson: unknown, generationConfigJson?: unknown): ModelConfig {
  const parsed = HfConfigSchema.safeParse(configJson);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelConfigError(`config.json: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const c = parsed.data;
  const architecture = c.architectures[0];
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new ModelConfigError(`config.json: unsupported architecture "${architecture}" (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  }
  if (c.hidden_act !== 'silu') throw new ModelConfigError(`config.json: hidden_act "${c.hidden_act}" is not supported (only "silu")`);
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) throw new ModelConfigError('config.json: rope_scaling is not supported (only plain RoPE)');
  if (c.mlp_bias) throw new ModelConfigError('config.json: mlp_bias true is not supported');
  const nKvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % nKvHeads !== 0) {
    throw new ModelConfigError(`config.json: num_attention_heads ${c.num_attention_heads} is not a multiple of num_key_value_heads ${nKvHeads}`);
  }
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new ModelConfigError(`config.json: head dimension ${headDim} must be an even integer`);

  // Mistral-style sliding windows: attention here is full, so the context is capped at the window.
  const slidingWindow = architecture === 'Qwen2ForCausalLM' && !c.use_sliding_window ? null : c.sliding_window;
  const maxSeqLen = Math.min(c.max_position_embeddings, slidingWindow ?? Infinity);

  const generation = generationConfigJson === undefined ? undefined : GenerationConfigSchema.parse(generationConfigJson);
  const eosTokenIds = asList(generation?.eos_token_id ?? c.eos_token_id);
  return {
    architecture: architecture as Architecture,
    dim: c.hidden_size,
    hiddenDim: c.intermediate_size,
    nLayers: c.num_hidden_layers,
    nHeads: c.num_attention_heads,
    nKvHeads,
    headDim,
    vocabSize: c.vocab_size,
    maxSeqLen,
    ropeTheta: c.rope_theta,
    rmsNormEps: c.rms_norm_eps,
    tieWordEmbeddings: c.tie_word_embeddings,
    // Qwen2's q/k/v projections always carry a bias; Llama and Mistral say so explicitly.
    attentionBias: c.attention_bias ?? architecture === 'Qwen2ForCausalLM',
    bosTokenId: generation?.bos_token_id ?? c.bos_token_id ?? 1,
    eosTokenIds,
  };
}

/** The inverse, for writing a model directory (converter, random bench models). */
export function toHfConfig(config: ModelConfig, torchDtype: 'float32' | 'float16' | 'bfloat16' = 'float32'): Record<string, unknown> {
  const modelType = { LlamaForCausalLM: 'llama', MistralForCausalLM: 'mistral', Qwen2ForCausalLM: 'qwen2' }[config.architecture];
  return {
    architectures: [config.architecture],
    model_type: modelType,
    hidden_size: config.dim,
    intermediate_size: config.hiddenDim,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nKvHeads,
    head_dim: config.headDim,
    vocab_size: config.vocabSize,
    max_position_embeddings: config.maxSeqLen,
    rope_theta: config.ropeTheta,
    rms_norm_eps: config.rmsNormEps,
    tie_word_embeddings: config.tieWordEmbeddings,
    attention_bias: config.attentionBias,
    hidden_act: 'silu',
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds,
    torch_dtype: torchDtype,
  };
}
