import { describe, expect, it } from 'vitest';
import { parseSafetensors, serializeSafetensors } from '../../safetensors';
import { randomModel, tinyConfig } from '../random';
import { expectedTensors, loadWeights, weightsToTensors } from './index';

describe('HF weights mapping', () => {
  it.each([
    ['untied, with attention bias', tinyConfig({ tieWordEmbeddings: false, attentionBias: true })],
    ['tied, no bias', tinyConfig({ tieWordEmbeddings: true, attentionBias: false })],
  ])('round-trips through safetensors (%s)', (_, config) => {
    const model = randomModel(config, 7);
    const file = parseSafetensors(serializeSafetensors(weightsToTensors(model)));
    expect([...file.tensors.keys()].sort()).toEqual([...expectedTensors(config).keys()].sort());
    const loaded = loadWeights(config, file.tensors);
    expect(Array.from(loaded.weights.layers[1].wk)).toEqual(Array.from(model.weights.layers[1].wk));
    expect(Array.from(loaded.weights.lmHead)).toEqual(Array.from(model.weights.lmHead));
    if (config.tieWordEmbeddings) expect(loaded.weights.lmHead).toBe(loaded.weights.embed);
    if (config.attentionBias) expect(Array.from(loaded.weights.layers[0].bq!)).toEqual(Array.from(model.weights.layers[0].bq!));
  });

  it('rejects missing, unexpected and misshapen tensors by name', () => {
    const config = tinyConfig({ tieWordEmbeddings: true, attentionBias: false });
    const tensors = () => parseSafetensors(serializeSafetensors(weightsToTensors(randomModel(config, 1)))).tensors;
    const missing = tensors();
    missing.delete('model.layers.1.mlp.up_proj.weight');
    expect(() => loadWeights(config, missing)).toThrow('missing tensor "model.layers.1.mlp.up_proj.weight"');
    const extra = tensors();
    extra.set('lm_head.weight', extra.get('model.embed_tokens.weight')!);
    expect(() => loadWeights(config, extra)).toThrow('unexpected tensor "lm_head.weight"');
    const wrong = tensors();
    const t = wrong.get('model.norm.weight')!;
    wrong.set('model.norm.weight', { ...t, shape: [t.shape[0] / 2, 2] });
    expect(() => loadWeights(config, wrong)).toThrow(/tensor "model.norm.weight" has shape \[\d+,2\], expected \[\d+\]/);
  });
});
