/**
 * A Hugging Face model directory — config.json, generation_config.json, model.safetensors or a
 * sharded set listed by model.safetensors.index.json, tokenizer files — read through a
 * FileSource, so the same code serves a local folder, a cache, or an object store.
 */
import { z } from 'zod';
import { parseSafetensors, type TensorInfo } from '../../safetensors';
import { parseHfConfig } from '../config';
import { loadWeights, WeightsError } from '../weights';
import type { Model } from '../types';

export interface FileSource {
  /** The file's bytes, or undefined when it does not exist. */
  read(name: string): Promise<Uint8Array | undefined>;
}

export interface ModelDirectory {
  model: Model;
  tokenizerJson?: unknown;
  tokenizerConfig?: unknown;
}

const ShardIndexSchema = z.object({ metadata: z.record(z.string(), z.unknown()).optional(), weight_map: z.record(z.string(), z.string()) });

async function readJson(src: FileSource, name: string): Promise<unknown | undefined> {
  const bytes = await src.read(name);
  if (!bytes) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new Error(`${name}: invalid JSON (${(e as Error).message})`);
  }
}

async function readTensors(src: FileSource): Promise<Map<string, TensorInfo>> {
  const single = await src.read('model.safetensors');
  if (single) return parseSafetensors(single).tensors;
  const indexJson = await readJson(src, 'model.safetensors.index.json');
  if (indexJson === undefined) throw new WeightsError('no model.safetensors or model.safetensors.index.json in the model directory');
  const index = ShardIndexSchema.parse(indexJson);
  const tensors = new Map<string, TensorInfo>();
  for (const shard of new Set(Object.values(index.weight_map))) {
    if (shard.includes('/') || shard.includes('\\')) throw new WeightsError(`shard name "${shard}" must be a plain file name`);
    const bytes = await src.read(shard);
    if (!bytes) throw new WeightsError(`shard "${shard}" listed in model.safetensors.index.json is missing`);
    for (const [name, t] of parseSafetensors(bytes).tensors) {
      if (index.weight_map[name] !== shard) throw new WeightsError(`tensor "${name}" found in shard "${shard}" but the index maps it to "${index.weight_map[name]}"`);
      tensors.set(name, t);
    }
  }
  for (const [name, shard] of Object.entries(index.weight_map)) {
    if (!tensors.has(name)) throw new WeightsError(`tensor "${name}" is not in its shard "${shard}"`);
  }
  return tensors;
}

export async function loadModelDirectory(src: FileSource): Promise<ModelDirectory> {
  const configJson = await readJson(src, 'config.json');
  if (configJson === undefined) throw new Error('config.json is missing from the model directory');
  const config = parseHfConfig(configJson, await readJson(src, 'generation_config.json'));
  const model = loadWeights(config, await readTensors(src));
  return {
    model,
    tokenizerJson: await readJson(src, 'tokenizer.json'),
    tokenizerConfig: await readJson(src, 'tokenizer_config.json'),
  };
}
