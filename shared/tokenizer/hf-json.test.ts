import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildHfTokenizerFiles, deriveMerges } from './hf-json';
import { encodeLlama2c, parseLlama2cTokenizer, type Llama2cVocab } from './llama2c';
import { Tokenizer } from './tokenizer';

const TOK512 = new Uint8Array(readFileSync(new URL('../../../shared/models/stories260K/tok512.bin', import.meta.url)));
const vocab = parseLlama2cTokenizer(TOK512, 512);

type Model = { vocab: Record<string, number>; merges: [string, string][]; byte_fallback: boolean };

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** A BPE-shaped llama2.c vocabulary of n pieces: specials, bytes, merges (score -i), then single characters. */
function syntheticVocab(n: number, alphabet: string, seed: number): Llama2cVocab {
  const rnd = rng(seed);
  const specials = ['<unk>', '\n<s>\n', '\n</s>\n', ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)];
  const chars = Array.from(alphabet);
  const pool = [...chars];
  const seen = new Set([...specials, ...chars]);
  const merged: string[] = [];
  while (specials.length + merged.length + chars.length < n) {
    const m = pool[Math.floor(rnd() * Math.min(pool.length, 60 + merged.length / 4))] + pool[Math.floor(rnd() * pool.length)];
    if (m.length > 16 || seen.has(m)) continue;
    seen.add(m);
    merged.push(m);
    pool.push(m);
  }
  const enc = new TextEncoder();
  const strings = [...specials, ...merged, ...chars];
  const scores = [...specials.map(() => 0), ...merged.map((_, i) => -i), ...chars.map((_, i) => -merged.length - i)];
  return { pieces: strings.map((s) => enc.encode(s)), scores, maxTokenLength: 16 * 4 };
}

