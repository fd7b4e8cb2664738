/**
 * Reading and writing PEFT adapter files: `adapter_config.json` + `adapter_model.safetensors`,
 * with tensor names as PEFT saves them (adapter name removed), e.g.
 * `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`, `…lora_B.weight`,
 * `…lora_magnitude_vector` (DoRA), `…ia3_l`, and `prompt_embeddings`.
 */
import { parseSafetensors, serializeSafetensors, tensorToFloat32 } from '../safetensors';
import { expectedTensors, PeftAdapter, type BaseModel } from './adapter';
import { parsePeftConfig } from './config';
import { AdapterError } from './errors';
import { checkPromptConfig, resolveTargets } from './targets';

const FILE = 'adapter_model.safetensors';
const DTYPES = new Set(['F32', 'F16', 'BF16']);

/** Older PEFT (and PEFT's loader) also know the magnitude as `…lora_magnitude_vector.weight`. */
function canonicalName(name: string): string {
  return name.endsWith('.lora_magnitude_vector.weight') ? name.slice(0, -'.weight'.length) : name;
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * Validates a PEFT adapter against a base model and binds it to it. Checks the config (see
 * config.ts, targets.ts), then that the file holds exactly the expected tensors, each with its
 * exact shape (from the model's dims, GQA kv width, rank/rank_pattern) and dtype F32/F16/BF16,
 * and finite values. DoRA needs `base.weight` (and `base.bias` for biased q/k/v).
 */
export function readPeftAdapter(configJson: unknown, safetensorsBytes: Uint8Array, base: BaseModel): PeftAdapter {
  const config = parsePeftConfig(configJson);
  const targets = config.peft_type === 'PROMPT_TUNING' ? (checkPromptConfig(config, base.config), []) : resolveTargets(config, base.config);
  const expected = expectedTensors(config, targets, base.config);

  let file: ReturnType<typeof parseSafetensors>;
  try {
    file = parseSafetensors(safetensorsBytes);
  } catch (e) {
    throw new AdapterError(`${FILE}: ${(e as Error).message}`);
  }

  const errors: string[] = [];
  const found = new Map<string, string>(); // canonical → name in the file
  for (const name of file.tensors.keys()) {
    const canonical = canonicalName(name);
    if (!expected.has(canonical)) {
      errors.push(`unexpected tensor "${name}" (not part of this ${config.peft_type}${config.peft_type === 'LORA' && config.use_dora ? ' (DoRA)' : ''} adapter for this model)`);
    } else if (found.has(canonical)) {
      errors.push(`tensor "${canonical}" is present twice (as "${found.get(canonical)}" and "${name}")`);
    } else {
      found.set(canonical, name);
    }
  }
  for (const [name, shape] of expected) {
    if (!found.has(name)) errors.push(`missing tensor "${name}" (expected shape ${fmt(shape)})`);
  }
  const params = new Map<string, Float32Array>();
  for (const [canonical, name] of found) {
    const t = file.tensors.get(name)!;
    const shape = expected.get(canonical)!;
    if (!DTYPES.has(t.dtype)) {
      errors.push(`tensor "${name}": dtype ${t.dtype} is not supported (F32, F16 or BF16)`);
      continue;
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      errors.push(`tensor "${name}": expected shape ${fmt(shape)}, got ${fmt(t.shape)}`);
      continue;
    }
    const data = tensorToFloat32(t);
    if (!data.every(Number.isFinite)) {
      errors.push(`tensor "${name}" contains non-finite values`);
      continue;
    }
    params.set(canonical, data);
  }
  if (errors.length > 0) throw new AdapterError(`${FILE}: ${errors.join('; ')}`);
  return new PeftAdapter(config, params, base);
}

/** Top-level keys sorted as PEFT writes them; nested objects keep their order (rank_pattern's order matters). */
function sortTopLevel(value: object): Record<string, unknown> {
  const v = value as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, v[k]]),
  );
}

/** Writes the adapter as PEFT does (sorted, indented config; float32 tensors, metadata format "pt"). */
export function writePeftAdapter(adapter: PeftAdapter): { configJson: string; safetensors: Uint8Array } {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of adapter.shapes) tensors.set(name, { shape, data: adapter.params.get(name)! });
  return {
    configJson: `${JSON.stringify(sortTopLevel(adapter.config), null, 2)}\n`,
    safetensors: serializeSafetensors(tensors, { format: 'pt' }),
  };
}
