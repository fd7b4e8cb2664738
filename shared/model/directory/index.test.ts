import { describe, expect, it } from 'vitest';
import { serializeSafetensors, type TensorToWrite } from '../../safetensors';
import { toHfConfig } from '../config';
import { randomModel, tinyConfig } from '../random';
import { weightsToTensors } from '../weights';
import { loadModelDirectory, type FileSource } from './index';

const memorySource = (files: Record<string, Uint8Array | string>): FileSource => ({
  async read(name) {
    const f = files[name];
    return typeof f === 'string' ? new TextEncoder().encode(f) : f;
  },
});

const config = tinyConfig({ tieWordEmbeddings: false, attentionBias: false });
const model = randomModel(config, 3);

/** Splits the tensors into two shards, the way HF writes large checkpoints. */
function sharded(dtype: TensorToWrite['dtype']) {
  const all = [...weightsToTensors(model, dtype)];
  const half = Math.ceil(all.length / 2);
  const shards = { 'model-00001-of-00002.safetensors': all.slice(0, half), 'model-00002-of-00002.safetensors': all.slice(half) };
  const files: Record<string, Uint8Array | string> = { 'config.json': JSON.stringify(toHfConfig(config)) };
  const weightMap: Record<string, string> = {};
  for (const [file, tensors] of Object.entries(shards)) {
    files[file] = serializeSafetensors(new Map(tensors));
    for (const [name] of tensors) weightMap[name] = file;
  }
  files['model.safetensors.index.json'] = JSON.stringify({ metadata: {}, weight_map: weightMap });
  return { files, weightMap };
}

describe('loadModelDirectory', () => {
  it('loads a sharded F32 checkpoint exactly', async () => {
    const { model: loaded } = await loadModelDirectory(memorySource(sharded('F32').files));
    expect(loaded.config).toEqual(config);
    expect(Array.from(loaded.weights.layers[1].wDown)).toEqual(Array.from(model.weights.layers[1].wDown));
  });

  it('loads BF16 and F16 weights within their precision', async () => {
    for (const [dtype, tol] of [['BF16', 2 ** -8], ['F16', 2 ** -11]] as const) {
      const { model: loaded } = await loadModelDirectory(memorySource(sharded(dtype).files));
      const a = model.weights.layers[0].wq, b = loaded.weights.layers[0].wq;
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(Math.abs(a[i]) * tol + 1e-7);
    }
  });

  it('names a missing shard and a tensor filed under the wrong shard', async () => {
    const { files } = sharded('F32');
    const { ['model-00002-of-00002.safetensors']: _, ...withoutShard } = files;
    await expect(loadModelDirectory(memorySource(withoutShard))).rejects.toThrow('shard "model-00002-of-00002.safetensors" listed in model.safetensors.index.json is missing');
    const { files: f2, weightMap } = sharded('F32');
    const name = Object.keys(weightMap)[0];
    f2['model.safetensors.index.json'] = JSON.stringify({ weight_map: { ...weightMap, [name]: 'model-00002-of-00002.safetensors' } });
    await expect(loadModelDirectory(memorySource(f2))).rejects.toThrow(`tensor "${name}" found in shard`);
  });

  it('explains a directory without weights or config', async () => {
    await expect(loadModelDirectory(memorySource({}))).rejects.toThrow('config.json is missing');
    await expect(loadModelDirectory(memorySource({ 'config.json': JSON.stringify(toHfConfig(config)) }))).rejects.toThrow('no model.safetensors');
    await expect(loadModelDirectory(memorySource({ 'config.json': '{nope' }))).rejects.toThrow('config.json: invalid JSON');
  });
});
