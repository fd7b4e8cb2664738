/**
 * Training through split execution against a real `symbiosis serve` process: for every adapter
 * method, the gradients a training step returns equal finite differences of the server's loss
 * (directional derivative along a random direction), and a few optimizer steps lower the loss.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAdapters } from '../gpu-server/testing/fixtures';
import { connect } from '../gpu-server/client';
import { spawnServe, type ServeProcess } from '../cli/stack/serve-process';
import type { PeftAdapter } from '../shared/adapters';
import { loadModelDirectory } from '../shared/model/directory';
import type { Model } from '../shared/model/types';
import { ensureDefaultModel } from '../shared/node/default-model';
import { folderSource } from '../shared/node/files';
import { newTokenId, signSessionToken } from '../shared/protocol/token';
import { SplitSession } from '../shared/split';
import { buildSequences, DataStream, tokenizeExample } from '../shared/train/data';
import { Trainer } from '../shared/train/trainer';
import { Tokenizer } from '../shared/tokenizer';
import { Rng } from '../shared/util';
import { MODEL_DIR } from './edge/stack';

const SECRET = 'train-split-secret-0123456789';

describe('training through a real base-model server (stories260K)', () => {
  let server: ServeProcess;
  let model: Model;
  let tokenizer: Tokenizer;
  let adapters: Record<string, PeftAdapter>;

  async function open(adapter: PeftAdapter, maxContext: number): Promise<SplitSession> {
    const token = await signSessionToken({ tenant: 't', exp: Math.floor(Date.now() / 1000) + 600, jti: newTokenId(), limits: { maxSessions: 8, maxContext: 512, maxMemoryBytes: 2 ** 30 } }, SECRET);
    return SplitSession.open(await connect(server.url), { token, mode: 'training', maxContext, config: model.config, adapter });
  }

  beforeAll(async () => {
    const dir = await ensureDefaultModel(MODEL_DIR);
    const loaded = await loadModelDirectory(folderSource(dir));
    model = loaded.model;
    tokenizer = Tokenizer.fromFiles(loaded.tokenizerJson as object, loaded.tokenizerConfig as object);
    adapters = testAdapters(model);
    server = await spawnServe({ modelDir: dir, secret: SECRET, port: 0 });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  const text = 'Once upon a time, there was a girl named Zara. Zara liked to run in the park with her dog.';

  async function lossAt(adapter: PeftAdapter, tokens: number[], targets: number[], mask: number[]): Promise<number> {
    const s = await open(adapter, tokens.length);
    try {
      return (await s.trainForward(tokens, targets, mask)).loss!;
    } finally {
      s.close();
    }
  }

  it.each(['lora', 'dora', 'ia3', 'prompt'])('%s: step gradients equal finite differences of the loss', async (name) => {
    const adapter = adapters[name];
    const [seq] = buildSequences([tokenizeExample({ text }, tokenizer)], 64, false);
    const s = await open(adapter, seq.tokens.length);
    await s.trainForward(seq.tokens, seq.targets, seq.mask);
    const { grads, promptGrad } = await s.backward();
    s.close();
    if (promptGrad) grads.set('prompt_embeddings', Float64Array.from(promptGrad));

    // A unit direction half along the gradient and half random (so a wrong direction or scale
    // both show), and the directional derivative by central differences of the server's loss.
    const rng = new Rng(7);
    const unit = (m: Map<string, Float64Array>) => {
      const n = Math.sqrt([...m.values()].reduce((s, a) => s + a.reduce((t, x) => t + x * x, 0), 0));
      for (const a of m.values()) a.forEach((x, i) => (a[i] = x / n));
      return m;
    };
    const random = unit(new Map([...adapter.params].map(([k, p]) => [k, Float64Array.from(p, () => rng.nextFloat() - 0.5)])));
    const along = unit(new Map([...adapter.params].map(([k, p]) => [k, Float64Array.from(grads.get(k) ?? new Float64Array(p.length))])));
    const dir = unit(new Map([...random].map(([k, r]) => [k, r.map((x, i) => x + along.get(k)![i])])));
    let analytic = 0;
    for (const [k, d] of dir) {
      const g = grads.get(k);
      if (g) for (let i = 0; i < d.length; i++) analytic += g[i] * d[i];
    }
    // DoRA's gradient treats the row norms as constants (as PEFT does), so the norms stay fixed here too.
    const refresh = () => {
      if (adapter.type !== 'DORA') adapter.refresh();
    };
    // Small, because the loss is strongly curved here (|g| up to ~30); float32 noise is far below.
    const h = 5e-4;
    const shifted = async (sign: number) => {
      const saved = new Map([...adapter.params].map(([k, p]) => [k, p.slice()]));
      for (const [k, p] of adapter.params) for (let i = 0; i < p.length; i++) p[i] += sign * h * dir.get(k)![i];
      refresh();
      try {
        return await lossAt(adapter, seq.tokens, seq.targets, seq.mask);
      } finally {
        for (const [k, p] of adapter.params) p.set(saved.get(k)!);
        refresh();
      }
    };
    const numeric = ((await shifted(1)) - (await shifted(-1))) / (2 * h);
    expect(Math.abs(analytic)).toBeGreaterThan(1e-3);
    expect(Math.abs(numeric - analytic) / Math.abs(analytic)).toBeLessThan(1e-2);
  });

  it('AdamW steps through the server lower the training loss (LoRA)', async () => {
    const adapter = testAdapters(model).lora;
    const seqs = buildSequences([tokenizeExample({ text }, tokenizer)], 64, false);
    const trainer = new Trainer(adapter, open, new DataStream(seqs, 1), { lr: 1e-2, warmupSteps: 1, totalSteps: 8, minRatio: 0.1, weightDecay: 0, maxGradNorm: 1, gradAccum: 1 });
    const before = await trainer.validate(seqs);
    for (let i = 0; i < 8; i++) await trainer.trainStep();
    expect(await trainer.validate(seqs)).toBeLessThan(before - 0.1);
  });
});
