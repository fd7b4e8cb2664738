/**
 * A fresh adapter to train, per method, on the served model (LoRA's B starts at zero, as PEFT's).
 * DoRA's norms need the frozen weights of its modules; the caller says where they come from
 * (the base-model server serves them: they are public).
 */
import { createIa3, createLora, createPromptTuning, resolveTargets, type PeftAdapter } from '../adapters';
import type { ModuleName } from '../adapters/taps';
import type { ModelConfig } from '../model/types';
import { parseSafetensors, tensorToFloat32 } from '../safetensors';

export const METHODS = ['lora', 'dora', 'ia3', 'prompt'] as const;
export type Method = (typeof METHODS)[number];

export interface AdapterSpec {
  method: Method;
  rank: number;
  alpha: number;
  targetModules: string[];
  virtualTokens: number;
  seed: number;
}

export type FrozenWeight = (layer: number, module: ModuleName) => Promise<{ weight: Float32Array; bias?: Float32Array }>;

async function frozenWeights(config: ModelConfig, targetModules: string[], fetchWeight: FrozenWeight): Promise<Map<string, { weight: Float32Array; bias?: Float32Array }>> {
  const out = new Map<string, { weight: Float32Array; bias?: Float32Array }>();
  const probe = createLora({ modelConfig: config, r: 1, alpha: 1, targetModules, seed: 0 });
  for (const t of resolveTargets(probe.config as Parameters<typeof resolveTargets>[0], config)) out.set(`${t.layer}.${t.module}`, await fetchWeight(t.layer, t.module));
  return out;
}

export async function newAdapter(spec: AdapterSpec, config: ModelConfig, fetchWeight: FrozenWeight): Promise<PeftAdapter> {
  switch (spec.method) {
    case 'lora':
      return createLora({ modelConfig: config, r: spec.rank, alpha: spec.alpha, targetModules: spec.targetModules, seed: spec.seed });
    case 'dora': {
      const frozen = await frozenWeights(config, spec.targetModules, fetchWeight);
      const key = (layer: number, module: ModuleName) => `${layer}.${module}`;
      return createLora({
        modelConfig: config,
        r: spec.rank,
        alpha: spec.alpha,
        targetModules: spec.targetModules,
        seed: spec.seed,
        useDora: true,
        weight: (layer, module) => frozen.get(key(layer, module))!.weight,
        bias: (layer, module) => frozen.get(key(layer, module))?.bias,
      });
    }
    case 'ia3': {
      const feedforward = spec.targetModules.filter((m) => m === 'down_proj' || m === 'o_proj');
      return createIa3({ modelConfig: config, targetModules: spec.targetModules, feedforwardModules: feedforward });
    }
    case 'prompt':
      return createPromptTuning({ modelConfig: config, numVirtualTokens: spec.virtualTokens, seed: spec.seed });
  }
}

/** The frozen weights from a base-model server's public GET /v1/weights/{layer}/{module}. */
export function weightsFromServer(httpBase: string): FrozenWeight {
  return async (layer, module) => {
    const res = await fetch(`${httpBase}/v1/weights/${layer}/${module}`);
    if (!res.ok) throw new Error(`fetching the frozen weights of ${module}, layer ${layer}: HTTP ${res.status}`);
    const file = parseSafetensors(new Uint8Array(await res.arrayBuffer()));
    const bias = file.tensors.get('bias');
    return { weight: tensorToFloat32(file.tensors.get('weight')!), bias: bias && tensorToFloat32(bias) };
  };
}
