/**
 * The engine on the WebGPU backend, in process: a split-execution session's forward logits and a
 * training step's loss and adapter gradients (trainForward, then backward through every frozen
 * linear's linearBackward on the device) equal the reference, for every adapter type — the same
 * bounds as the reference and CPU backends in gpu-server/handler/index.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeftAdapter } from '../../../shared/adapters';
import { randomModel, tinyConfig } from '../../../shared/model/random';
import { channelPair } from '../../../shared/protocol/channel';
import { createKVCache, forward } from '../../../shared/reference/forward';
import { lossAndGradients } from '../../../shared/reference/train';
import { SplitSession } from '../../../shared/split';
import { relativeError as relErr } from '../../../shared/util';
import { Engine } from '../../engine';
import { Connection } from '../../handler';
import { testAdapters, testToken, TEST_SECRET } from '../../testing/fixtures';
import { WebGpuBackend } from './index';

const model = randomModel(tinyConfig({ attentionBias: true, tieWordEmbeddings: false }), 21);
const adapters = testAdapters(model);

describe('split execution in process on the webgpu backend', () => {
  let backend: WebGpuBackend;
  let engine: Engine;
  const usedTokens = new Map<string, number>();

  beforeAll(async () => {
    backend = await WebGpuBackend.create(model, { weights: 'f32' });
    engine = new Engine(model, backend, { maxBatchRows: 256 });
  });
  afterAll(() => backend?.dispose());

  async function open(mode: 'inference' | 'training', adapter?: PeftAdapter) {
    const [client, server] = channelPair();
    new Connection(server, { engine, secret: TEST_SECRET, maxFrameBytes: 1 << 24, usedTokens });
    return SplitSession.open(client, { token: await testToken('tenant-a'), mode, maxContext: 32, config: model.config, adapter });
  }

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

  it.each(Object.keys(adapters))('adapter %s: a training step gives the reference loss (≤ 1e-5) and gradients (≤ 1e-4 relative)', async (name) => {
    const adapter = adapters[name];
    const session = await open('training', adapter);
    const tokens = [1, 7, 3, 22, 9, 14];
    const targets = [7, 3, 22, 9, 14, 2];
    const mask = [0, 1, 1, 1, 1, 1];
    const { loss } = await session.trainForward(tokens, targets, mask);
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
});
