import { describe, expect, it } from 'vitest';
import { parseHfConfig, toHfConfig } from './index';

const llama = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 64,
  intermediate_size: 172,
  num_hidden_layers: 5,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  vocab_size: 512,
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  hidden_act: 'silu',
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: 'float32',
  initializer_range: 0.02,
};

describe('parseHfConfig', () => {
  it('reads a Llama config with GQA and tied embeddings', () => {
    const c = parseHfConfig(llama);
    expect(c).toMatchObject({ architecture: 'LlamaForCausalLM', dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headDim: 8, vocabSize: 512, tieWordEmbeddings: true, attentionBias: false, eosTokenIds: [2] });
  });

  it('lets generation_config.json override the token ids', () => {
    expect(parseHfConfig(llama, { bos_token_id: 1, eos_token_id: [1, 2] }).eosTokenIds).toEqual([1, 2]);
  });

  it('defaults num_key_value_heads to num_attention_heads (no GQA)', () => {
    const { num_key_value_heads: _, ...noKv } = llama;
    expect(parseHfConfig(noKv).nKvHeads).toBe(8);
  });

  it('gives Qwen2 its attention bias and ignores its disabled sliding window', () => {
    const c = parseHfConfig({ ...llama, architectures: ['Qwen2ForCausalLM'], sliding_window: 32, use_sliding_window: false, max_position_embeddings: 4096 });
    expect(c.attentionBias).toBe(true);
    expect(c.maxSeqLen).toBe(4096);
  });

  it("caps Mistral's context at its sliding window", () => {
    expect(parseHfConfig({ ...llama, architectures: ['MistralForCausalLM'], sliding_window: 256 }).maxSeqLen).toBe(256);
  });

  it('honours an explicit head_dim', () => {
    expect(parseHfConfig({ ...llama, head_dim: 16 }).headDim).toBe(16);
  });

  it.each([
    [{ ...llama, architectures: ['GPT2LMHeadModel'] }, /unsupported architecture "GPT2LMHeadModel"/],
    [{ ...llama, hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/],
    [{ ...llama, rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling is not supported/],
    [{ ...llama, mlp_bias: true }, /mlp_bias true is not supported/],
    [{ ...llama, num_key_value_heads: 3 }, /not a multiple of num_key_value_heads 3/],
    [{ ...llama, hidden_size: -1 }, /hidden_size/],
    [{ ...llama, vocab_size: undefined }, /vocab_size/],
  ])('rejects %#', (json, message) => {
    expect(() => parseHfConfig(json)).toThrow(message);
  });

  it('round-trips through toHfConfig', () => {
    const c = parseHfConfig(llama);
    expect(parseHfConfig(toHfConfig(c))).toEqual(c);
  });
});
