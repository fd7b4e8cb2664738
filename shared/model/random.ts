/**
 * Deterministic random models for tests: weights ~ N(0, std²) (std 0.02 by default, as in
 * Llama's initialisation), RMSNorm weights 1 + N(0, 0.1²) so that norm gradients are exercised,
 * attention biases (attentionBias only) ~ N(0, std²). The same (config, seed, opts) always gives
 * the same numbers; float64 gives exactly the float32 model's values, widened (for finite
 * differences that compare with float32 runs).
 */
import { Rng } from '../util/rng';
import type { Floats, LayerWeights, Model, ModelConfig, ModelWeights } from './types';

export interface RandomModelOptions {
  /** Float64Array weights (for finite-difference checks); default float32. */
  float64?: boolean;
  /** Standard deviation of matrix and bias entries; default 0.02. */
  std?: number;
  /** Standard deviation of the noise around 1 in RMSNorm weights; default 0.1. */
  normStd?: number;
}

export function randomModel(config: ModelConfig, seed: number, opts: RandomModelOptions = {}): Model {
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, vocabSize } = config;
  if (nHeads % nKvHeads !== 0) throw new Error(`nHeads (${nHeads}) must be a multiple of nKvHeads (${nKvHeads})`);
  const std = opts.std ?? 0.02;
  const normStd = opts.normStd ?? 0.1;
  const rng = new Rng(seed);
  const make = (n: number): Floats => (opts.float64 ? new Float64Array(n) : new Float32Array(n));
  // Values are rounded to float32 first, so float64 and float32 models hold the same numbers.
  const gaussian = (n: number, mean: number, sd: number): Floats => {
    const a = make(n);
    for (let i = 0; i < n; i++) a[i] = Math.fround(mean + sd * rng.normal());
    return a;
  };
  const matrix = (rows: number, cols: number) => gaussian(rows * cols, 0, std);
  const norm = () => gaussian(dim, 1, normStd);
  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;

  const embed = matrix(vocabSize, dim);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < nLayers; l++) {
    const layer: LayerWeights = {
      attnNorm: norm(),
      wq: matrix(qDim, dim),
      wk: matrix(kvDim, dim),
      wv: matrix(kvDim, dim),
      wo: matrix(dim, qDim),
      mlpNorm: norm(),
      wGate: matrix(hiddenDim, dim),
      wUp: matrix(hiddenDim, dim),
      wDown: matrix(dim, hiddenDim),
    };
    if (config.attentionBias) {
      layer.bq = gaussian(qDim, 0, std);
      layer.bk = gaussian(kvDim, 0, std);
      layer.bv = gaussian(kvDim, 0, std);
    }
    layers.push(layer);
  }
  const finalNorm = norm();
  const lmHead = config.tieWordEmbeddings ? embed : matrix(vocabSize, dim);
  const weights: ModelWeights = { embed, layers, finalNorm, lmHead };
  return { config, weights };
}

/**
 * A tiny Llama config for tests: dim 16, hiddenDim 40, 2 layers, 4 heads over 2 KV heads (GQA),
 * vocab 37, maxSeqLen 64. headDim follows dim / nHeads unless given.
 */
export function tinyConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  const dim = overrides.dim ?? 16;
  const nHeads = overrides.nHeads ?? 4;
  return {
    architecture: 'LlamaForCausalLM',
    dim,
    hiddenDim: 40,
    nLayers: 2,
    nHeads,
    nKvHeads: 2,
    headDim: dim / nHeads,
    vocabSize: 37,
    maxSeqLen: 64,
    ropeTheta: 10000,
    rmsNormEps: 1e-5,
    tieWordEmbeddings: false,
    attentionBias: false,
    bosTokenId: 1,
    eosTokenIds: [2],
    ...overrides,
  };
}
