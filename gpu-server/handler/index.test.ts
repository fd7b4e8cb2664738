import { relativeError as relErr } from '../../shared/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeftAdapter } from '../../shared/adapters';
import { randomModel, tinyConfig } from '../../shared/model/random';
import { channelPair } from '../../shared/protocol/channel';
import { createKVCache, forward } from '../../shared/reference/forward';
import { lossAndGradients } from '../../shared/reference/train';
import { SplitSession } from '../../shared/split';
import { createBackend } from '../backend';
import type { Backend } from '../backend/types';
import { Engine } from '../engine';
import type { BatchObserver } from '../engine/batcher';
import { distinctAdapters, testAdapters, testToken, TEST_SECRET } from '../testing/fixtures';
import { Connection } from './index';

const model = randomModel(tinyConfig({ attentionBias: true, tieWordEmbeddings: false }), 21);
const adapters = testAdapters(model);

/** A fingerprint of every frozen weight, to assert the base stays frozen through training. */
function weightsFingerprint(): number {
  const { embed, layers, finalNorm, lmHead } = model.weights;
  let h = 0;
  for (const a of [embed, finalNorm, lmHead, ...layers.flatMap((l) => Object.values(l))]) for (let i = 0; i < a.length; i++) h = (h * 31 + a[i] * 1e6) % 1e12;
  return h;
}
const frozenBefore = weightsFingerprint();

