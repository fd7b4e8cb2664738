/**
 * lossAndGradients on float64 tiny random models against central finite differences of the
 * loss (h = 1e-5): every element of the input- and virtual-token-embedding gradients, and, for
 * the test adapters' parameters, a random directional derivative per parameter tensor plus a few
 * single elements. Tolerance: norm-wise relative error ≤ 1e-5 (observed ~1e-9).
 */
import { describe, expect, it } from 'vitest';
import type { Model, ModelConfig } from '../model/types';
import type { TapAdapter } from '../adapters/taps';
import { randomModel, tinyConfig } from '../model/random';
import { Rng, centralDifference, directionalDerivative, dot, relativeError, relativeErrorScalar } from '../util';
import { createKVCache, forward } from './forward';
import { crossEntropy, gatherBackward } from './ops';
import { lossAndGradients } from './train';
import { testAdapter } from './test-adapters';

const TOL = 1e-5;
const TOKENS = [1, 5, 9, 33, 5, 17, 4, 30];
const TARGETS = [5, 9, 33, 5, 17, 4, 30, 2];
const MASK = [0, 0, 1, 1, 1, 0, 1, 1];
const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

/** The model with an lm_head of its own (same values), so perturbing `embed` moves inputs only. */
function untie(model: Model): Model {
  return { ...model, weights: { ...model.weights, lmHead: model.weights.lmHead.slice() } };
}

function expectEmbeddingGradient(model: Model, adapter?: TapAdapter): void {
  const { dim, vocabSize } = model.config;
  const loss = () => lossAndGradients(model, TOKENS, TARGETS, MASK, adapter).loss;
  const { inputEmbeddingGrad } = lossAndGradients(model, TOKENS, TARGETS, MASK, adapter);
  // dL/d(embed table) = scatter-add of the per-position gradients (token 5 appears twice)
  const tableGrad = gatherBackward(inputEmbeddingGrad, TOKENS, vocabSize, dim);
  const used = [...new Set(TOKENS)];
  const analytic: number[] = [];
  const numeric: number[] = [];
  for (const t of used) {
    for (let i = 0; i < dim; i++) {
      analytic.push(tableGrad[t * dim + i]);
      numeric.push(centralDifference(model.weights.embed, t * dim + i, loss));
    }
  }
  expect(relativeError(analytic, numeric)).toBeLessThan(TOL);
}

const CONFIGS: [string, ModelConfig][] = [
  ['GQA (nKvHeads 2 < nHeads 4)', tinyConfig()],
  ['MHA (nKvHeads = nHeads)', tinyConfig({ nKvHeads: 4 })],
  ['attention bias', tinyConfig({ attentionBias: true })],
  ['tied embeddings, headDim ≠ dim/nHeads', tinyConfig({ tieWordEmbeddings: true, headDim: 6 })],
];

