import { describe, expect, it } from 'vitest';
import { tinyConfig } from '../model/random';
import { parsePeftConfig, type Ia3Config, type LoraConfig, type PromptTuningConfig } from './config';
import { checkPromptConfig, resolveTargets } from './targets';
import { PEFT_IA3, PEFT_LORA, PEFT_PROMPT } from './test-fixtures';

const model = tinyConfig(); // 2 layers
const lora = (over: Record<string, unknown>) => resolveTargets(parsePeftConfig({ ...PEFT_LORA, ...over }) as LoraConfig, model);
const ia3 = (over: Record<string, unknown>) => resolveTargets(parsePeftConfig({ ...PEFT_IA3, ...over }) as Ia3Config, model);
const names = (ts: { layer: number; module: string }[]) => ts.map((t) => `${t.layer}.${t.module}`);

describe('resolveTargets: target_modules', () => {
  it('matches list entries as names or dotted suffixes of module paths', () => {
    expect(names(lora({ target_modules: ['q_proj', 'v_proj'] }))).toEqual(['0.q_proj', '0.v_proj', '1.q_proj', '1.v_proj']);
    expect(names(lora({ target_modules: ['self_attn.o_proj', 'model.layers.1.mlp.down_proj'] }))).toEqual(['0.o_proj', '1.o_proj', '1.down_proj']);
  });

  it('fully matches a regex string against module paths (re.fullmatch)', () => {
    expect(names(lora({ target_modules: 'model\\.layers\\.0\\.self_attn\\.(q|v)_proj' }))).toEqual(['0.q_proj', '0.v_proj']);
    expect(names(lora({ target_modules: '.*\\.(gate|up)_proj' }))).toEqual(['0.gate_proj', '0.up_proj', '1.gate_proj', '1.up_proj']);
    // a bare name is not a full match of any path
    expect(() => lora({ target_modules: 'q_proj' })).toThrow(/target_modules: "q_proj" selects no module/);
  });

  it('accepts Python named groups in a regex', () => {
    expect(names(lora({ target_modules: '.*\\.(?P<m>q)_proj' }))).toEqual(['0.q_proj', '1.q_proj']);
  });

  it('takes every linear module for all-linear', () => {
    expect(lora({ target_modules: 'all-linear' })).toHaveLength(14);
  });

  it('refuses a regex that selects lm_head, and entries that match nothing', () => {
    expect(() => lora({ target_modules: '.*(q_proj|lm_head)' })).toThrow(/matches lm_head/);
    expect(() => lora({ target_modules: ['model.layers.7.self_attn.q_proj'] })).toThrow(/"model\.layers\.7\.self_attn\.q_proj" matches no module of this model \(2 layers/);
    expect(() => lora({ target_modules: ['q_proj'], exclude_modules: ['q_proj'] })).toThrow(/selects no module/);
  });

  it('honours exclude_modules (list and regex)', () => {
    expect(names(lora({ target_modules: ['q_proj'], exclude_modules: ['model.layers.0.self_attn.q_proj'] }))).toEqual(['1.q_proj']);
    expect(names(lora({ target_modules: ['q_proj'], exclude_modules: '.*\\.1\\..*' }))).toEqual(['0.q_proj']);
  });
});

describe('resolveTargets: layers, ranks and scales', () => {
  it('applies layers_to_transform (list, int, empty list = all) and only there', () => {
    expect(names(lora({ layers_to_transform: [1] }))).toEqual(['1.q_proj', '1.v_proj']);
    expect(names(lora({ layers_to_transform: 0, layers_pattern: 'layers' }))).toEqual(['0.q_proj', '0.v_proj']);
    expect(names(lora({ layers_to_transform: [] }))).toHaveLength(4);
    expect(() => lora({ layers_to_transform: [0, 2] })).toThrow(/layers_to_transform: layer 2 does not exist \(the model has 2 layers\)/);
  });

  it('applies rank_pattern / alpha_pattern by dotted suffix, first key first, and nowhere else', () => {
    const ts = lora({
      r: 4,
      lora_alpha: 8,
      rank_pattern: { 'layers.0.self_attn.q_proj': 2, q_proj: 3, q: 99, proj: 98 },
      alpha_pattern: { 'model.layers.1.self_attn.v_proj': 6 },
    });
    const by = Object.fromEntries(ts.map((t) => [`${t.layer}.${t.module}`, t]));
    expect([by['0.q_proj'].r, by['1.q_proj'].r, by['0.v_proj'].r, by['1.v_proj'].r]).toEqual([2, 3, 4, 4]);
    expect([by['0.q_proj'].alpha, by['1.q_proj'].alpha, by['0.v_proj'].alpha, by['1.v_proj'].alpha]).toEqual([8, 8, 8, 6]);
    expect([by['0.q_proj'].scale, by['1.q_proj'].scale, by['0.v_proj'].scale, by['1.v_proj'].scale]).toEqual([4, 8 / 3, 2, 1.5]);
  });

  it('uses alpha/√r with use_rslora', () => {
    const ts = lora({ r: 4, lora_alpha: 8, use_rslora: true, rank_pattern: { v_proj: 16 } });
    expect(ts.map((t) => t.scale)).toEqual([4, 2, 4, 2]);
  });

  it('accepts a regex as a rank_pattern key', () => {
    const ts = lora({ r: 4, rank_pattern: { 'layers\\.\\d\\.self_attn\\.v_proj': 2 } });
    expect(ts.map((t) => t.r)).toEqual([4, 2, 4, 2]);
  });
});

describe('resolveTargets: IA3', () => {
  it('scales feed-forward modules at their input, others at their output', () => {
    const ts = ia3({});
    expect(ts.map((t) => `${t.layer}.${t.module}:${t.form}`)).toEqual([
      '0.k_proj:output',
      '0.v_proj:output',
      '0.down_proj:input',
      '1.k_proj:output',
      '1.v_proj:output',
      '1.down_proj:input',
    ]);
    expect(ia3({ target_modules: ['o_proj'], feedforward_modules: ['o_proj'] }).every((t) => t.form === 'input')).toBe(true);
    expect(ia3({ target_modules: '.*\\.(k|down)_proj', feedforward_modules: '.*down_proj' }).map((t) => t.form)).toEqual(['output', 'input', 'output', 'input']);
  });

  it('refuses a feed-forward module whose input is shared, saying why', () => {
    expect(() => ia3({ target_modules: ['gate_proj', 'up_proj'], feedforward_modules: ['gate_proj'] })).toThrow(
      /gate_proj cannot be a feed-forward .* shared with up_proj.*base weights/,
    );
    expect(() => ia3({ target_modules: ['q_proj'], feedforward_modules: ['q_proj'] })).toThrow(/shared with k_proj, v_proj/);
  });
});

describe('checkPromptConfig', () => {
  const cfg = (over: Record<string, unknown>) => parsePeftConfig({ ...PEFT_PROMPT, ...over }) as PromptTuningConfig;
  it('requires token_dim = hidden size and matching metadata', () => {
    expect(() => checkPromptConfig(cfg({ token_dim: 16, num_layers: 2, num_attention_heads: 4 }), model)).not.toThrow();
    expect(() => checkPromptConfig(cfg({ token_dim: 2048 }), model)).toThrow(/token_dim 2048 does not match the model's hidden size 16/);
    expect(() => checkPromptConfig(cfg({ token_dim: 16, num_layers: 16, num_attention_heads: 4 }), model)).toThrow(/num_layers 16/);
  });
});
