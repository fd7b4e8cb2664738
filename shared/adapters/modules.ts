/**
 * The adaptable linear modules of a Llama-family model, as PEFT names them: module paths
 * (`model.layers.3.self_attn.q_proj`), their [out, in] shapes, and the PEFT tensor names
 * of the parameters that live on them.
 */
import type { ModelConfig } from '../model/types';
import { MODULE_NAMES, type ModuleName } from './taps';

/** The sub-block of a decoder layer that holds each module. */
const MODULE_BLOCK: Record<ModuleName, 'self_attn' | 'mlp'> = {
  q_proj: 'self_attn',
  k_proj: 'self_attn',
  v_proj: 'self_attn',
  o_proj: 'self_attn',
  gate_proj: 'mlp',
  up_proj: 'mlp',
  down_proj: 'mlp',
};

/** Prefix PEFT puts before the base model's own parameter names (PeftModel → LoraModel → model). */
export const PEFT_PREFIX = 'base_model.model.';

/** The tensor name of prompt tuning's virtual-token embeddings. */
export const PROMPT_EMBEDDINGS_KEY = 'prompt_embeddings';

export function isModuleName(name: string): name is ModuleName {
  return (MODULE_NAMES as readonly string[]).includes(name);
}

/** The module's path in the Hugging Face model, e.g. `model.layers.0.self_attn.q_proj`. */
export function modulePath(layer: number, module: ModuleName): string {
  return `model.layers.${layer}.${MODULE_BLOCK[module]}.${module}`;
}

/** Every adaptable module path of a model, layer by layer in MODULE_NAMES order. */
export function allModules(config: ModelConfig): { layer: number; module: ModuleName; path: string }[] {
  const out: { layer: number; module: ModuleName; path: string }[] = [];
  for (let layer = 0; layer < config.nLayers; layer++) {
    for (const module of MODULE_NAMES) out.push({ layer, module, path: modulePath(layer, module) });
  }
  return out;
}

/** The module's weight shape as [out, in] (GQA: k/v are nKvHeads·headDim wide). */
export function moduleDims(config: ModelConfig, module: ModuleName): { out: number; in: number } {
  const q = config.nHeads * config.headDim;
  const kv = config.nKvHeads * config.headDim;
  switch (module) {
    case 'q_proj':
      return { out: q, in: config.dim };
    case 'k_proj':
    case 'v_proj':
      return { out: kv, in: config.dim };
    case 'o_proj':
      return { out: config.dim, in: q };
    case 'gate_proj':
    case 'up_proj':
      return { out: config.hiddenDim, in: config.dim };
    case 'down_proj':
      return { out: config.dim, in: config.hiddenDim };
  }
}

/** PEFT tensor names (as saved in adapter_model.safetensors: adapter name removed). */
export const tensorKey = {
  loraA: (layer: number, module: ModuleName) => `${PEFT_PREFIX}${modulePath(layer, module)}.lora_A.weight`,
  loraB: (layer: number, module: ModuleName) => `${PEFT_PREFIX}${modulePath(layer, module)}.lora_B.weight`,
  /** PEFT saves the DoRA magnitude without `.weight` (it strips the suffix its DoraLayer refactor added). */
  magnitude: (layer: number, module: ModuleName) => `${PEFT_PREFIX}${modulePath(layer, module)}.lora_magnitude_vector`,
  ia3: (layer: number, module: ModuleName) => `${PEFT_PREFIX}${modulePath(layer, module)}.ia3_l`,
};
