import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../model/random';
import { baseFromModel, PeftAdapter } from './adapter';
import { createIa3, createLora, createPromptTuning } from './create';
import { PROMPT_EMBEDDINGS_KEY, tensorKey } from './modules';
import { randomArray } from './test-support';

const config = tinyConfig();
const model = randomModel(config, 2, { float64: true });
const base = baseFromModel(model);

describe('createLora', () => {
  it('initialises A uniformly in ±1/√in and B to zero, deterministically', () => {
    const a = createLora({ modelConfig: config, r: 4, alpha: 8, targetModules: ['q_proj', 'down_proj'], seed: 9 });
    const A = a.params.get(tensorKey.loraA(0, 'down_proj'))!; // in = hiddenDim 40
    expect(Math.max(...A.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(40));
    expect(Math.max(...A.map(Math.abs))).toBeGreaterThan(0.5 / Math.sqrt(40));
    expect(a.params.get(tensorKey.loraB(0, 'down_proj'))!.every((v) => v === 0)).toBe(true);
    const again = createLora({ modelConfig: config, r: 4, alpha: 8, targetModules: ['q_proj', 'down_proj'], seed: 9 });
    expect(Array.from(again.params.get(tensorKey.loraA(1, 'q_proj'))!)).toEqual(Array.from(a.params.get(tensorKey.loraA(1, 'q_proj'))!));
    expect(a.config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, task_type: 'CAUSAL_LM', bias: 'none', use_dora: false });
  });

  it('uses N(0, 1/r²) for the gaussian init', () => {
    const a = createLora({ modelConfig: config, r: 2, alpha: 2, targetModules: 'all-linear', seed: 1, init: 'gaussian' });
    const all = [...a.params].filter(([k]) => k.endsWith('lora_A.weight')).flatMap(([, v]) => Array.from(v));
    const sd = Math.sqrt(all.reduce((s, v) => s + v * v, 0) / all.length);
    expect(sd).toBeGreaterThan(0.45);
    expect(sd).toBeLessThan(0.55);
  });

  it('starts DoRA at the identity: m = ‖W‖ per row', () => {
    const a = createLora({ modelConfig: config, ...base, r: 2, alpha: 4, targetModules: ['k_proj'], seed: 1, useDora: true });
    const m = a.params.get(tensorKey.magnitude(0, 'k_proj'))!;
    const W = model.weights.layers[0].wk;
    expect(m[3]).toBeCloseTo(Math.hypot(...W.slice(3 * 16, 4 * 16)), 6);
    const x = randomArray(2 * 16, 1);
    const y0 = randomArray(2 * 8, 2);
    const y = a.module(0, 'k_proj')!.forwardOutput(x, y0, 2);
    for (let j = 0; j < y.length; j++) expect(y[j]).toBeCloseTo(y0[j], 6);
    expect(() => createLora({ modelConfig: config, r: 2, alpha: 4, targetModules: ['k_proj'], seed: 1, useDora: true })).toThrow(/DoRA needs the base weights/);
  });

  it('needs the base bias for DoRA on a biased q/k/v', () => {
    const qwen = tinyConfig({ architecture: 'Qwen2ForCausalLM', attentionBias: true });
    const qm = randomModel(qwen, 1);
    expect(() => createLora({ modelConfig: qwen, weight: baseFromModel(qm).weight, r: 2, alpha: 4, targetModules: ['q_proj'], seed: 1, useDora: true })).toThrow(/needs the base bias/);
    expect(createLora({ modelConfig: qwen, ...baseFromModel(qm), r: 2, alpha: 4, targetModules: ['q_proj'], seed: 1, useDora: true }).type).toBe('DORA');
  });
});

describe('createIa3 / createPromptTuning', () => {
  it('IA3 starts at ones, with [out] or [in] vectors by form', () => {
    const a = createIa3({ modelConfig: config, targetModules: ['k_proj', 'down_proj'], feedforwardModules: ['down_proj'] });
    expect(a.shapes.get(tensorKey.ia3(0, 'k_proj'))).toEqual([8, 1]);
    expect(a.shapes.get(tensorKey.ia3(0, 'down_proj'))).toEqual([1, 40]);
    expect([...a.params.values()].every((p) => p.every((v) => v === 1))).toBe(true);
    expect(a.type).toBe('IA3');
  });

  it('prompt tuning: N(0,1) for RANDOM, the text tokens\u2019 embeddings (repeated) for TEXT', () => {
    const r = createPromptTuning({ modelConfig: config, numVirtualTokens: 4, seed: 3 });
    expect(r.promptEmbeddings).toBe(r.params.get(PROMPT_EMBEDDINGS_KEY));
    expect(r.promptEmbeddings).toHaveLength(64);
    const t = createPromptTuning({ modelConfig: config, numVirtualTokens: 5, seed: 3, text: { text: 'hi', tokenizerNameOrPath: 'tok', tokenIds: [1, 7], embed: model.weights.embed } });
    const e = t.promptEmbeddings!;
    for (const [v, id] of [[0, 1], [1, 7], [2, 1], [4, 1]]) expect(e[v * 16 + 5]).toBeCloseTo(model.weights.embed[id * 16 + 5], 6);
    expect(t.config).toMatchObject({ prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'hi', tokenizer_name_or_path: 'tok' });
  });
});

describe('PeftAdapter', () => {
  it('sees in-place parameter updates; DoRA after refresh()', () => {
    const a = createLora({ modelConfig: config, ...base, r: 2, alpha: 4, targetModules: ['v_proj'], seed: 1, useDora: true });
    const x = randomArray(16, 1);
    const y0 = randomArray(8, 2);
    const before = a.module(0, 'v_proj')!.forwardOutput(x, y0, 1);
    a.params.get(tensorKey.loraB(0, 'v_proj'))!.fill(0.5);
    const stale = a.module(0, 'v_proj')!.forwardOutput(x, y0, 1);
    a.refresh();
    const fresh = a.module(0, 'v_proj')!.forwardOutput(x, y0, 1);
    expect(stale[0]).not.toBeCloseTo(before[0], 6);
    expect(fresh[0]).not.toBeCloseTo(stale[0], 6);
  });

  it('checks its parameters by name and size', () => {
    const a = createIa3({ modelConfig: config, targetModules: ['k_proj'] });
    const params = new Map(a.params);
    params.set('extra', new Float32Array(1));
    expect(() => new PeftAdapter(a.config, params, { config })).toThrow(/unexpected tensor "extra"/);
    params.delete('extra');
    params.set(tensorKey.ia3(1, 'k_proj'), new Float32Array(3));
    expect(() => new PeftAdapter(a.config, params, { config })).toThrow(/k_proj\.ia3_l": expected 8 elements/);
    params.delete(tensorKey.ia3(1, 'k_proj'));
    expect(() => new PeftAdapter(a.config, params, { config })).toThrow(/missing tensor ".*layers\.1\.self_attn\.k_proj\.ia3_l"/);
  });
});
