/**
 * The adapters inside the reference model (shared/reference):
 *  - forward with the adapter at its taps = forward of mergeAdapter(model, adapter)
 *    (norm-wise relative error of the logits ≤ 1e-5 in float32, ≤ 1e-10 in float64), with
 *    random non-zero parameters that move the logits far more than the tolerance;
 *  - prompt tuning: forward with the adapter = forwardEmbeddings of [virtual rows; token rows];
 *  - lossAndGradients' adapter gradients = central differences of the loss, float64 model,
 *    on randomly picked parameters: |fd − analytic| ≤ 1e-6·max|analytic of that tensor| + 1e-10.
 *    The parameters are float32: the difference quotient divides by the actual float32 step.
 *    DoRA's norms stay fixed while differencing (PEFT's gradient treats them as constants).
 */
import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../model/random';
import type { Floats, Model, ModelConfig } from '../model/types';
import { createKVCache, forward, forwardEmbeddings, lossAndGradients } from '../reference';
import { relativeError } from '../util';
import { Rng } from '../util/rng';
import { baseFromModel, type PeftAdapter } from './adapter';
import { createIa3, createLora, createPromptTuning } from './create';
import { mergeAdapter } from './merge';
import { PROMPT_EMBEDDINGS_KEY } from './modules';
import type { ModuleName } from './taps';
import { randomArray } from './test-support';

