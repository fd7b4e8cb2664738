/**
 * The Hugging Face tensor names of a Llama-family checkpoint, and the mapping between them and
 * ModelWeights, checking every shape. Reading bytes from disk or network is the caller's job.
 */
import type { LayerWeights, Model, ModelConfig, ModelWeights } from '../types';
import type { TensorInfo, TensorToWrite } from '../../safetensors';
import { tensorToFloat32 } from '../../safetensors';

export class WeightsError extends Error {}

type LayerTensor = { key: keyof LayerWeights; name: string; shape: (c: ModelConfig) => number[]; optional?: boolean };

const qDim = (c: ModelConfig) => c.nHeads * c.headDim;
const kvDim = (c: ModelConfig) => c.nKvHeads * c.headDim;

const LAYER_TENSORS: LayerTensor[] = [
  { key: 'attnNorm', name: 'input_layernorm.weight', shape: (c) => [c.dim] },
  { key: 'wq', name: 'self_attn.q_proj.weight', shape: (c) => [qDim(c), c.dim] },
  { key: 'wk', name: 'self_attn.k_proj.weight', shape: (c) => [kvDim(c), c.dim] },
  { key: 'wv', name: 'self_attn.v_proj.weight', shape: (c) => [kvDim(c), c.dim] },
  { key: 'wo', name: 'self_attn.o_proj.weight', shape: (c) => [c.dim, qDim(c)] },
  { key: 'bq', name: 'self_attn.q_proj.bias', shape: (c) => [qDim(c)], optional: true },
  { key: 'bk', name: 'self_attn.k_proj.bias', shape: (c) => [kvDim(c)], optional: true },
  { key: 'bv', name: 'self_attn.v_proj.bias', shape: (c) => [kvDim(c)], optional: true },
  { key: 'mlpNorm', name: 'post_attention_layernorm.weight', shape: (c) => [c.dim] },
  { key: 'wGate', name: 'mlp.gate_proj.weight', shape: (c) => [c.hiddenDim, c.dim] },
  { key: 'wUp', name: 'mlp.up_proj.weight', shape: (c) => [c.hiddenDim, c.dim] },
  { key: 'wDown', name: 'mlp.down_proj.weight', shape: (c) => [c.dim, c.hiddenDim] },
];

const isBias = (t: LayerTensor) => t.optional === true;

/** Every tensor name the checkpoint of this config holds, with its shape. */
export function expectedTensors(config: ModelConfig): Map<string, number[]> {
  const names = new Map<string, number[]>();
  names.set('model.embed_tokens.weight', [config.vocabSize, config.dim]);
  for (let l = 0; l < config.nLayers; l++) {
    for (const t of LAYER_TENSORS) {
      if (isBias(t) && !config.attentionBias) continue;
      names.set(`model.layers.${l}.${t.name}`, t.shape(config));
    }
  }
  names.set('model.norm.weight', [config.dim]);
  if (!config.tieWordEmbeddings) names.set('lm_head.weight', [config.vocabSize, config.dim]);
  return names;
}

/** Builds the model from a tensor lookup (one file or a sharded set), rejecting missing, extra or misshapen tensors. */
export function loadWeights(config: ModelConfig, tensors: ReadonlyMap<string, TensorInfo>): Model {
  const expected = expectedTensors(config);
  for (const name of tensors.keys()) {
    // Some exporters store the (derivable) rotary frequencies; nothing else may be left over.
    if (!expected.has(name) && !name.endsWith('rotary_emb.inv_freq')) throw new WeightsError(`unexpected tensor "${name}" for this config`);
  }
  const get = (name: string): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new WeightsError(`missing tensor "${name}"`);
    const want = expected.get(name)!;
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new WeightsError(`tensor "${name}" has shape [${t.shape}], expected [${want}]`);
    }
    return tensorToFloat32(t);
  };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const layer: Partial<LayerWeights> = {};
    for (const t of LAYER_TENSORS) {
      if (isBias(t) && !config.attentionBias) continue;
      layer[t.key] = get(`model.layers.${l}.${t.name}`);
    }
    layers.push(layer as LayerWeights);
  }
  const embed = get('model.embed_tokens.weight');
  const weights: ModelWeights = {
    embed,
    layers,
    finalNorm: get('model.norm.weight'),
    lmHead: config.tieWordEmbeddings ? embed : get('lm_head.weight'),
  };
  return { config, weights };
}

/** The inverse of loadWeights: HF names → tensors to serialize. */
export function weightsToTensors(model: Model, dtype: TensorToWrite['dtype'] = 'F32'): Map<string, TensorToWrite> {
  const { config, weights } = model;
  const out = new Map<string, TensorToWrite>();
  const shapes = expectedTensors(config);
  const put = (name: string, data: Float32Array | Float64Array | undefined) => {
    if (!data) throw new WeightsError(`model has no data for tensor "${name}"`);
    out.set(name, { shape: shapes.get(name)!, data, dtype });
  };
  put('model.embed_tokens.weight', weights.embed);
  weights.layers.forEach((layer, l) => {
    for (const t of LAYER_TENSORS) {
      if (isBias(t) && !config.attentionBias) continue;
      put(`model.layers.${l}.${t.name}`, layer[t.key]);
    }
  });
  put('model.norm.weight', weights.finalNorm);
  if (!config.tieWordEmbeddings) put('lm_head.weight', weights.lmHead);
  return out;
}
