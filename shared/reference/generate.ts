/**
 * Autoregressive generation with the reference forward: prefill the prompt, then decode one
 * token at a time over the KV cache until a stop id, the caller's shouldStop, maxTokens, or the
 * model's context length.
 */
import type { Model } from '../model/types';
import type { TapAdapter } from '../adapters/taps';
import { createKVCache, forward, isFloat64 } from './forward';
import { Sampler, type SamplingParams } from './sampling';

export interface GenerateOptions {
  model: Model;
  /** The prompt's token ids (at least one, usually starting with BOS). */
  promptIds: readonly number[];
  /** The most tokens to generate (a stop id counts as generated). */
  maxTokens: number;
  /** Parameters, or a Sampler (to continue its random stream); default temperature 1. */
  sampling?: SamplingParams | Sampler;
  /** Ids that end generation (not included in the result); default the model's eosTokenIds. */
  stopIds?: readonly number[];
  adapter?: TapAdapter;
  /** Called with each token kept in the result, as soon as it is chosen. */
  onToken?: (id: number) => void;
  /** Called after each kept token with all generated ids so far; true ends generation (stop sequences). */
  shouldStop?: (ids: readonly number[]) => boolean;
}

export interface GenerateResult {
  /** Generated ids, without the stop id. */
  ids: number[];
  /** 'stop': a stop id or shouldStop; 'length': maxTokens or the context length was reached. */
  finishReason: 'stop' | 'length';
}

export function generate(opts: GenerateOptions): GenerateResult {
  const { model, promptIds, maxTokens, adapter, onToken, shouldStop } = opts;
  const { config } = model;
  if (promptIds.length === 0) throw new Error('generate: the prompt is empty (start it with BOS)');
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new Error(`generate: maxTokens must be an integer ≥ 0, got ${maxTokens}`);
  const ids: number[] = [];
  if (maxTokens === 0) return { ids, finishReason: 'length' };
  const sampler = opts.sampling instanceof Sampler ? opts.sampling : new Sampler(opts.sampling);
  const stop = new Set(opts.stopIds ?? config.eosTokenIds);

  const nVirtual = adapter?.promptEmbeddings ? adapter.promptEmbeddings.length / config.dim : 0;
  const needed = nVirtual + promptIds.length + maxTokens - 1; // the last token is never fed back
  const cache = createKVCache(config, Math.min(needed, config.maxSeqLen), isFloat64(model));
  let logits = forward(model, promptIds, cache, adapter, { lastOnly: true }); // [1, vocab]
  for (;;) {
    const id = sampler.sample(logits);
    if (stop.has(id)) return { ids, finishReason: 'stop' };
    ids.push(id);
    onToken?.(id);
    if (shouldStop?.(ids)) return { ids, finishReason: 'stop' };
    if (ids.length >= maxTokens || cache.length >= cache.maxSeq) return { ids, finishReason: 'length' };
    logits = forward(model, [id], cache, adapter); // [1, vocab]
  }
}
