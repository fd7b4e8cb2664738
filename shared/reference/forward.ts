/**
 * The forward pass of a Llama-family decoder (Llama, Mistral, Qwen2), float32 or float64 as the
 * model's arrays are, over a KV cache. One call runs any number of new rows (a prefill; a decode
 * step is one row) and appends their keys and values to the cache.
 *
 *   x = embed(tokens)                         (prompt tuning: virtual tokens prepended)
 *   for each layer:
 *     h' = h + attention(rope(q), rope(k), v) · Woᵀ     q, k, v = rmsnorm₁(h) · Wq,k,vᵀ (+ bias)
 *     h'' = h' + (silu(g) ⊙ u) · Wdownᵀ                g, u = rmsnorm₂(h') · Wgate,upᵀ
 *   logits = rmsnorm_f(h) · lm_headᵀ
 *
 * An adapter acts at each module through `project` (see modules.ts and shared/adapters/taps.ts).
 */
import type { Floats, Model, ModelConfig } from '../model/types';
import type { ModuleName, TapAdapter } from '../adapters/taps';
import { add, attention, checkShape, concatRows, conform, gather, linear, rmsnorm, rope, siluMul } from './ops';
import { project } from './modules';

// ─── KV cache ───────────────────────────────────────────────────────────────────────────────

export interface LayerKV<T extends Floats = Floats> {
  k: T; // [maxSeq, nKvHeads*headDim], keys after RoPE
  v: T; // [maxSeq, nKvHeads*headDim]
}

export interface KVCache<T extends Floats = Floats> {
  readonly maxSeq: number;
  readonly layers: LayerKV<T>[]; // [nLayers]
  /** Positions filled so far (virtual prompt tokens included); the next row goes here. */
  length: number;
}

export function createKVCache(config: ModelConfig, maxSeq: number): KVCache<Float32Array>;
export function createKVCache(config: ModelConfig, maxSeq: number, float64: boolean): KVCache;
export function createKVCache(config: ModelConfig, maxSeq: number, float64 = false): KVCache {
  if (!Number.isInteger(maxSeq) || maxSeq <= 0) throw new Error(`createKVCache: maxSeq must be a positive integer, got ${maxSeq}`);
  if (maxSeq > config.maxSeqLen) throw new Error(`createKVCache: maxSeq ${maxSeq} exceeds the model's max_position_embeddings ${config.maxSeqLen}`);
  const n = maxSeq * config.nKvHeads * config.headDim;
  const make = () => (float64 ? new Float64Array(n) : new Float32Array(n));
  const layers: LayerKV[] = [];
  for (let l = 0; l < config.nLayers; l++) layers.push({ k: make(), v: make() });
  return { maxSeq, layers, length: 0 };
}

/** Whether the model computes in float64 (its arrays are Float64Array). */
export function isFloat64(model: Model): boolean {
  return model.weights.embed instanceof Float64Array;
}

// ─── one decoder layer ──────────────────────────────────────────────────────────────────────

/** What one layer's forward keeps for the backward pass (train.ts). Shapes for `rows` rows. */
export interface LayerActivations {
  pos0: number;
  h: Floats; // [rows, dim]      the layer's input
  x: Floats; // [rows, dim]      rmsnorm₁(h): input of q_proj, k_proj, v_proj
  q: Floats; // [rows, qDim]     queries after RoPE
  a: Floats; // [rows, qDim]     attention output: input of o_proj
  hMid: Floats; // [rows, dim]   h' = h + o
  x2: Floats; // [rows, dim]     rmsnorm₂(h'): input of gate_proj, up_proj
  g: Floats; // [rows, hiddenDim]
  u: Floats; // [rows, hiddenDim]
  m: Floats; // [rows, hiddenDim] silu(g) ⊙ u: input of down_proj
  y0: Partial<Record<ModuleName, Floats>>; // frozen outputs of output-form modules
}

/** h [rows, dim] at positions pos0… → h'' [rows, dim]; writes this layer's K, V into the cache. */
export function layerForward<T extends Floats>(
  model: Model,
  layer: number,
  h: T,
  rows: number,
  pos0: number,
  cache: KVCache,
  adapter?: TapAdapter,
  keep?: LayerActivations[],
): T {
  const { dim, hiddenDim, nHeads, nKvHeads, headDim, ropeTheta, rmsNormEps } = model.config;
  const w = model.weights.layers[layer];
  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  const y0: Partial<Record<ModuleName, Floats>> = {};
  const module = (name: ModuleName) => adapter?.module(layer, name);
  const keepY0 = (name: ModuleName) => (keep ? (y: Floats) => (y0[name] = y) : undefined);

  // attention
  const x = rmsnorm(h, w.attnNorm, rows, dim, rmsNormEps); // [rows, dim]
  const q0 = project(x, w.wq, w.bq, { rows, inDim: dim, outDim: qDim }, module('q_proj'), keepY0('q_proj')); // [rows, qDim]
  const k0 = project(x, w.wk, w.bk, { rows, inDim: dim, outDim: kvDim }, module('k_proj'), keepY0('k_proj')); // [rows, kvDim]
  const v = project(x, w.wv, w.bv, { rows, inDim: dim, outDim: kvDim }, module('v_proj'), keepY0('v_proj')); // [rows, kvDim]
  const q = rope(q0, rows, nHeads, headDim, pos0, ropeTheta); // [rows, qDim]
  const k = rope(k0, rows, nKvHeads, headDim, pos0, ropeTheta); // [rows, kvDim]
  const kv = cache.layers[layer];
  kv.k.set(k, pos0 * kvDim);
  kv.v.set(v, pos0 * kvDim);
  const a = attention(q, kv.k, kv.v, { rows, pos0, nHeads, nKvHeads, headDim }); // [rows, qDim]
  const o = project(a, w.wo, undefined, { rows, inDim: qDim, outDim: dim }, module('o_proj'), keepY0('o_proj')); // [rows, dim]
  const hMid = add(h, o); // [rows, dim]

  // feed-forward (SwiGLU)
  const x2 = rmsnorm(hMid, w.mlpNorm, rows, dim, rmsNormEps); // [rows, dim]
  const g = project(x2, w.wGate, undefined, { rows, inDim: dim, outDim: hiddenDim }, module('gate_proj'), keepY0('gate_proj')); // [rows, hiddenDim]
  const u = project(x2, w.wUp, undefined, { rows, inDim: dim, outDim: hiddenDim }, module('up_proj'), keepY0('up_proj')); // [rows, hiddenDim]
  const m = siluMul(g, u); // [rows, hiddenDim]
  const d = project(m, w.wDown, undefined, { rows, inDim: hiddenDim, outDim: dim }, module('down_proj'), keepY0('down_proj')); // [rows, dim]
  const hOut = add(hMid, d); // [rows, dim]

  keep?.push({ pos0, h, x, q, a, hMid, x2, g, u, m, y0 });
  return hOut;
}

