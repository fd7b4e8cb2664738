/**
 * PEFT `adapter_config.json`, validated with zod. Supported: peft_type LORA (with use_dora,
 * use_rslora, rank/alpha patterns, layers_to_transform), IA3 and PROMPT_TUNING, for causal LMs.
 *
 * Every object is strict: a field this code does not know is rejected by name, because an
 * unknown field may change the math. Fields PEFT writes with harmless defaults are accepted
 * with those defaults (the key set of PEFT 0.13–0.21), and known fields with values this
 * implementation does not compute are rejected by name, saying why.
 * This file checks the config alone; its fit to a base model is checked in targets.ts.
 */
import { z } from 'zod';
import { MODULE_NAMES } from './taps';
import { AdapterError } from './errors';

type Scalar = string | number | boolean | null;

function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** A field whose only supported values are `values`; anything else is rejected with `why`. */
function only<const T extends readonly [Scalar, ...Scalar[]]>(values: T, why?: string) {
  return z.literal(values, {
    error: (iss) => `${show(iss.input)} is not supported (only ${values.map(show).join(' or ')})${why ? `: ${why}` : ''}`,
  });
}

/** A field that must be null (or absent), with the reason anything else is rejected. */
function mustBeNull(why: string) {
  return z.null({ error: (iss) => `${show(iss.input)} is not supported (only null): ${why}` }).optional();
}

const nullableString = z.string().nullable().optional();
const positiveInt = z.number().int().positive();
const moduleList = z.array(z.string().min(1)).min(1);
/** A list of module names (suffix match) or one regex matched against full module paths. */
const targetSpec = z.union([moduleList, z.string().min(1)], {
  error: (iss) => `${show(iss.input)} is not supported (expected a list of module names or a regex string)`,
});

/** Fields PeftConfig writes for every adapter type. */
const common = {
  base_model_name_or_path: nullableString,
  revision: nullableString,
  inference_mode: z.boolean().optional(),
  auto_mapping: z.record(z.string(), z.unknown()).nullable().optional(),
  peft_version: z.string().optional(),
  modules_to_save: mustBeNull('extra fully trained modules (e.g. lm_head) would have to run on the shared base server'),
};

const taskType = only(['CAUSAL_LM', null], 'only causal language models are served');

const INIT_LORA_OK = [true, false, 'gaussian', 'orthogonal', 'eva'] as const;

