import { describe, expect, it } from 'vitest';
import type { Model, ModelConfig } from '../model/types';
import { randomModel, tinyConfig } from '../model/random';
import { relativeError } from '../util';
import { createKVCache, forward, forwardEmbeddings, inputEmbeddings } from './forward';
import { concatRows, gather } from './ops';
import { testAdapter } from './test-adapters';

/**
 * An independent, deliberately naive Llama forward (no cache, number[] per token, written from
 * the HF modeling code, sharing nothing with ops.ts) → logits per position.
 */
function naiveLogits(model: Model, embeddings: number[][]): number[][] {
  const c = model.config;
  const W = model.weights;
  const { dim, nHeads, nKvHeads, headDim } = c;
  const matvec = (w: ArrayLike<number>, x: number[], out: number, bias?: ArrayLike<number>) =>
    Array.from({ length: out }, (_, o) => x.reduce((s, xi, i) => s + xi * w[o * x.length + i], bias ? bias[o] : 0));
  const norm = (x: number[], w: ArrayLike<number>) => {
    const r = 1 / Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + c.rmsNormEps);
    return x.map((v, i) => v * r * w[i]);
  };
  const rotate = (x: number[], heads: number, pos: number) => {
    const y = x.slice();
    const half = headDim / 2;
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < half; i++) {
        const a = pos / Math.pow(c.ropeTheta, (2 * i) / headDim);
        const [x1, x2] = [x[h * headDim + i], x[h * headDim + i + half]];
        y[h * headDim + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
        y[h * headDim + i + half] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    return y;
  };
  let hs = embeddings.map((e) => e.slice());
  for (const w of W.layers) {
    const xs = hs.map((h) => norm(h, w.attnNorm));
    const qs = xs.map((x, p) => rotate(matvec(w.wq, x, nHeads * headDim, w.bq), nHeads, p));
    const ks = xs.map((x, p) => rotate(matvec(w.wk, x, nKvHeads * headDim, w.bk), nKvHeads, p));
    const vs = xs.map((x) => matvec(w.wv, x, nKvHeads * headDim, w.bv));
    hs = hs.map((h, p) => {
      const a: number[] = [];
      for (let head = 0; head < nHeads; head++) {
        const kvh = Math.floor(head / (nHeads / nKvHeads)); // repeat_kv
        const dotAt = (j: number) => {
          let s = 0;
          for (let d = 0; d < headDim; d++) s += qs[p][head * headDim + d] * ks[j][kvh * headDim + d];
          return s / Math.sqrt(headDim);
        };
        const scores = Array.from({ length: p + 1 }, (_, j) => dotAt(j));
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const z = e.reduce((x, y) => x + y);
        for (let d = 0; d < headDim; d++) a.push(e.reduce((acc, ej, j) => acc + (ej / z) * vs[j][kvh * headDim + d], 0));
      }
      const hMid = h.map((v, i) => v + matvec(w.wo, a, dim)[i]);
      const x2 = norm(hMid, w.mlpNorm);
      const g = matvec(w.wGate, x2, c.hiddenDim);
      const u = matvec(w.wUp, x2, c.hiddenDim);
      const m = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]);
      const d = matvec(w.wDown, m, dim);
      return hMid.map((v, i) => v + d[i]);
    });
  }
  return hs.map((h) => matvec(W.lmHead, norm(h, W.finalNorm), c.vocabSize));
}

const rows = (a: ArrayLike<number>, n: number) => Array.from({ length: a.length / n }, (_, r) => Array.from(a).slice(r * n, (r + 1) * n));
const TOKENS = [1, 5, 9, 33, 2, 17, 17, 4, 30, 12];

const CONFIGS: [string, ModelConfig][] = [
  ['GQA (nKvHeads 2 < nHeads 4)', tinyConfig()],
  ['MHA (nKvHeads = nHeads)', tinyConfig({ nKvHeads: 4 })],
  ['MQA (nKvHeads 1)', tinyConfig({ nKvHeads: 1 })],
  ['attention bias (Qwen2)', tinyConfig({ architecture: 'Qwen2ForCausalLM', attentionBias: true })],
  ['tied embeddings, headDim ≠ dim/nHeads', tinyConfig({ tieWordEmbeddings: true, headDim: 6, nLayers: 3 })],
];

