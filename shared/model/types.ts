/**
 * The vocabulary every part of Symbiosis shares: model shape, weights, and the taps where an
 * adapter meets the frozen base model. Matrices are row-major [out, in] as in PyTorch, so a
 * linear layer computes y = x·Wᵀ for row vectors x.
 */

/** Numeric storage of the reference path: float32 normally, float64 for finite-difference checks. */
export type Floats = Float32Array | Float64Array;

export type Architecture = 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM';

export interface ModelConfig {
  architecture: Architecture;
  dim: number; // hidden_size
  hiddenDim: number; // intermediate_size (the MLP's width)
  nLayers: number; // num_hidden_layers
  nHeads: number; // num_attention_heads
  nKvHeads: number; // num_key_value_heads (GQA: nHeads % nKvHeads === 0)
  headDim: number; // head_dim, usually dim / nHeads
  vocabSize: number;
  maxSeqLen: number; // max_position_embeddings
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean; // the LM head is the token embedding
  attentionBias: boolean; // Qwen2: q, k, v projections carry a bias
  bosTokenId: number;
  eosTokenIds: number[];
}

/** One decoder layer's frozen weights. */
export interface LayerWeights {
  attnNorm: Floats; // [dim]
  wq: Floats; // [nHeads*headDim, dim]
  wk: Floats; // [nKvHeads*headDim, dim]
  wv: Floats; // [nKvHeads*headDim, dim]
  wo: Floats; // [dim, nHeads*headDim]
  bq?: Floats; // [nHeads*headDim]   (attentionBias only)
  bk?: Floats; // [nKvHeads*headDim] (attentionBias only)
  bv?: Floats; // [nKvHeads*headDim] (attentionBias only)
  mlpNorm: Floats; // [dim]
  wGate: Floats; // [hiddenDim, dim]
  wUp: Floats; // [hiddenDim, dim]
  wDown: Floats; // [dim, hiddenDim]
}

export interface ModelWeights {
  embed: Floats; // [vocabSize, dim]
  layers: LayerWeights[]; // [nLayers]
  finalNorm: Floats; // [dim]
  lmHead: Floats; // [vocabSize, dim]; the same array as embed when tieWordEmbeddings
}

export interface Model {
  config: ModelConfig;
  weights: ModelWeights;
}
