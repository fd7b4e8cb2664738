/**
 * Folding an adapter into a copy of the base weights, as PEFT's merge does:
 *  - LoRA:  W' = W + s·B·A;
 *  - DoRA:  W' = (m / ‖W + s·B·A‖_row) ⊙ (W + s·B·A), bias unchanged;
 *  - IA3:   output form W'[o, :] = l[o]·W[o, :] and b'[o] = l[o]·b[o]; input form W'[:, i] = l[i]·W[:, i].
 * Prompt tuning adds virtual tokens and cannot be merged.
 */
import type { Floats, LayerWeights, Model, ModelConfig } from '../model/types';
import type { PeftAdapter } from './adapter';
import { AdapterError } from './errors';
import { moduleDims, tensorKey } from './modules';
import { MODULE_WEIGHT } from './taps';

function copy(a: Floats): Floats {
  return a instanceof Float64Array ? Float64Array.from(a) : Float32Array.from(a);
}

const SHAPE_FIELDS = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'attentionBias'] as const;

function checkSameShape(a: ModelConfig, b: ModelConfig): void {
  for (const f of SHAPE_FIELDS) {
    if (a[f] !== b[f]) throw new AdapterError(`mergeAdapter: the adapter was bound to a model with ${f} = ${b[f]}, this model has ${a[f]}`);
  }
}

/** A deep copy of the model with the adapter folded into its weights (tied embeddings stay tied). */
export function mergeAdapter(model: Model, adapter: PeftAdapter): Model {
  if (adapter.type === 'PROMPT_TUNING') {
    throw new AdapterError('mergeAdapter: prompt tuning cannot be merged into the weights (it adds virtual tokens before the input)');
  }
  checkSameShape(model.config, adapter.modelConfig);
  const w = model.weights;
  const embed = copy(w.embed);
  const layers: LayerWeights[] = w.layers.map((l) => {
    const out = {} as LayerWeights;
    for (const [k, v] of Object.entries(l) as [keyof LayerWeights, Floats | undefined][]) {
      if (v !== undefined) (out as unknown as Record<string, Floats>)[k] = copy(v);
    }
    return out;
  });
  const merged: Model = {
    config: { ...model.config, eosTokenIds: [...model.config.eosTokenIds] },
    weights: { embed, layers, finalNorm: copy(w.finalNorm), lmHead: w.lmHead === w.embed ? embed : copy(w.lmHead) },
  };

  for (const t of adapter.targets) {
    const layer = layers[t.layer];
    const W = layer[MODULE_WEIGHT[t.module]] as Floats;
    const { out, in: inDim } = moduleDims(model.config, t.module);
    if (adapter.type === 'LORA' || adapter.type === 'DORA') {
      const A = adapter.params.get(tensorKey.loraA(t.layer, t.module))!;
      const B = adapter.params.get(tensorKey.loraB(t.layer, t.module))!;
      const m = adapter.type === 'DORA' ? adapter.params.get(tensorKey.magnitude(t.layer, t.module))! : null;
      const r = t.r!;
      const s = t.scale!;
      const row = new Float64Array(inDim);
      for (let o = 0; o < out; o++) {
        for (let i = 0; i < inDim; i++) row[i] = W[o * inDim + i];
        for (let k = 0; k < r; k++) {
          const b = s * B[o * r + k];
          if (b === 0) continue;
          for (let i = 0; i < inDim; i++) row[i] += b * A[k * inDim + i];
        }
        let f = 1;
        if (m) {
          let ss = 0;
          for (let i = 0; i < inDim; i++) ss += row[i] * row[i];
          f = m[o] / Math.sqrt(ss);
        }
        for (let i = 0; i < inDim; i++) W[o * inDim + i] = f * row[i];
      }
    } else {
      const l = adapter.params.get(tensorKey.ia3(t.layer, t.module))!;
      if (t.form === 'input') {
        for (let o = 0; o < out; o++) for (let i = 0; i < inDim; i++) W[o * inDim + i] *= l[i];
      } else {
        for (let o = 0; o < out; o++) for (let i = 0; i < inDim; i++) W[o * inDim + i] *= l[o];
        const biasField = t.module === 'q_proj' ? 'bq' : t.module === 'k_proj' ? 'bk' : t.module === 'v_proj' ? 'bv' : null;
        const bias = biasField ? layer[biasField] : undefined;
        if (bias) for (let o = 0; o < out; o++) bias[o] *= l[o];
      }
    }
  }
  return merged;
}