describe('lossAndGradients: the frozen path', () => {
  for (const [name, config] of CONFIGS) {
    it(`${name}: input-embedding gradient equals finite differences (≤ ${TOL})`, () => {
      expectEmbeddingGradient(untie(randomModel(config, 31, { float64: true, std: 0.3 })));
    });
  }

  it('the loss equals the masked cross-entropy of forward()', () => {
    const config = tinyConfig({ attentionBias: true });
    const model = randomModel(config, 32, { std: 0.3 });
    const { loss, inputEmbeddingGrad, grads, promptEmbeddingGrad } = lossAndGradients(model, TOKENS, TARGETS, MASK);
    const logits = forward(model, TOKENS, createKVCache(config, TOKENS.length));
    expect(loss).toBeCloseTo(crossEntropy(logits, TARGETS, MASK, TOKENS.length, config.vocabSize), 5);
    expect(inputEmbeddingGrad.length).toBe(TOKENS.length * config.dim);
    expect(grads.size).toBe(0);
    expect(promptEmbeddingGrad).toBeUndefined();
  });

  it('float32 agrees with float64 (≤ 1e-4 relative)', () => {
    const config = tinyConfig();
    const r32 = lossAndGradients(randomModel(config, 33, { std: 0.3 }), TOKENS, TARGETS, MASK);
    const r64 = lossAndGradients(randomModel(config, 33, { std: 0.3, float64: true }), TOKENS, TARGETS, MASK);
    expect(relativeErrorScalar(r32.loss, r64.loss)).toBeLessThan(1e-6);
    expect(relativeError(r32.inputEmbeddingGrad, r64.inputEmbeddingGrad)).toBeLessThan(1e-4);
  });

  it('masked-out positions do not count; an all-zero mask gives zero loss and gradients', () => {
    const model = randomModel(tinyConfig(), 34, { float64: true, std: 0.3 });
    const a = lossAndGradients(model, TOKENS, TARGETS, MASK);
    const b = lossAndGradients(model, TOKENS, [...TARGETS.slice(0, 5), 0, ...TARGETS.slice(6)], MASK); // target 5 is masked out
    expect(b.loss).toBe(a.loss);
    const z = lossAndGradients(model, TOKENS, TARGETS, MASK.map(() => 0));
    expect(z.loss).toBe(0);
    expect(z.inputEmbeddingGrad.every((v) => v === 0)).toBe(true);
    // a later position's loss never reaches earlier inputs' later positions (causality)
    const onlyFirst = lossAndGradients(model, TOKENS, TARGETS, [1, 0, 0, 0, 0, 0, 0, 0]);
    expect(onlyFirst.inputEmbeddingGrad.subarray(model.config.dim).every((v) => v === 0)).toBe(true);
  });

  it('rejects mismatched lengths and empty input', () => {
    const model = randomModel(tinyConfig(), 1);
    expect(() => lossAndGradients(model, [1, 2], [2], [1, 1])).toThrow(/2 tokens but 1 targets/);
    expect(() => lossAndGradients(model, [], [], [])).toThrow(/no tokens/);
  });
});

describe('lossAndGradients: adapter parameters through the taps', () => {
  const cases: [string, ModelConfig, Parameters<typeof testAdapter>[2]][] = [
    ['output form (y = y0 ⊙ s + x·Cᵀ) on every module', tinyConfig({ attentionBias: true }), { output: ALL }],
    ['input form (x′ = x ⊙ l) on every module', tinyConfig({ attentionBias: true }), { input: ALL }],
    ['mixed forms, one layer, MHA', tinyConfig({ nKvHeads: 4 }), { output: ['q_proj', 'v_proj', 'up_proj'], input: ['k_proj', 'down_proj'], layers: [1] }],
    ['prompt tuning (3 virtual tokens) with output form on o_proj', tinyConfig(), { output: ['o_proj'], nVirtual: 3 }],
  ];

  for (const [name, config, spec] of cases) {
    it(`${name}: gradients equal finite differences (≤ ${TOL})`, () => {
      const model = randomModel(config, 41, { float64: true, std: 0.3 });
      const { adapter, params } = testAdapter(config, 42, spec);
      const loss = () => lossAndGradients(model, TOKENS, TARGETS, MASK, adapter).loss;
      const { grads, promptEmbeddingGrad } = lossAndGradients(model, TOKENS, TARGETS, MASK, adapter);
      const rng = new Rng(43);
      for (const [key, p] of params) {
        if (key === 'prompt_embeddings') continue;
        const g = grads.get(key);
        expect(g, key).toBeDefined();
        // a random direction through the whole tensor, and three single elements
        const d = Float64Array.from({ length: p.length }, () => rng.normal());
        expect(relativeErrorScalar(dot(g!, d), directionalDerivative(p, d, loss)), key).toBeLessThan(TOL);
        for (let n = 0; n < 3; n++) {
          const i = rng.nextInt(p.length);
          expect(Math.abs(g![i] - centralDifference(p, i, loss)), `${key}[${i}]`).toBeLessThan(TOL * Math.max(1e-3, Math.abs(g![i])));
        }
      }
      expect(grads.size).toBe([...params.keys()].filter((k) => k !== 'prompt_embeddings').length);
      if (spec.nVirtual) {
        const pe = params.get('prompt_embeddings')!;
        expect(promptEmbeddingGrad?.length).toBe(pe.length);
        const numeric = Float64Array.from(pe, (_, i) => centralDifference(pe, i, loss));
        expect(relativeError(promptEmbeddingGrad!, numeric)).toBeLessThan(TOL);
      }
      // and the input embeddings, with the adapter in the path
      expectEmbeddingGradient(model, adapter);
    });
  }
});
