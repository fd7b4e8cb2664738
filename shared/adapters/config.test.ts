import { describe, expect, it } from 'vitest';
import { parsePeftConfig } from './config';
import { PEFT_IA3, PEFT_LORA, PEFT_PROMPT } from './test-fixtures';

const reject = (json: unknown) => {
  try {
    parsePeftConfig(json);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('parsePeftConfig: accepted', () => {
  it('accepts what PEFT writes for LoRA, IA3 and prompt tuning', () => {
    expect(parsePeftConfig(PEFT_LORA).peft_type).toBe('LORA');
    expect(parsePeftConfig(PEFT_IA3).peft_type).toBe('IA3');
    expect(parsePeftConfig(PEFT_PROMPT).peft_type).toBe('PROMPT_TUNING');
  });

  it('accepts the JSON text too', () => {
    expect(parsePeftConfig(JSON.stringify(PEFT_LORA)).peft_type).toBe('LORA');
  });

  it('accepts a minimal config (older PEFT versions wrote fewer fields)', () => {
    expect(parsePeftConfig({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj'] }).peft_type).toBe('LORA');
    expect(parsePeftConfig({ peft_type: 'IA3', target_modules: ['k_proj'] }).peft_type).toBe('IA3');
  });

  it('accepts the supported LoRA options', () => {
    const cfg = {
      ...PEFT_LORA,
      use_rslora: true,
      use_dora: true,
      rank_pattern: { 'layers.0.self_attn.q_proj': 2 },
      alpha_pattern: { v_proj: 3 },
      layers_to_transform: [0],
      layers_pattern: 'layers',
      init_lora_weights: 'gaussian',
      lora_alpha: 256.5,
      task_type: null,
      target_modules: ['self_attn.q_proj', 'v_proj'],
      exclude_modules: ['model.layers.1.self_attn.v_proj'],
    };
    expect(parsePeftConfig(cfg).peft_type).toBe('LORA');
    expect(parsePeftConfig({ ...PEFT_LORA, target_modules: 'model\\.layers\\.\\d+\\.self_attn\\.(q|v)_proj' }).peft_type).toBe('LORA');
    expect(parsePeftConfig({ ...PEFT_LORA, target_modules: 'all-linear' }).peft_type).toBe('LORA');
    expect(parsePeftConfig({ ...PEFT_LORA, layers_to_transform: 1 }).peft_type).toBe('LORA');
    expect(parsePeftConfig({ ...PEFT_LORA, layers_to_transform: [1], layers_pattern: ['layers'] }).peft_type).toBe('LORA');
  });

  it('accepts prompt tuning with RANDOM init', () => {
    const cfg = { ...PEFT_PROMPT, prompt_tuning_init: 'RANDOM', prompt_tuning_init_text: null, tokenizer_name_or_path: null };
    expect(parsePeftConfig(cfg).peft_type).toBe('PROMPT_TUNING');
  });
});

describe('parsePeftConfig: rejected, each by name', () => {
  const cases: [string, unknown, RegExp][] = [
    ['unknown field', { ...PEFT_LORA, loftq_bits: 4 }, /adapter_config\.json: unsupported field "loftq_bits"/],
    ['unknown field (IA3)', { ...PEFT_IA3, future_option: 1 }, /unsupported field "future_option"/],
    ['unknown field (prompt)', { ...PEFT_PROMPT, encoder_hidden_size: 8 }, /unsupported field "encoder_hidden_size"/],
    ['unknown peft_type', { ...PEFT_LORA, peft_type: 'ADALORA' }, /peft_type: "ADALORA" is not supported \(only "LORA", "IA3", "PROMPT_TUNING"\)/],
    ['missing peft_type', { r: 8 }, /peft_type: required field is missing/],
    ['bias all', { ...PEFT_LORA, bias: 'all' }, /bias: "all" is not supported \(only "none"\)/],
    ['bias lora_only', { ...PEFT_LORA, bias: 'lora_only' }, /bias: "lora_only" is not supported/],
    ['fan_in_fan_out', { ...PEFT_LORA, fan_in_fan_out: true }, /fan_in_fan_out: true is not supported/],
    ['fan_in_fan_out (IA3)', { ...PEFT_IA3, fan_in_fan_out: true }, /fan_in_fan_out: true is not supported/],
    ['modules_to_save', { ...PEFT_LORA, modules_to_save: ['lm_head'] }, /modules_to_save: \["lm_head"\] is not supported \(only null\)/],
    ['modules_to_save (IA3)', { ...PEFT_IA3, modules_to_save: ['lm_head'] }, /modules_to_save: .* is not supported/],
    ['modules_to_save (prompt)', { ...PEFT_PROMPT, modules_to_save: ['score'] }, /modules_to_save: .* is not supported/],
    ['lora_bias', { ...PEFT_LORA, lora_bias: true }, /lora_bias: true is not supported/],
    ['loftq_config', { ...PEFT_LORA, loftq_config: { loftq_bits: 4 } }, /loftq_config: .* is not supported \(only \{\}\)/],
    ['init pissa', { ...PEFT_LORA, init_lora_weights: 'pissa' }, /init_lora_weights: "pissa" is not supported.*PiSSA/],
    ['init olora', { ...PEFT_LORA, init_lora_weights: 'olora' }, /init_lora_weights: "olora" is not supported/],
    ['init loftq', { ...PEFT_LORA, init_lora_weights: 'loftq' }, /init_lora_weights: "loftq" is not supported/],
    ['use_qalora', { ...PEFT_LORA, use_qalora: true }, /use_qalora: true is not supported/],
    ['layer_replication', { ...PEFT_LORA, layer_replication: [[0, 2]] }, /layer_replication: .* is not supported \(only null\)/],
    ['megatron_config', { ...PEFT_LORA, megatron_config: {} }, /megatron_config: .* is not supported/],
    ['corda_config', { ...PEFT_LORA, corda_config: {} }, /corda_config: .* is not supported/],
    ['target_parameters', { ...PEFT_LORA, target_parameters: ['experts.gate_up_proj'] }, /target_parameters: .* is not supported/],
    ['trainable_token_indices', { ...PEFT_LORA, trainable_token_indices: [5] }, /trainable_token_indices: .* is not supported/],
    ['alora_invocation_tokens', { ...PEFT_LORA, alora_invocation_tokens: [1, 2] }, /alora_invocation_tokens: .* is not supported/],
    ['arrow_config', { ...PEFT_LORA, arrow_config: { top_k: 3 } }, /arrow_config: .* is not supported/],
    ['task_type', { ...PEFT_LORA, task_type: 'SEQ_CLS' }, /task_type: "SEQ_CLS" is not supported/],
    ['task_type (prompt)', { ...PEFT_PROMPT, task_type: 'SEQ_2_SEQ_LM' }, /task_type: "SEQ_2_SEQ_LM" is not supported/],
    ['r zero', { ...PEFT_LORA, r: 0 }, /r: /],
    ['r missing', { ...PEFT_LORA, r: undefined }, /r: required field is missing/],
    ['lora_alpha string', { ...PEFT_LORA, lora_alpha: '16' }, /lora_alpha: /],
    ['target_modules null', { ...PEFT_LORA, target_modules: null }, /target_modules: null is not supported/],
    ['non-Llama target', { ...PEFT_LORA, target_modules: ['q_proj', 'fc1'] }, /target_modules: "fc1" is not a Llama linear module/],
    ['non-Llama target (IA3)', { ...PEFT_IA3, target_modules: ['query', 'value'], feedforward_modules: [] }, /target_modules: "query" is not a Llama linear module/],
    ['layers_pattern other than layers', { ...PEFT_LORA, layers_to_transform: [0], layers_pattern: 'h' }, /layers_pattern: "h" is not supported/],
    ['layers_pattern without layers_to_transform', { ...PEFT_LORA, layers_pattern: 'layers' }, /layers_pattern: is set but layers_to_transform is not/],
    ['layers_to_transform with a regex', { ...PEFT_LORA, target_modules: '.*q_proj', layers_to_transform: [0] }, /layers_to_transform: cannot be used when target_modules is a regex/],
    ['rank_pattern value', { ...PEFT_LORA, rank_pattern: { q_proj: 0 } }, /rank_pattern\.q_proj: /],
    ['lora_dropout', { ...PEFT_LORA, lora_dropout: 2 }, /lora_dropout: /],
    ['feedforward not in targets', { ...PEFT_IA3, feedforward_modules: ['o_proj'] }, /feedforward_modules: "o_proj" is not in target_modules/],
    ['num_transformer_submodules 2', { ...PEFT_PROMPT, num_transformer_submodules: 2 }, /num_transformer_submodules: 2 is not supported/],
    ['prompt init', { ...PEFT_PROMPT, prompt_tuning_init: 'VOCAB' }, /prompt_tuning_init: "VOCAB" is not supported/],
    ['TEXT without tokenizer', { ...PEFT_PROMPT, tokenizer_name_or_path: null }, /tokenizer_name_or_path: is required when prompt_tuning_init is "TEXT"/],
    ['TEXT without text', { ...PEFT_PROMPT, prompt_tuning_init_text: null }, /prompt_tuning_init_text: is required/],
    ['tokenizer_kwargs without TEXT', { ...PEFT_PROMPT, prompt_tuning_init: 'RANDOM', tokenizer_kwargs: { a: 1 } }, /tokenizer_kwargs: is only valid/],
    ['task_type missing (prompt)', { ...PEFT_PROMPT, task_type: undefined }, /task_type: required field is missing/],
    ['num_virtual_tokens missing', { ...PEFT_PROMPT, num_virtual_tokens: undefined }, /num_virtual_tokens: required field is missing/],
    ['not JSON', '{"peft_type":', /adapter_config\.json: not valid JSON/],
    ['not an object', [1, 2], /expected a JSON object/],
  ];
  for (const [name, json, pattern] of cases) {
    it(name, () => {
      expect(reject(json)).toMatch(pattern);
    });
  }

  it('lists every problem at once', () => {
    const msg = reject({ ...PEFT_LORA, bias: 'all', fan_in_fan_out: true, extra: 1 });
    expect(msg).toMatch(/bias/);
    expect(msg).toMatch(/fan_in_fan_out/);
    expect(msg).toMatch(/unsupported field "extra"/);
  });
});
