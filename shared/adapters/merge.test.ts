import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../model/random';
import type { Floats, Model } from '../model/types';
import { baseFromModel, type PeftAdapter } from './adapter';
import { createIa3, createLora, createPromptTuning } from './create';
import { mergeAdapter } from './merge';
import { moduleDims } from './modules';
import { MODULE_WEIGHT, type ModuleName } from './taps';
import { randomArray } from './test-support';

// Qwen2-like (q/k/v biases) and float64, so bias handling is exercised and the comparison is tight.
const config = tinyConfig({ architecture: 'Qwen2ForCausalLM', attentionBias: true, tieWordEmbeddings: true });
const model = randomModel(config, 11, { float64: true });
const base = baseFromModel(model);
const BIAS: Partial<Record<ModuleName, 'bq' | 'bk' | 'bv'>> = { q_proj: 'bq', k_proj: 'bk', v_proj: 'bv' };

function linear(m: Model, layer: number, module: ModuleName, x: Floats, rows: number): Float64Array {
  const { out, in: inDim } = moduleDims(m.config, module);
  const W = m.weights.layers[layer][MODULE_WEIGHT[module]] as Floats;
  const f = BIAS[module];
  const b = f ? m.weights.layers[layer][f] : undefined;
  const y = new Float64Array(rows * out);
  for (let t = 0; t < rows; t++)
    for (let o = 0; o < out; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < inDim; i++) acc += x[t * inDim + i] * W[o * inDim + i];
      y[t * out + o] = acc;
    }
  return y;
}

function randomize(a: PeftAdapter, seed: number): PeftAdapter {
  let k = seed;
  for (const p of a.params.values()) {
    const noise = randomArray(p.length, k++, 0.3);
    for (let i = 0; i < p.length; i++) p[i] += noise[i];
  }
  a.refresh();
  return a;
}

const ALL: ModuleName[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const cases: [string, () => PeftAdapter][] = [
  ['LoRA', () => createLora({ modelConfig: config, r: 3, alpha: 6, targetModules: ALL, seed: 1 })],
  ['rsLoRA + rank_pattern', () => createLora({ modelConfig: config, r: 3, alpha: 6, targetModules: ALL, seed: 2, useRslora: true, rankPattern: { v_proj: 1, 'layers.1.mlp.down_proj': 5 } })],
  ['DoRA', () => createLora({ modelConfig: config, ...base, r: 2, alpha: 4, targetModules: ALL, seed: 3, useDora: true })],
  ['IA3', () => createIa3({ modelConfig: config, targetModules: ALL, feedforwardModules: ['o_proj', 'down_proj'] })],
];

describe('mergeAdapter', () => {
  for (const [name, make] of cases) {
    it(`${name}: every merged module computes what the adapter computes at its tap`, () => {
      const adapter = randomize(make(), 21);
      const merged = mergeAdapter(model, adapter);
      const rows = 3;
      for (const t of adapter.targets) {
        const { in: inDim } = moduleDims(config, t.module);
        const x = randomArray(rows * inDim, 100 + t.layer);
        const mod = adapter.module(t.layer, t.module)!;
        const want =
          mod.form === 'input' ? linear(model, t.layer, t.module, mod.forwardInput(x, rows), rows) : mod.forwardOutput(x, linear(model, t.layer, t.module, x, rows), rows);
        const got = linear(merged, t.layer, t.module, x, rows);
        for (let j = 0; j < got.length; j++) expect(got[j], `${t.path}[${j}]`).toBeCloseTo(want[j], 10);
      }
    });
  }

  it('changes only the targeted weights, copies, and keeps tied embeddings tied', () => {
    const adapter = randomize(createLora({ modelConfig: config, r: 2, alpha: 2, targetModules: ['q_proj'], seed: 5, layersToTransform: [1] }), 3);
    const before = Float64Array.from(model.weights.layers[1].wq);
    const merged = mergeAdapter(model, adapter);
    expect(Array.from(model.weights.layers[1].wq)).toEqual(Array.from(before)); // base untouched
    expect(Array.from(merged.weights.layers[1].wq)).not.toEqual(Array.from(before));
    expect(Array.from(merged.weights.layers[0].wq)).toEqual(Array.from(model.weights.layers[0].wq));
    expect(merged.weights.layers[0].wq).not.toBe(model.weights.layers[0].wq);
    expect(merged.weights.lmHead).toBe(merged.weights.embed);
    expect(merged.weights.embed).toBeInstanceOf(Float64Array);
  });

  it('refuses prompt tuning, and a model of another shape', () => {
    expect(() => mergeAdapter(model, createPromptTuning({ modelConfig: config, numVirtualTokens: 2, seed: 1 }))).toThrow(/prompt tuning cannot be merged/);
    const other = randomModel(tinyConfig({ nLayers: 3 }), 1);
    expect(() => mergeAdapter(other, createLora({ modelConfig: config, r: 2, alpha: 2, targetModules: ['q_proj'], seed: 1 }))).toThrow(/nLayers/);
  });
});
