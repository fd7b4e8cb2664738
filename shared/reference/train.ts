/**
 * Loss and gradients of one training sequence: a full-sequence forward that keeps its
 * activations, then the backward pass of the frozen path. The base model is frozen, so the only
 * parameter gradients are the adapter's (added through ModuleAdapter.backward*), plus the
 * gradients of the input and virtual-token embeddings. Precision follows the model's arrays.
 */
import type { Floats, Model } from '../model/types';
import type { Grads, ModuleName, TapAdapter } from '../adapters/taps';
import {
  add,
  addInPlace,
  attentionBackward,
  crossEntropy,
  crossEntropyBackward,
  gatherBackward,
  linear,
  linearBackward,
  rmsnorm,
  rmsnormBackward,
  ropeBackward,
  siluMulBackward,
  zerosLike,
} from './ops';
import { createKVCache, forwardLayers, inputEmbeddings, isFloat64, type KVCache, type LayerActivations } from './forward';
import { projectBackward } from './modules';

export interface LossAndGradients {
  /** Mean cross-entropy over positions whose lossMask is 1. */
  loss: number;
  /** The adapter's parameter gradients, keyed as the adapter names its parameters. */
  grads: Grads;
  /** dL/d(virtual-token embeddings) [nVirtual, dim], when the adapter has promptEmbeddings. */
  promptEmbeddingGrad?: Float64Array;
  /** dL/d(input embeddings of the real tokens) [tokens.length, dim]. */
  inputEmbeddingGrad: Float64Array;
}

/**
 * tokens[i] is the input at position i, targets[i] the token to predict there (ignored where
 * lossMask[i] is 0). The sequence starts at position 0, after the adapter's virtual tokens.
 */
export function lossAndGradients(
  model: Model,
  tokens: readonly number[],
  targets: readonly number[],
  lossMask: readonly number[],
  adapter?: TapAdapter,
): LossAndGradients {
  const { dim, vocabSize, nLayers, rmsNormEps } = model.config;
  const { finalNorm, lmHead } = model.weights;
  const n = tokens.length;
  if (n === 0) throw new Error('lossAndGradients: no tokens');
  if (targets.length !== n || lossMask.length !== n) {
    throw new Error(`lossAndGradients: ${n} tokens but ${targets.length} targets and ${lossMask.length} mask entries`);
  }

  // forward, keeping activations
  const { x: x0, nVirtual } = inputEmbeddings(model, tokens, adapter, true); // [rows, dim]
  const rows = nVirtual + n;
  const cache = createKVCache(model.config, rows, isFloat64(model));
  const acts: LayerActivations[] = [];
  const hL = forwardLayers(model, x0, cache, adapter, acts); // [rows, dim]
  const hReal = hL.subarray(nVirtual * dim); // [n, dim]: logits for the real tokens only
  const xf = rmsnorm(hReal, finalNorm, n, dim, rmsNormEps); // [n, dim]
  const logits = linear(xf, lmHead, undefined, n, dim, vocabSize); // [n, vocab]
  const loss = crossEntropy(logits, targets, lossMask, n, vocabSize);

  // backward
  const grads: Grads = new Map();
  const dLogits = crossEntropyBackward(logits, targets, lossMask, n, vocabSize); // [n, vocab]
  const dxf = linearBackward(dLogits, lmHead, n, dim, vocabSize); // [n, dim]
  let dh: Floats = zerosLike(hL, rows * dim); // [rows, dim]; virtual rows get no loss directly
  dh.set(rmsnormBackward(dxf, hReal, finalNorm, n, dim, rmsNormEps), nVirtual * dim);
  for (let l = nLayers - 1; l >= 0; l--) dh = layerBackward(model, l, dh, acts[l], cache, adapter, grads);

  // the embedding table is frozen: the gradient stops at the embeddings themselves
  const inputEmbeddingGrad = Float64Array.from(dh.subarray(nVirtual * dim));
  if (nVirtual === 0) return { loss, grads, inputEmbeddingGrad };
  const virtualIds = Array.from({ length: nVirtual }, (_, i) => i);
  const promptEmbeddingGrad = gatherBackward(dh.subarray(0, nVirtual * dim), virtualIds, nVirtual, dim);
  return { loss, grads, promptEmbeddingGrad, inputEmbeddingGrad };
}

/** dL/dh'' [rows, dim] → dL/dh [rows, dim] through one decoder layer (see layerForward). */
export function layerBackward(
  model: Model,
  layer: number,
  dOut: Floats,
  act: LayerActivations,
  cache: KVCache,
  adapter: TapAdapter | undefined,
  grads: Grads,
): Floats {
  const { dim, hiddenDim, nHeads, nKvHeads, headDim, ropeTheta, rmsNormEps } = model.config;
  const w = model.weights.layers[layer];
  const rows = act.h.length / dim;
  const { pos0 } = act;
  if (pos0 !== 0) throw new Error('layerBackward: training runs whole sequences from position 0');
  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  const module = (name: ModuleName) => adapter?.module(layer, name);

  // feed-forward: h'' = h' + d, d = m·Wdownᵀ, m = silu(g) ⊙ u
  const dm = projectBackward(dOut, act.m, w.wDown, { rows, inDim: hiddenDim, outDim: dim }, module('down_proj'), act.y0.down_proj, grads); // [rows, hiddenDim]
  const { dg, du } = siluMulBackward(dm, act.g, act.u); // [rows, hiddenDim] each
  const dx2 = projectBackward(dg, act.x2, w.wGate, { rows, inDim: dim, outDim: hiddenDim }, module('gate_proj'), act.y0.gate_proj, grads); // [rows, dim]
  addInPlace(dx2, projectBackward(du, act.x2, w.wUp, { rows, inDim: dim, outDim: hiddenDim }, module('up_proj'), act.y0.up_proj, grads));
  const dhMid = add(dOut, rmsnormBackward(dx2, act.hMid, w.mlpNorm, rows, dim, rmsNormEps)); // [rows, dim]

  // attention: h' = h + o, o = a·Woᵀ, a = attention(rope(q), rope(k), v)
  const da = projectBackward(dhMid, act.a, w.wo, { rows, inDim: qDim, outDim: dim }, module('o_proj'), act.y0.o_proj, grads); // [rows, qDim]
  const kv = cache.layers[layer];
  const { dq, dk, dv } = attentionBackward(da, act.q, kv.k, kv.v, { rows, pos0, nHeads, nKvHeads, headDim }); // dq [rows, qDim]; dk, dv [rows, kvDim]
  const dq0 = ropeBackward(dq, rows, nHeads, headDim, pos0, ropeTheta); // [rows, qDim]
  const dk0 = ropeBackward(dk, rows, nKvHeads, headDim, pos0, ropeTheta); // [rows, kvDim]
  const dx = projectBackward(dq0, act.x, w.wq, { rows, inDim: dim, outDim: qDim }, module('q_proj'), act.y0.q_proj, grads); // [rows, dim]
  addInPlace(dx, projectBackward(dk0, act.x, w.wk, { rows, inDim: dim, outDim: kvDim }, module('k_proj'), act.y0.k_proj, grads));
  addInPlace(dx, projectBackward(dv, act.x, w.wv, { rows, inDim: dim, outDim: kvDim }, module('v_proj'), act.y0.v_proj, grads));
  return add(dhMid, rmsnormBackward(dx, act.h, w.attnNorm, rows, dim, rmsNormEps)); // [rows, dim]
}