// webgpu runs on lavapipe here and in CI (.ci/install-vulkan.sh), with f32 weights for these bounds.
describe.each(['reference', 'cpu', 'webgpu'] as const)('split execution in process (%s backend)', (kind) => {
  let backend: Backend;
  let engine: Engine;
  let largestBatch = 0;
  const usedTokens = new Map<string, number>();

  beforeAll(async () => {
    backend = await createBackend(model, kind, { weights: 'f32' });
    const onBatch: BatchObserver = (e) => {
      largestBatch = Math.max(largestBatch, e.requests);
    };
    engine = new Engine(model, backend, { maxBatchRows: 256, onBatch });
  });
  afterAll(() => backend.dispose());

  async function open(mode: 'inference' | 'training', adapter?: PeftAdapter, tenant = 'tenant-a') {
    const [client, server] = channelPair();
    new Connection(server, { engine, secret: TEST_SECRET, maxFrameBytes: 1 << 24, usedTokens });
    return SplitSession.open(client, { token: await testToken(tenant), mode, maxContext: 32, config: model.config, adapter });
  }

  it('keeps a prompt-tuning session\'s virtual tokens in an array of their own, not a view holding the open message', async () => {
    const [client, server] = channelPair();
    const conn = new Connection(server, { engine, secret: TEST_SECRET, maxFrameBytes: 1 << 24, usedTokens });
    const session = await SplitSession.open(client, { token: await testToken(), mode: 'inference', maxContext: 32, config: model.config, adapter: adapters.prompt });
    const prompt = conn.session!.prompt!;
    expect(prompt.length).toBe(3 * model.config.dim);
    expect(prompt.buffer.byteLength).toBe(prompt.byteLength);
    session.close();
  });

  it.each([undefined, ...Object.keys(adapters)])('adapter %s: prefill and decode logits equal the reference forward (≤ 1e-4 relative)', async (name) => {
    const adapter = name ? adapters[name] : undefined;
    const session = await open('inference', adapter);
    const cache = createKVCache(model.config, 40);
    const prompt = [1, 5, 9, 2, 30];
    let step = await session.forward(prompt, { returnLogits: true });
    let ref = forward(model, prompt, cache, adapter);
    expect(relErr(step.logits!, ref)).toBeLessThan(1e-4);
    for (let i = 0; i < 4; i++) {
      const next = step.token!;
      step = await session.forward([next], { returnLogits: true });
      ref = forward(model, [next], cache, adapter);
      expect(relErr(step.logits!, ref)).toBeLessThan(1e-4);
    }
    session.close();
  });

  it('logprobs: the token\'s log-probability and the k most likely, as the reference log-softmax ranks them', async () => {
    const session = await open('inference');
    const cache = createKVCache(model.config, 40);
    const prompt = [1, 5, 9, 2, 30];
    const step = await session.forward(prompt, { logprobs: 5 });
    const logits = Array.from(forward(model, prompt, cache).subarray(-model.config.vocabSize));
    const max = Math.max(...logits);
    const logSum = Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0)) + max;
    const logp = Array.from(logits, (l) => l - logSum);
    const ranked = logp.map((_, i) => i).sort((a, b) => logp[b] - logp[a] || a - b).slice(0, 5);
    expect(step.topLogprobs!.map((t) => t.token)).toEqual(ranked);
    step.topLogprobs!.forEach((t) => expect(t.logprob).toBeCloseTo(logp[t.token], 4));
    expect(step.logprob).toBeCloseTo(logp[step.token!], 4);
    session.close();
  });

  it.each(Object.keys(adapters))('adapter %s: a training step gives the reference gradients (≤ 1e-4 relative)', async (name) => {
    const adapter = adapters[name];
    const session = await open('training', adapter);
    const tokens = [1, 7, 3, 22, 9, 14];
    const targets = [7, 3, 22, 9, 14, 2];
    const mask = [0, 1, 1, 1, 1, 1];
    const { loss } = await session.trainForward(tokens, targets, mask);
    // The activations accounted against the tenant are exactly the ones kept.
    const kept = engine.sessions.get(session.sessionId)!;
    // Host arrays and device tensors alike report their byteLength.
    const bytes = (t: unknown) => (t as { byteLength: number }).byteLength;
    const actual = kept.trace!.layers.reduce((b, t) => b + bytes(t.h) + bytes(t.q) + bytes(t.hMid) + bytes(t.g) + bytes(t.u), bytes(kept.trace!.dhFinal));
    expect(kept.traceBytes).toBe(actual);
    const { grads, promptGrad } = await session.backward();
    const ref = lossAndGradients(model, tokens, targets, mask, adapter);
    expect(Math.abs(loss! - ref.loss) / ref.loss).toBeLessThan(1e-5);
    if (name === 'prompt') {
      expect(relErr(promptGrad!, ref.promptEmbeddingGrad!)).toBeLessThan(1e-4);
    } else {
      expect([...grads.keys()].sort()).toEqual([...ref.grads.keys()].sort());
      for (const [key, g] of ref.grads) expect(relErr(grads.get(key)!, g), key).toBeLessThan(1e-4);
    }
    session.close();
  });

  it('32 concurrent sessions with 32 different adapters each get exactly what they get alone', async () => {
    const many = distinctAdapters(model, 32);
    const run = async (i: number) => {
      const session = await open('inference', many[i], `tenant-${i % 4}`);
      const out: number[] = [];
      let step = await session.forward([1, 3 + (i % 7), 11]);
      for (let t = 0; t < 6; t++) {
        out.push(step.token!);
        step = await session.forward([step.token!]);
      }
      session.close();
      return out;
    };
    const alone: number[][] = [];
    for (let i = 0; i < 32; i++) alone.push(await run(i));
    largestBatch = 0;
    const together = await Promise.all(Array.from({ length: 32 }, (_, i) => run(i)));
    expect(together).toEqual(alone);
    expect(largestBatch).toBeGreaterThanOrEqual(16); // they really shared batched ops
  });

  // Steps share the engine's pooled activations (backend/host-pool.ts on the host, webgpu's
  // buffer pool): an array one step still needed, handed to another, would change its numbers.
  it('training steps of every adapter type, run all at once beside decoding sessions, each give what they give alone', async () => {
    const names = Object.keys(adapters);
    const tokens = [1, 7, 3, 22, 9, 14, 5, 30];
    const step = async (name: string, i: number) => {
      const session = await open('training', adapters[name], `tenant-${i}`);
      const { loss } = await session.trainForward(tokens, [...tokens.slice(1), 2], tokens.map((_, t) => (t === 0 ? 0 : 1)));
      const { grads, promptGrad } = await session.backward();
      session.close();
      const all = new Map<string, ArrayLike<number>>(grads);
      if (promptGrad) all.set('prompt', promptGrad);
      return { loss: loss!, grads: all };
    };
    const decode = async (i: number) => {
      const session = await open('inference', undefined, `reader-${i}`);
      let next = (await session.forward([2, 4 + i, 6])).token!;
      for (let t = 0; t < 5; t++) next = (await session.forward([next])).token!;
      session.close();
      return next;
    };
    const alone: Awaited<ReturnType<typeof step>>[] = [];
    for (const [i, name] of names.entries()) alone.push(await step(name, i));
    const decodedAlone = [await decode(0), await decode(1)];
    largestBatch = 0;
    const [together, decodedTogether] = await Promise.all([Promise.all(names.map((name, i) => step(name, i))), Promise.all([decode(0), decode(1)])]);
    expect(largestBatch).toBeGreaterThanOrEqual(2); // they really shared batched ops
    expect(decodedTogether).toEqual(decodedAlone);
    together.forEach((t, i) => {
      expect(Math.abs(t.loss - alone[i].loss), names[i]).toBeLessThanOrEqual(1e-6 * Math.abs(alone[i].loss));
      expect([...t.grads.keys()].sort()).toEqual([...alone[i].grads.keys()].sort());
      for (const [key, g] of alone[i].grads) expect(relErr(t.grads.get(key)!, g), `${names[i]} ${key}`).toBeLessThan(1e-6);
    });
  });

  it('leaves the frozen base weights untouched after training steps of every adapter type', () => {
    expect(weightsFingerprint()).toBe(frozenBefore);
  });
});