export const LoraConfigSchema = z
  .strictObject({
    ...common,
    peft_type: z.literal('LORA'),
    task_type: taskType.optional(),
    r: positiveInt,
    lora_alpha: z.number().refine(Number.isFinite, 'must be a finite number'),
    target_modules: targetSpec,
    exclude_modules: z.union([moduleList, z.string().min(1), z.null()]).optional(),
    use_rslora: z.boolean().optional(),
    use_dora: z.boolean().optional(),
    rank_pattern: z.record(z.string(), positiveInt).nullable().optional(),
    alpha_pattern: z.record(z.string(), z.number().refine(Number.isFinite, 'must be a finite number')).nullable().optional(),
    layers_to_transform: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative()), z.null()]).optional(),
    layers_pattern: z
      .union([only(['layers', null], "Llama's decoder layers are model.layers.{i}"), z.tuple([z.literal('layers')])], {
        error: (iss) => `${show(iss.input)} is not supported (only "layers" or null): Llama's decoder layers are model.layers.{i}`,
      })
      .optional(),
    lora_dropout: z.number().min(0).max(1).optional(), // training only
    bias: only(['none'], 'PEFT would train base biases, which live on the shared server').optional(),
    lora_bias: only([false], 'a bias on lora_B is not implemented').optional(),
    fan_in_fan_out: only([false], 'Llama linear weights are stored [out, in]').optional(),
    init_lora_weights: z
      .literal(INIT_LORA_OK, {
        error: (iss) =>
          `${show(iss.input)} is not supported (only ${INIT_LORA_OK.map(show).join(', ')}): PiSSA, OLoRA, CorDA and LoftQ adapters are relative to modified base weights`,
      })
      .optional(),
    eva_config: z.record(z.string(), z.unknown()).nullable().optional(), // initialisation only
    loftq_config: z
      .record(z.string(), z.unknown())
      .nullable()
      .refine((v) => v === null || Object.keys(v).length === 0, {
        error: (iss) => `${show(iss.input)} is not supported (only {}): LoftQ adapters are relative to a quantized base`,
      })
      .optional(),
    corda_config: mustBeNull('CorDA adapters are relative to modified base weights'),
    megatron_config: mustBeNull('Megatron parallel layers are not supported'),
    megatron_core: z.string().nullable().optional(), // used only with megatron_config
    layer_replication: mustBeNull('layer replication changes the base model'),
    target_parameters: mustBeNull('LoRA on raw parameters (e.g. MoE experts) is not supported'),
    trainable_token_indices: mustBeNull('trainable embedding rows would change the shared base'),
    alora_invocation_tokens: mustBeNull('activated LoRA is not supported'),
    arrow_config: mustBeNull('Arrow routing is not supported'),
    use_qalora: only([false], 'QA-LoRA is not supported').optional(),
    qalora_group_size: z.number().int().optional(), // used only with use_qalora
    ensure_weight_tying: z.boolean().optional(), // concerns modules_to_save / trainable tokens only
    use_bdlora: only([null, false], 'block-diagonal LoRA is not supported').optional(),
    kasa_config: mustBeNull('KaSA is not supported'),
    lora_ga_config: mustBeNull('LoRA-GA is not supported'),
    monteclora_config: mustBeNull('MonteCLoRA is not supported'),
    runtime_config: z.record(z.string(), z.unknown()).optional(), // PEFT drops it when loading
  })
  .superRefine((c, ctx) => {
    const hasLayers = c.layers_to_transform !== null && c.layers_to_transform !== undefined;
    const hasPattern = c.layers_pattern !== null && c.layers_pattern !== undefined;
    if (typeof c.target_modules === 'string' && hasLayers) {
      ctx.addIssue({ code: 'custom', path: ['layers_to_transform'], message: 'cannot be used when target_modules is a regex string (as in PEFT)' });
    }
    if (typeof c.target_modules === 'string' && hasPattern) {
      ctx.addIssue({ code: 'custom', path: ['layers_pattern'], message: 'cannot be used when target_modules is a regex string (as in PEFT)' });
    }
    if (hasPattern && !hasLayers) {
      ctx.addIssue({ code: 'custom', path: ['layers_pattern'], message: 'is set but layers_to_transform is not (as in PEFT)' });
    }
  });

export const Ia3ConfigSchema = z
  .strictObject({
    ...common,
    peft_type: z.literal('IA3'),
    task_type: taskType.optional(),
    target_modules: targetSpec,
    feedforward_modules: z.union([z.array(z.string().min(1)), z.string().min(1), z.null()]).optional(),
    exclude_modules: z.union([moduleList, z.string().min(1), z.null()]).optional(),
    fan_in_fan_out: only([false], 'Llama linear weights are stored [out, in]').optional(),
    init_ia3_weights: z.boolean().optional(), // initialisation only
  })
  .superRefine((c, ctx) => {
    // PEFT's IA3Config: feedforward_modules ⊆ target_modules when both are lists.
    if (Array.isArray(c.feedforward_modules) && Array.isArray(c.target_modules)) {
      for (const f of c.feedforward_modules) {
        if (!c.target_modules.includes(f)) {
          ctx.addIssue({ code: 'custom', path: ['feedforward_modules'], message: `"${f}" is not in target_modules (feedforward_modules must be a subset)` });
        }
      }
    }
  });

