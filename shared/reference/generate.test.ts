import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../model/random';
import { createKVCache, forward } from './forward';
import { generate } from './generate';
import { Sampler, argmax } from './sampling';
import { testAdapter } from './test-adapters';

const config = tinyConfig();
const model = randomModel(config, 51, { std: 0.5 });
const PROMPT = [1, 7, 3];

/** Greedy decoding by recomputing the whole sequence each step (no cache reuse). */
function greedyByPrefill(promptIds: number[], n: number): number[] {
  const seq = promptIds.slice();
  for (let i = 0; i < n; i++) {
    const logits = forward(model, seq, createKVCache(config, seq.length), undefined, { lastOnly: true });
    seq.push(argmax(logits));
  }
  return seq.slice(promptIds.length);
}

describe('generate', () => {
  it('greedy generation equals argmax of full recomputation; maxTokens counts generated tokens', () => {
    const expected = greedyByPrefill(PROMPT, 12);
    const out = generate({ model, promptIds: PROMPT, maxTokens: 12, sampling: { temperature: 0 }, stopIds: [] });
    expect(out).toEqual({ ids: expected, finishReason: 'length' });
    expect(generate({ model, promptIds: PROMPT, maxTokens: 0 })).toEqual({ ids: [], finishReason: 'length' });
  });

  it('stops at a stop id (not included), by default the model EOS', () => {
    const expected = greedyByPrefill(PROMPT, 12);
    const stopAt = 4;
    const stopId = expected[stopAt];
    const firstIndex = expected.indexOf(stopId);
    const out = generate({ model, promptIds: PROMPT, maxTokens: 12, sampling: { temperature: 0 }, stopIds: [stopId] });
    expect(out).toEqual({ ids: expected.slice(0, firstIndex), finishReason: 'stop' });
    const eosModel = { ...model, config: { ...config, eosTokenIds: [stopId] } };
    expect(generate({ model: eosModel, promptIds: PROMPT, maxTokens: 12, sampling: { temperature: 0 } }).finishReason).toBe('stop');
  });

  it('onToken sees each kept token; shouldStop ends generation (stop sequences)', () => {
    const seen: number[] = [];
    const out = generate({
      model,
      promptIds: PROMPT,
      maxTokens: 20,
      sampling: { temperature: 0.8, seed: 3 },
      stopIds: [],
      onToken: (id) => seen.push(id),
      shouldStop: (ids) => ids.length === 5,
    });
    expect(out.ids).toHaveLength(5);
    expect(out.finishReason).toBe('stop');
    expect(seen).toEqual(out.ids);
  });

  it('the same seed repeats a sampled generation; a Sampler continues its stream', () => {
    const run = (seed: number) => generate({ model, promptIds: PROMPT, maxTokens: 15, sampling: { temperature: 1.2, topP: 0.95, seed }, stopIds: [] }).ids;
    expect(run(9)).toEqual(run(9));
    expect(run(9)).not.toEqual(run(10));
    const sampler = new Sampler({ temperature: 1, seed: 4 });
    const a = generate({ model, promptIds: PROMPT, maxTokens: 5, sampling: sampler, stopIds: [] }).ids;
    const b = generate({ model, promptIds: PROMPT, maxTokens: 5, sampling: sampler, stopIds: [] }).ids;
    const both = generate({ model, promptIds: PROMPT, maxTokens: 5, sampling: new Sampler({ temperature: 1, seed: 4 }), stopIds: [] }).ids;
    expect(a).toEqual(both);
    expect(b).not.toEqual(a);
  });

  it('stops at the context length with finishReason length', () => {
    const small = randomModel(tinyConfig({ maxSeqLen: 8 }), 52);
    const out = generate({ model: small, promptIds: PROMPT, maxTokens: 100, sampling: { temperature: 0 }, stopIds: [] });
    expect(out).toEqual({ ids: expect.any(Array), finishReason: 'length' });
    expect(out.ids).toHaveLength(8 - PROMPT.length + 1); // the last token is never fed back
    expect(() => generate({ model: small, promptIds: new Array(9).fill(1), maxTokens: 1 })).toThrow(/overflow|max_position/);
    expect(() => generate({ model, promptIds: [], maxTokens: 1 })).toThrow(/empty/);
  });

  it('runs with an adapter (prompt tuning + module adapters) and matches recomputation', () => {
    const { adapter } = testAdapter(config, 5, { output: ['q_proj', 'v_proj'], nVirtual: 2, scale: 0.3 });
    const out = generate({ model, promptIds: PROMPT, maxTokens: 6, sampling: { temperature: 0 }, stopIds: [], adapter });
    const seq = PROMPT.slice();
    for (let i = 0; i < 6; i++) seq.push(argmax(forward(model, seq, createKVCache(config, seq.length + 2), adapter, { lastOnly: true })));
    expect(out.ids).toEqual(seq.slice(PROMPT.length));
    expect(out.ids).not.toEqual(greedyByPrefill(PROMPT, 6));
  });
});