// ─── the whole decoder ──────────────────────────────────────────────────────────────────────

/**
 * The embeddings a sequence starts from: the tokens' rows of the embedding table, after the
 * adapter's virtual prompt tokens when `withPrompt` (the sequence starts here).
 * → x [nVirtual + tokens.length, dim]
 */
export function inputEmbeddings(model: Model, tokens: readonly number[], adapter: TapAdapter | undefined, withPrompt: boolean): { x: Floats; nVirtual: number } {
  const { dim } = model.config;
  const emb = gather(model.weights.embed, tokens, dim); // [tokens, dim]
  const prompt = withPrompt ? adapter?.promptEmbeddings : undefined;
  if (!prompt || prompt.length === 0) return { x: emb, nVirtual: 0 };
  if (prompt.length % dim !== 0) throw new Error(`promptEmbeddings: ${prompt.length} elements is not a whole number of rows of ${dim}`);
  return { x: concatRows(conform(prompt, emb), emb), nVirtual: prompt.length / dim };
}

/** Runs every layer over x [rows, dim] appended at cache.length → final hidden state [rows, dim]. */
export function forwardLayers<T extends Floats>(model: Model, x: T, cache: KVCache, adapter?: TapAdapter, keep?: LayerActivations[]): T {
  const { dim, nLayers } = model.config;
  if (x.length % dim !== 0) throw new Error(`forward: embeddings of ${x.length} elements are not whole rows of ${dim}`);
  const rows = x.length / dim;
  const pos0 = cache.length;
  if (cache.layers.length !== nLayers) throw new Error(`forward: the KV cache has ${cache.layers.length} layers, the model ${nLayers}`);
  if (pos0 + rows > cache.maxSeq) {
    throw new Error(`forward: KV cache overflow: ${pos0} positions filled + ${rows} new rows > capacity ${cache.maxSeq}`);
  }
  let h = x;
  for (let l = 0; l < nLayers; l++) h = layerForward(model, l, h, rows, pos0, cache, adapter, keep);
  cache.length = pos0 + rows;
  return h;
}

/** logits = rmsnorm_f(h) · lm_headᵀ.  h [rows, dim] → logits [rows, vocab] */
export function lmHeadLogits<T extends Floats>(model: Model, h: T, rows: number): T {
  const { dim, vocabSize, rmsNormEps } = model.config;
  checkShape('lmHeadLogits h', h, rows * dim);
  const xf = rmsnorm(h, model.weights.finalNorm, rows, dim, rmsNormEps); // [rows, dim]
  return linear(xf, model.weights.lmHead, undefined, rows, dim, vocabSize); // [rows, vocab]
}

/**
 * Runs embedding rows [rows, dim] (already including any virtual tokens) appended to the cache
 * → logits [rows, vocab].
 */
export function forwardEmbeddings(model: Model, embeddings: Floats, cache: KVCache, adapter?: TapAdapter): Floats {
  const rows = embeddings.length / model.config.dim;
  const h = forwardLayers(model, embeddings, cache, adapter);
  return lmHeadLogits(model, h, rows);
}

export interface ForwardOptions {
  /** Return only the last row's logits [1, vocab] (what generation needs after a prefill). */
  lastOnly?: boolean;
}

/**
 * Runs tokens appended to the cache → logits [tokens.length, vocab] (or [1, vocab] with
 * lastOnly). When the cache is empty and the adapter has promptEmbeddings [n, dim], those n
 * rows go first (cache positions 0…n-1); logits are returned for the real tokens only.
 */
export function forward(model: Model, tokens: readonly number[], cache: KVCache, adapter?: TapAdapter, opts: ForwardOptions = {}): Floats {
  const { dim, vocabSize } = model.config;
  if (tokens.length === 0) return isFloat64(model) ? new Float64Array(0) : new Float32Array(0);
  const { x, nVirtual } = inputEmbeddings(model, tokens, adapter, cache.length === 0);
  const h = forwardLayers(model, x, cache, adapter); // [nVirtual + tokens, dim]
  const first = opts.lastOnly ? nVirtual + tokens.length - 1 : nVirtual;
  const rows = nVirtual + tokens.length - first;
  const logits = lmHeadLogits(model, h.subarray(first * dim), rows);
  checkShape('forward logits', logits, rows * vocabSize);
  return logits;
}
