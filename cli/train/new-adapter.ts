/** A fresh adapter to train, per method, on the served model (LoRA's B starts at zero, as PEFT's). */
import { createIa3, createLora, createPromptTuning, resolveTargets, type PeftAdapter } from '../../shared/adapters';
import type { ModuleName } from '../../shared/adapters/taps';
import type { ModelConfig } from '../../shared/model/types';
import { parseSafetensors, tensorToFloat32 } from '../../shared/safetensors';

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

/** DoRA's norms need the frozen weights of its modules: the server serves them (public weights). */
async function frozenWeights(serverHttp: string, config: ModelConfig, targetModules: string[]): Promise<Map<string, { weight: Float32Array; bias?: Float32Array }>> {
  const out = new Map<string, { weight: Float32Array; bias?: Float32Array }>();
  const probe = createLora({ modelConfig: config, r: 1, alpha: 1, targetModules, seed: 0 });
  for (const t of resolveTargets(probe.config as Parameters<typeof resolveTargets>[0], config)) {
    const res = await fetch(`${serverHttp}/v1/weights/${t.layer}/${t.module}`);
    if (!res.ok) throw new Error(`fetching the frozen weights of ${t.module}, layer ${t.layer}: HTTP ${res.status}`);
    const file = parseSafetensors(new Uint8Array(await res.arrayBuffer()));
    const bias = file.tensors.get('bias');
    out.set(`${t.layer}.${t.module}`, { weight: tensorToFloat32(file.tensors.get('weight')!), bias: bias && tensorToFloat32(bias) });
  }
  return out;
}

export async function newAdapter(spec: AdapterSpec, config: ModelConfig, serverHttp: string): Promise<PeftAdapter> {
  switch (spec.method) {
    case 'lora':
      return createLora({ modelConfig: config, r: spec.rank, alpha: spec.alpha, targetModules: spec.targetModules, seed: spec.seed });
    case 'dora': {
      const frozen = await frozenWeights(serverHttp, config, spec.targetModules);
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