export const PromptTuningConfigSchema = z
  .strictObject({
    ...common,
    peft_type: z.literal('PROMPT_TUNING'),
    task_type: only(['CAUSAL_LM'], 'only causal language models are served'),
    num_virtual_tokens: positiveInt,
    token_dim: positiveInt,
    num_transformer_submodules: only([1, null], 'a decoder-only model has one transformer submodule').optional(),
    num_attention_heads: positiveInt.nullable().optional(),
    num_layers: positiveInt.nullable().optional(),
    prompt_tuning_init: only(['RANDOM', 'TEXT', 'SAMPLE_VOCAB']).optional(),
    prompt_tuning_init_text: nullableString,
    tokenizer_name_or_path: nullableString,
    tokenizer_kwargs: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.prompt_tuning_init === 'TEXT') {
      if (!c.tokenizer_name_or_path) ctx.addIssue({ code: 'custom', path: ['tokenizer_name_or_path'], message: 'is required when prompt_tuning_init is "TEXT"' });
      if (c.prompt_tuning_init_text === null || c.prompt_tuning_init_text === undefined) {
        ctx.addIssue({ code: 'custom', path: ['prompt_tuning_init_text'], message: 'is required when prompt_tuning_init is "TEXT"' });
      }
    } else if (c.tokenizer_kwargs) {
      ctx.addIssue({ code: 'custom', path: ['tokenizer_kwargs'], message: 'is only valid with prompt_tuning_init "TEXT"' });
    }
  });

export type LoraConfig = z.infer<typeof LoraConfigSchema>;
export type Ia3Config = z.infer<typeof Ia3ConfigSchema>;
export type PromptTuningConfig = z.infer<typeof PromptTuningConfigSchema>;
export type PeftConfig = LoraConfig | Ia3Config | PromptTuningConfig;

const SCHEMAS = { LORA: LoraConfigSchema, IA3: Ia3ConfigSchema, PROMPT_TUNING: PromptTuningConfigSchema } as const;
export const SUPPORTED_PEFT_TYPES = Object.keys(SCHEMAS) as (keyof typeof SCHEMAS)[];

const FILE = 'adapter_config.json';

function formatIssue(issue: z.core.$ZodIssue): string[] {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `unsupported field "${path ? `${path}.` : ''}${k}"`);
  }
  const input = (issue as { input?: unknown }).input;
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && input === undefined) return [`${path}: required field is missing`];
  return [`${path || '(root)'}: ${issue.message}`];
}

/** Checks that a module-name list names Llama linear modules (last path component). */
function checkModuleNames(field: string, value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  const errors: string[] = [];
  for (const entry of value as string[]) {
    const last = entry.split('.').pop() ?? '';
    if (!(MODULE_NAMES as readonly string[]).includes(last)) {
      errors.push(`${field}: "${entry}" is not a Llama linear module (${MODULE_NAMES.join(', ')})`);
    }
  }
  return errors;
}

/**
 * Parses and validates adapter_config.json (the parsed JSON value, or its text). Throws an
 * AdapterError listing every problem, each naming its field.
 */
export function parsePeftConfig(json: unknown): PeftConfig {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (e) {
      throw new AdapterError(`${FILE}: not valid JSON (${(e as Error).message})`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AdapterError(`${FILE}: expected a JSON object`);
  const peftType = (value as Record<string, unknown>).peft_type;
  if (peftType === undefined) throw new AdapterError(`${FILE}: peft_type: required field is missing`);
  if (typeof peftType !== 'string' || !(peftType in SCHEMAS)) {
    throw new AdapterError(`${FILE}: peft_type: ${show(peftType)} is not supported (only ${SUPPORTED_PEFT_TYPES.map(show).join(', ')})`);
  }
  const schema = SCHEMAS[peftType as keyof typeof SCHEMAS];
  const parsed = schema.safeParse(value, { reportInput: true });
  const errors = parsed.success ? [] : parsed.error.issues.flatMap(formatIssue);
  const raw = value as Record<string, unknown>;
  if (raw.target_modules !== 'all-linear') errors.push(...checkModuleNames('target_modules', raw.target_modules));
  if (peftType === 'LORA' || peftType === 'IA3') errors.push(...checkModuleNames('exclude_modules', raw.exclude_modules));
  if (peftType === 'IA3') errors.push(...checkModuleNames('feedforward_modules', raw.feedforward_modules));
  if (errors.length > 0 || !parsed.success) throw new AdapterError(`${FILE}: ${[...new Set(errors)].join('; ')}`);
  return parsed.data;
}