describe('forward', () => {
  for (const [name, config] of CONFIGS) {
    describe(name, () => {
      // a larger std than 0.02 so that attention is far from uniform and every path matters
      const model = randomModel(config, 11, { float64: true, std: 0.3 });

      it('equals an independent naive implementation (float64, ≤ 1e-10 relative)', () => {
        const logits = forward(model, TOKENS, createKVCache(config, 16, true));
        const naive = naiveLogits(model, rows(gather(model.weights.embed, TOKENS, config.dim), config.dim)).flat();
        expect(relativeError(logits, naive)).toBeLessThan(1e-10);
      });

      it('decoding token by token equals one batched prefill (float32, ≤ 1e-5 relative)', () => {
        const m32 = randomModel(config, 11, { std: 0.3 });
        const prefill = forward(m32, TOKENS, createKVCache(config, 16));
        expect(prefill).toBeInstanceOf(Float32Array);
        const cache = createKVCache(config, 16);
        const stepwise = TOKENS.flatMap((t) => Array.from(forward(m32, [t], cache)));
        expect(cache.length).toBe(TOKENS.length);
        expect(relativeError(stepwise, prefill)).toBeLessThan(1e-5);
        // mixed chunks: 4 + 1 + 5
        const c2 = createKVCache(config, 16);
        const chunked = [...forward(m32, TOKENS.slice(0, 4), c2), ...forward(m32, TOKENS.slice(4, 5), c2), ...forward(m32, TOKENS.slice(5), c2)];
        expect(relativeError(chunked, prefill)).toBeLessThan(1e-5);
        // float32 agrees with float64
        expect(relativeError(prefill, forward(model, TOKENS, createKVCache(config, 16, true)))).toBeLessThan(1e-5);
      });
    });
  }

  it('lastOnly returns the last row', () => {
    const config = tinyConfig();
    const model = randomModel(config, 3);
    const all = forward(model, TOKENS, createKVCache(config, 16));
    const last = forward(model, TOKENS, createKVCache(config, 16), undefined, { lastOnly: true });
    expect(Array.from(last)).toEqual(Array.from(all.subarray((TOKENS.length - 1) * config.vocabSize)));
  });

  it('throws a clear error when the cache would overflow, or outlive the model context', () => {
    const config = tinyConfig();
    const model = randomModel(config, 3);
    const cache = createKVCache(config, 8);
    forward(model, TOKENS.slice(0, 6), cache);
    expect(() => forward(model, TOKENS.slice(0, 3), cache)).toThrow(/KV cache overflow: 6 positions filled \+ 3 new rows > capacity 8/);
    expect(cache.length).toBe(6); // unchanged by the failed call
    expect(() => createKVCache(config, 65)).toThrow(/max_position_embeddings 64/);
    expect(() => forward(model, [37], createKVCache(config, 4))).toThrow(/outside \[0, 37\)/);
  });

  it('an empty token list is a no-op', () => {
    const config = tinyConfig();
    const cache = createKVCache(config, 4);
    expect(forward(randomModel(config, 1), [], cache).length).toBe(0);
    expect(cache.length).toBe(0);
  });
});

describe('forward with an adapter at the taps', () => {
  const config = tinyConfig({ attentionBias: true });
  const model = randomModel(config, 21, { float64: true, std: 0.3 });
  const all = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
  const base = forward(model, TOKENS, createKVCache(config, 16, true));

  it('identity adapters (s = 1, C = 0; l = 1) leave the logits unchanged', () => {
    for (const spec of [{ output: all }, { input: all }]) {
      const { adapter } = testAdapter(config, 1, { ...spec, scale: 0 });
      expect(relativeError(forward(model, TOKENS, createKVCache(config, 16, true), adapter), base)).toBeLessThan(1e-14);
    }
  });

  it('each module form changes the output as the naive model with modified weights would', () => {
    // output form y = y0 ⊙ s + x·Cᵀ on q_proj equals a model whose Wq' = diag(s)·Wq + C, bq' = s ⊙ bq;
    // input form x' = x ⊙ l on down_proj equals Wdown' = Wdown·diag(l).
    const { adapter, params } = testAdapter(config, 2, { output: ['q_proj'], input: ['down_proj'], layers: [1] });
    const s = params.get('layers.1.q_proj.s')!;
    const cm = params.get('layers.1.q_proj.C')!;
    const l = params.get('layers.1.down_proj.l')!;
    const w = model.weights.layers[1];
    const dim = config.dim;
    const wq = w.wq.map((v, k) => s[Math.floor(k / dim)] * v + cm[k]);
    const bq = w.bq!.map((v, o) => s[o] * v);
    const wDown = w.wDown.map((v, k) => v * l[k % config.hiddenDim]);
    const layers = model.weights.layers.slice();
    layers[1] = { ...w, wq, bq, wDown };
    const modified: Model = { config, weights: { ...model.weights, layers } };
    const got = forward(model, TOKENS, createKVCache(config, 16, true), adapter);
    expect(relativeError(got, base)).toBeGreaterThan(1e-3);
    expect(relativeError(got, forward(modified, TOKENS, createKVCache(config, 16, true)))).toBeLessThan(1e-12);
  });

  it('decode with an adapter equals prefill with it (float32)', () => {
    const m32 = randomModel(config, 21, { std: 0.3 });
    const { adapter } = testAdapter(config, 3, { output: ['q_proj', 'v_proj', 'o_proj'], input: ['down_proj', 'k_proj'] });
    const prefill = forward(m32, TOKENS, createKVCache(config, 16), adapter);
    expect(prefill).toBeInstanceOf(Float32Array); // adapter outputs follow the model's precision
    const cache = createKVCache(config, 16);
    const stepwise = TOKENS.flatMap((t) => Array.from(forward(m32, [t], cache, adapter)));
    expect(relativeError(stepwise, prefill)).toBeLessThan(1e-5);
  });

  it('prompt tuning: virtual tokens fill positions 0..n-1 once; logits only for real tokens', () => {
    const { adapter } = testAdapter(config, 4, { nVirtual: 3 });
    const cache = createKVCache(config, 16, true);
    const first = forward(model, TOKENS.slice(0, 4), cache, adapter);
    expect(first.length).toBe(4 * config.vocabSize);
    expect(cache.length).toBe(7);
    const next = forward(model, TOKENS.slice(4, 6), cache, adapter); // not prepended again
    expect(cache.length).toBe(9);
    const x = concatRows(adapter.promptEmbeddings! as Float64Array, gather(model.weights.embed, TOKENS.slice(0, 6), config.dim));
    const expected = forwardEmbeddings(model, x, createKVCache(config, 16, true)).subarray(3 * config.vocabSize);
    expect(relativeError([...first, ...next], expected)).toBeLessThan(1e-12);
    const naive = naiveLogits(model, rows(x, config.dim)).slice(3).flat();
    expect(relativeError([...first, ...next], naive)).toBeLessThan(1e-10);
    expect(inputEmbeddings(model, [1], adapter, false).nVirtual).toBe(0);
  });
});
