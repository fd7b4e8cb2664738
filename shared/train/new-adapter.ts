/**
 * A fresh adapter to train, per method, on the served model (LoRA's B starts at zero, as PEFT's).
 * DoRA's norms need the frozen weights of its modules; the caller says where they come from
 * (the base-model server serves them: they are public).
 */
import { createIa3, createLora, createPromptTuning, type PeftAdapter } from '../adapters';
import { prefetchedBase, type FrozenWeight } from '../adapters/frozen-base';
import type { ModelConfig } from '../model/types';

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

export async function newAdapter(spec: AdapterSpec, config: ModelConfig, fetchWeight: FrozenWeight): Promise<PeftAdapter> {
  switch (spec.method) {
    case 'lora':
      return createLora({ modelConfig: config, r: spec.rank, alpha: spec.alpha, targetModules: spec.targetModules, seed: spec.seed });
    case 'dora': {
      // The same LoRA resolves which modules DoRA targets, so only their weights are fetched.
      const lora = { modelConfig: config, r: spec.rank, alpha: spec.alpha, targetModules: spec.targetModules, seed: spec.seed };
      const base = await prefetchedBase(config, createLora(lora).targets, fetchWeight);
      return createLora({ ...lora, useDora: true, weight: base.weight, bias: base.bias });
    }
    case 'ia3': {
      const feedforward = spec.targetModules.filter((m) => m === 'down_proj' || m === 'o_proj');
      return createIa3({ modelConfig: config, targetModules: spec.targetModules, feedforwardModules: feedforward });
    }
    case 'prompt':
      return createPromptTuning({ modelConfig: config, numVirtualTokens: spec.virtualTokens, seed: spec.seed });
  }
}
