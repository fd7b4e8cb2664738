/**
 * DoRA's row norms need the frozen weights of the modules it targets, and BaseModel hands them
 * out synchronously; where they come over the network (from the base-model server, which
 * serves them publicly) they are fetched ahead, for exactly the targeted modules.
 */
import type { ModelConfig } from '../model/types';
import type { BaseModel } from './adapter';
import type { ModuleName } from './taps';

export type FrozenWeight = (layer: number, module: ModuleName) => Promise<{ weight: Float32Array; bias?: Float32Array }>;

export async function prefetchedBase(config: ModelConfig, targets: readonly { layer: number; module: ModuleName }[], fetchWeight: FrozenWeight): Promise<BaseModel> {
  const key = (layer: number, module: ModuleName) => `${layer}.${module}`;
  const frozen = new Map(await Promise.all(targets.map(async (t) => [key(t.layer, t.module), await fetchWeight(t.layer, t.module)] as const)));
  return {
    config,
    weight: (layer, module) => frozen.get(key(layer, module))!.weight,
    bias: (layer, module) => frozen.get(key(layer, module))?.bias,
  };
}
