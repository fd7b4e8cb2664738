/**
 * Turns uploaded PEFT files into an adapter bound to the served base model, or a 400 naming
 * every problem: config, target modules, tensor names, shapes, dtypes, non-finite values, and
 * the rank limit. DoRA's row norms need the frozen weights of the modules it targets, which
 * are fetched from the base-model server (public weights; the adapter never goes there).
 */
import { AdapterError } from '../../shared/adapters/errors';
import { parsePeftConfig, type PeftConfig } from '../../shared/adapters/config';
import { adapterType, type PeftAdapter } from '../../shared/adapters/adapter';
import { readPeftAdapter } from '../../shared/adapters/peft-files';
import { resolveTargets, type AdapterTarget } from '../../shared/adapters/targets';
import { prefetchedBase } from '../../shared/adapters/frozen-base';
import type { BaseModelClient } from '../base';
import { badRequest } from '../errors';

export function parseConfigJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw badRequest(`adapter_config.json is not valid JSON: ${(e as Error).message}`, 'invalid_adapter');
  }
}

function highestRank(config: PeftConfig, targets: AdapterTarget[]): number | null {
  if (config.peft_type !== 'LORA') return null;
  return Math.max(config.r, ...targets.map((t) => t.r ?? 0));
}

export interface ValidAdapter {
  adapter: PeftAdapter;
  config: PeftConfig;
  targets: AdapterTarget[];
  rank: number | null;
}

export async function validateAdapter(configJson: unknown, safetensors: Uint8Array, base: BaseModelClient, maxRank: number): Promise<ValidAdapter> {
  try {
    const { config: model } = await base.info();
    const config = parsePeftConfig(configJson);
    const targets = config.peft_type === 'PROMPT_TUNING' ? [] : resolveTargets(config, model);
    const rank = highestRank(config, targets);
    if (rank !== null && rank > maxRank) throw new AdapterError(`adapter_config.json: rank ${rank} exceeds this deployment's limit of ${maxRank}`);
    const frozen = adapterType(config) === 'DORA' ? targets : [];
    const adapter = readPeftAdapter(configJson, safetensors, await prefetchedBase(model, frozen, (layer, module) => base.weight(layer, module)));
    return { adapter, config, targets, rank };
  } catch (e) {
    if (e instanceof AdapterError) throw badRequest(e.message, 'invalid_adapter');
    throw e;
  }
}