describe('buildHfTokenizerFiles', () => {
  const files = buildHfTokenizerFiles(vocab);
  const model = files.tokenizerJson.model as Model;

  it('lays out the vocabulary as HF converts SentencePiece: specials, <0xNN> bytes, ▁ for spaces', () => {
    expect(Object.keys(model.vocab)).toHaveLength(512);
    expect(model.vocab['<unk>']).toBe(0);
    expect(model.vocab['<s>']).toBe(1);
    expect(model.vocab['</s>']).toBe(2);
    expect(model.vocab['<0x00>']).toBe(3);
    expect(model.vocab['<0x0A>']).toBe(13);
    expect(model.vocab['<0xFF>']).toBe(258);
    expect(model.vocab['▁t']).toBe(259);
    expect(model.vocab['▁']).toBe(410);
    expect(model.vocab[' t']).toBeUndefined();
    expect(model.byte_fallback).toBe(true);
    expect(files.tokenizerJson.added_tokens).toEqual([
      { id: 0, content: '<unk>', lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      { id: 1, content: '<s>', lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      { id: 2, content: '</s>', lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
    ]);
  });

  it('derives merges from two-piece splits, best-scoring piece first', () => {
    expect(model.merges.slice(0, 3)).toEqual([['▁', 't'], ['h', 'e'], ['▁', 'a']]);
    let previous = Infinity;
    for (const [l, r] of model.merges) {
      const id = model.vocab[l + r];
      expect(id, `${l}+${r}`).toBeDefined();
      expect(vocab.scores[id]).toBeLessThanOrEqual(previous);
      previous = vocab.scores[id];
    }
    // every merged piece (ids 259… with more than one character) is reachable
    const targets = new Set(model.merges.map(([l, r]) => l + r));
    for (const [piece, id] of Object.entries(model.vocab)) {
      if (id >= 259 && Array.from(piece).length > 1) expect(targets.has(piece), piece).toBe(true);
    }
  });

  it('orders the splits of one piece by the ids of their halves', () => {
    // "abc" (score -1) splits as a+bc and ab+c; ids: ab 0, bc 1, a 2, b 3, c 4
    const merges = deriveMerges(['ab', 'bc', 'a', 'b', 'c', 'abc'], [0, -2, -3, -4, -5, -1]);
    expect(merges).toEqual([['a', 'b'], ['ab', 'c'], ['a', 'bc'], ['b', 'c']]);
  });

  it('writes the normalizer, decoder and post-processor DESIGN.md describes', () => {
    expect(files.tokenizerJson.normalizer).toEqual({
      type: 'Sequence',
      normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }],
    });
    expect(files.tokenizerJson.pre_tokenizer).toBeNull();
    expect(files.tokenizerJson.decoder).toEqual({
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    });
    expect(files.tokenizerJson.post_processor).toMatchObject({
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    });
  });

  it('writes tokenizer_config.json and special_tokens_map.json; a chat template only when given', () => {
    expect(files.tokenizerConfig).toMatchObject({
      add_bos_token: true,
      add_eos_token: false,
      bos_token: '<s>',
      eos_token: '</s>',
      unk_token: '<unk>',
      clean_up_tokenization_spaces: false,
      tokenizer_class: 'LlamaTokenizer',
      legacy: true,
    });
    expect(typeof files.tokenizerConfig.model_max_length).toBe('number');
    expect(files.tokenizerConfig).not.toHaveProperty('chat_template');
    expect(files.specialTokensMap).toMatchObject({ bos_token: { content: '<s>' }, eos_token: { content: '</s>' }, unk_token: { content: '<unk>' } });
    const withTemplate = buildHfTokenizerFiles(vocab, { chatTemplate: '{{ bos_token }}', modelMaxLength: 512 });
    expect(withTemplate.tokenizerConfig.chat_template).toBe('{{ bos_token }}');
    expect(withTemplate.tokenizerConfig.model_max_length).toBe(512);
  });

  it('survives a JSON round trip', () => {
    const parsed = JSON.parse(JSON.stringify(files)) as typeof files;
    expect(parsed).toEqual(files);
    const tok = Tokenizer.fromFiles(parsed.tokenizerJson, parsed.tokenizerConfig);
    expect(tok.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
  });

  it('rejects vocabularies it cannot represent', () => {
    const enc = new TextEncoder();
    const short = { ...vocab, pieces: vocab.pieces.slice(0, 100), scores: vocab.scores.slice(0, 100) };
    expect(() => buildHfTokenizerFiles(short)).toThrow(/at least 259/);
    const badByte = { ...vocab, pieces: vocab.pieces.map((p, i) => (i === 10 ? enc.encode('x') : p)) };
    expect(() => buildHfTokenizerFiles(badByte)).toThrow(/piece 10 is "x"; expected the byte token <0x07>/);
    const duplicate = { ...vocab, pieces: vocab.pieces.map((p, i) => (i === 300 ? vocab.pieces[299] : p)) };
    expect(() => buildHfTokenizerFiles(duplicate)).toThrow(/pieces 299 and 300 are both/);
    const invalid = { ...vocab, pieces: vocab.pieces.map((p, i) => (i === 300 ? new Uint8Array([0xff, 0x41]) : p)) };
    expect(() => buildHfTokenizerFiles(invalid)).toThrow(/piece 300 is not valid UTF-8/);
  });

  it('scales to a 32000-piece vocabulary and still encodes like llama2.c', () => {
    const big = syntheticVocab(32000, ' abcdefghijklmnopqrstuvwxyz.,é', 7);
    const t0 = performance.now();
    const bigFiles = buildHfTokenizerFiles(big);
    const buildMs = performance.now() - t0;
    expect(buildMs).toBeLessThan(10_000); // ~0.5 s here; an O(n²) derivation takes minutes
    expect((bigFiles.tokenizerJson.model as Model).merges.length).toBeGreaterThan(30000);
    const tok = Tokenizer.fromFiles(bigFiles.tokenizerJson, bigFiles.tokenizerConfig);
    const rnd = rng(3);
    const alphabet = Array.from(' abcdefghijklmnopqrstuvwxyz.,é!');
    for (let k = 0; k < 200; k++) {
      const text = Array.from({ length: 1 + Math.floor(rnd() * 80) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
      expect(tok.encode(text), JSON.stringify(text)).toEqual(encodeLlama2c(big, text, { bos: true }));
    }
  });
});