const ALL: ModuleName[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const TOKENS = [1, 5, 9, 3, 30, 7, 12];

/** Adds seeded noise to every parameter (B ≠ 0, l ≠ 1, m ≠ ‖W‖), then refreshes DoRA's norms. */
function randomize(a: PeftAdapter, seed: number, scale: number): PeftAdapter {
  let k = seed;
  for (const p of a.params.values()) {
    const noise = randomArray(p.length, k++, scale);
    for (let i = 0; i < p.length; i++) p[i] += noise[i];
  }
  a.refresh();
  return a;
}

type Make = (config: ModelConfig, model: Model) => PeftAdapter;
const ADAPTERS: [string, Make][] = [
  ['LoRA', (c) => createLora({ modelConfig: c, r: 4, alpha: 8, targetModules: ALL, seed: 1 })],
  [
    'rsLoRA + rank_pattern + alpha_pattern + layers_to_transform',
    (c) =>
      createLora({
        modelConfig: c,
        r: 4,
        alpha: 8,
        targetModules: ['q_proj', 'v_proj', 'o_proj', 'down_proj'],
        seed: 2,
        useRslora: true,
        rankPattern: { v_proj: 2, 'layers.1.mlp.down_proj': 6 },
        alphaPattern: { o_proj: 3 },
        layersToTransform: [1],
      }),
  ],
  ['DoRA', (c, m) => createLora({ modelConfig: c, ...baseFromModel(m), r: 3, alpha: 6, targetModules: ALL, seed: 3, useDora: true })],
  ['IA3', (c) => createIa3({ modelConfig: c, targetModules: ALL, feedforwardModules: ['o_proj', 'down_proj'] })],
];

const MODELS: [string, ModelConfig][] = [
  ['Llama (GQA)', tinyConfig()],
  ['Qwen2 (q/k/v biases, tied embeddings)', tinyConfig({ architecture: 'Qwen2ForCausalLM', attentionBias: true, tieWordEmbeddings: true })],
];

function logits(model: Model, adapter?: PeftAdapter): Floats {
  return forward(model, TOKENS, createKVCache(model.config, 32, model.weights.embed instanceof Float64Array), adapter);
}

describe('forward with the adapter at its taps = forward of the merged model', () => {
  for (const [modelName, config] of MODELS) {
    for (const float64 of [false, true]) {
      for (const [name, make] of ADAPTERS) {
        it(`${name} on ${modelName}, ${float64 ? 'float64' : 'float32'}`, () => {
          const model = randomModel(config, 7, { float64, std: 0.2 });
          const adapter = randomize(make(config, model), 11, 0.3);
          const withAdapter = logits(model, adapter);
          const merged = logits(mergeAdapter(model, adapter));
          const tol = float64 ? 1e-10 : 1e-5;
          expect(relativeError(withAdapter, merged)).toBeLessThanOrEqual(tol);
          // the adapter matters: the test could fail
          expect(relativeError(logits(model), merged)).toBeGreaterThan(1000 * tol);
        });
      }
    }
  }

  it('a freshly created adapter is the identity (B = 0, l = 1, m = ‖W‖)', () => {
    const config = tinyConfig();
    const model = randomModel(config, 7, { float64: true, std: 0.2 });
    for (const [, make] of ADAPTERS) expect(relativeError(logits(model, make(config, model)), logits(model))).toBeLessThanOrEqual(1e-6);
  });
});

describe('prompt tuning in the reference forward', () => {
  it('equals the forward of [virtual rows; token embeddings], and differs from the plain forward', () => {
    const config = tinyConfig();
    const model = randomModel(config, 8, { float64: true, std: 0.2 });
    const adapter = createPromptTuning({ modelConfig: config, numVirtualTokens: 3, seed: 5 });
    const got = logits(model, adapter);
    const { dim, vocabSize } = config;
    const emb = new Float64Array((3 + TOKENS.length) * dim);
    emb.set(adapter.promptEmbeddings!);
    TOKENS.forEach((t, i) => emb.set(model.weights.embed.subarray(t * dim, (t + 1) * dim), (3 + i) * dim));
    const all = forwardEmbeddings(model, emb, createKVCache(config, 32, true));
    const want = all.subarray(3 * vocabSize);
    expect(got).toHaveLength(TOKENS.length * vocabSize);
    expect(relativeError(got, want)).toBeLessThanOrEqual(1e-12);
    expect(relativeError(logits(model), want)).toBeGreaterThan(1e-3);
  });
});

describe('lossAndGradients: adapter gradients = finite differences of the loss (float64 model)', () => {
  const config = tinyConfig({ architecture: 'Qwen2ForCausalLM', attentionBias: true });
  const targets = [5, 9, 3, 30, 7, 12, 2];
  const mask = [0, 1, 1, 1, 0, 1, 1];
  const cases: [string, Make][] = [
    ...ADAPTERS,
    ['prompt tuning', (c) => createPromptTuning({ modelConfig: c, numVirtualTokens: 3, seed: 6 })],
  ];
  for (const [name, make] of cases) {
    it(name, () => {
      const model = randomModel(config, 9, { float64: true, std: 0.2 });
      const adapter = randomize(make(config, model), 13, name === 'prompt tuning' ? 0 : 0.3);
      const loss = () => lossAndGradients(model, TOKENS, targets, mask, adapter).loss;
      const res = lossAndGradients(model, TOKENS, targets, mask, adapter);
      if (res.promptEmbeddingGrad) res.grads.set(PROMPT_EMBEDDINGS_KEY, res.promptEmbeddingGrad);
      expect([...res.grads.keys()].sort()).toEqual([...adapter.params.keys()].sort());
      const rng = new Rng(17);
      let checked = 0;
      for (const [key, p] of adapter.params) {
        const g = res.grads.get(key)!;
        const gmax = Math.max(...g.map(Math.abs));
        expect(gmax, key).toBeGreaterThan(0);
        for (let n = 0; n < 3; n++) {
          const i = rng.nextInt(p.length);
          const v = p[i];
          p[i] = v + 1e-4;
          const up = loss();
          const hi = p[i];
          p[i] = v - 1e-4;
          const down = loss();
          const lo = p[i];
          p[i] = v;
          const fd = (up - down) / (hi - lo); // the actual float32 step
          expect(Math.abs(fd - g[i]), `${key}[${i}]: fd ${fd} vs ${g[i]}`).toBeLessThanOrEqual(1e-6 * gmax + 1e-10);
          checked++;
        }
      }
      expect(checked).toBeGreaterThanOrEqual(3);
    });
  }
});
