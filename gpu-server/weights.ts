/**
 * GET /v1/weights/{layer}/{module}: one frozen module's weight (and bias, if it has one) as a
 * safetensors file. The base model is public to its clients; the edge fetches a module only
 * when a DoRA adapter targets it, because DoRA's row norms ‖W + s·B·A‖ need W and the edge
 * computes them so the adapter never reaches this server.
 */
import { isModuleName, moduleDims } from '../shared/adapters/modules';
import { MODULE_WEIGHT, type ModuleName } from '../shared/adapters/taps';
import type { Floats, Model } from '../shared/model/types';
import { serializeSafetensors, type TensorToWrite } from '../shared/safetensors';

const BIAS: Partial<Record<ModuleName, 'bq' | 'bk' | 'bv'>> = { q_proj: 'bq', k_proj: 'bk', v_proj: 'bv' };

const f32 = (a: Floats) => (a instanceof Float32Array ? a : Float32Array.from(a));

/** The file's bytes, or a message saying why there is none. */
export function frozenWeightFile(model: Model, layer: number, module: string): Uint8Array | string {
  if (layer >= model.config.nLayers) return `layer ${layer} does not exist (the model has ${model.config.nLayers})`;
  if (!isModuleName(module)) return `"${module}" is not a module name`;
  const weights = model.weights.layers[layer];
  const d = moduleDims(model.config, module);
  const tensors: Record<string, TensorToWrite> = { weight: { shape: [d.out, d.in], data: f32(weights[MODULE_WEIGHT[module]] as Floats) } };
  const biasField = BIAS[module];
  const bias = biasField ? weights[biasField] : undefined;
  if (bias) tensors.bias = { shape: [d.out], data: f32(bias) };
  return serializeSafetensors(tensors);
}
