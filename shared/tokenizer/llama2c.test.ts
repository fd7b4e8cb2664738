import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeLlama2c, parseLlama2cTokenizer, TokenizerFormatError } from './llama2c';

const TOK512 = new Uint8Array(readFileSync(new URL('../../../shared/models/stories260K/tok512.bin', import.meta.url)));
const decoder = new TextDecoder();

/** A llama2.c tokenizer file from (piece, score) pairs. */
function tokenizerFile(maxTokenLength: number, tokens: [string, number][]): Uint8Array {
  const enc = new TextEncoder();
  const parts = tokens.map(([p]) => enc.encode(p));
  const out = new Uint8Array(4 + parts.reduce((n, p) => n + 8 + p.length, 0));
  const view = new DataView(out.buffer);
  view.setInt32(0, maxTokenLength, true);
  let o = 4;
  parts.forEach((p, i) => {
    view.setFloat32(o, tokens[i][1], true);
    view.setInt32(o + 4, p.length, true);
    out.set(p, o + 8);
    o += 8 + p.length;
  });
  return out;
}

describe('parseLlama2cTokenizer', () => {
  const vocab = parseLlama2cTokenizer(TOK512, 512);

  it('reads tok512.bin: specials, byte tokens, merges', () => {
    expect(vocab.maxTokenLength).toBe(7);
    expect(vocab.pieces).toHaveLength(512);
    expect(vocab.scores).toHaveLength(512);
    expect(vocab.pieces.slice(0, 3).map((p) => decoder.decode(p))).toEqual(['<unk>', '\n<s>\n', '\n</s>\n']);
    expect(decoder.decode(vocab.pieces[3])).toBe('<0x00>');
    expect(decoder.decode(vocab.pieces[258])).toBe('<0xFF>');
    expect(decoder.decode(vocab.pieces[259])).toBe(' t');
    expect(vocab.scores[260]).toBe(-1);
    expect(Math.max(...vocab.pieces.map((p) => p.length))).toBeLessThanOrEqual(vocab.maxTokenLength);
  });

  it('copies pieces out of the input buffer', () => {
    const bytes = TOK512.slice();
    const v = parseLlama2cTokenizer(bytes, 512);
    bytes.fill(0);
    expect(decoder.decode(v.pieces[259])).toBe(' t');
  });

  it('rejects truncated files with the position', () => {
    expect(() => parseLlama2cTokenizer(TOK512.subarray(0, 2), 512)).toThrow(/shorter than its 4-byte header/);
    expect(() => parseLlama2cTokenizer(TOK512.subarray(0, 10), 512)).toThrow(/inside the header of token 0 of 512/);
    expect(() => parseLlama2cTokenizer(TOK512.subarray(0, 14), 512)).toThrow(/inside the 5 bytes of token 0 of 512/);
    expect(() => parseLlama2cTokenizer(TOK512.subarray(0, TOK512.length - 1), 512)).toThrow(/token 511 of 512/);
    expect(() => parseLlama2cTokenizer(TOK512, 513)).toThrow(TokenizerFormatError);
  });

  it('rejects a wrong vocabSize and garbled fields', () => {
    expect(() => parseLlama2cTokenizer(TOK512, 500)).toThrow(/bytes left after 500 tokens/);
    expect(() => parseLlama2cTokenizer(TOK512, 0)).toThrow(/positive integer/);
    const badLength = TOK512.slice();
    new DataView(badLength.buffer).setInt32(8, -5, true);
    expect(() => parseLlama2cTokenizer(badLength, 512)).toThrow(/token 0 has length -5/);
    new DataView(badLength.buffer).setInt32(8, 1000, true);
    expect(() => parseLlama2cTokenizer(badLength, 512)).toThrow(/outside 0..max_token_length \(7\)/);
    const badScore = TOK512.slice();
    new DataView(badScore.buffer).setFloat32(4, NaN, true);
    expect(() => parseLlama2cTokenizer(badScore, 512)).toThrow(/non-finite score/);
    const badHeader = TOK512.slice();
    new DataView(badHeader.buffer).setInt32(0, 0, true);
    expect(() => parseLlama2cTokenizer(badHeader, 512)).toThrow(/max_token_length = 0/);
  });
});

describe('encodeLlama2c (port of run.c encode)', () => {
  const vocab = parseLlama2cTokenizer(TOK512, 512);
  const spell = (ids: number[]) => ids.map((id) => decoder.decode(vocab.pieces[id]));

  it('encodes "Once upon a time" with BOS', () => {
    const ids = encodeLlama2c(vocab, 'Once upon a time', { bos: true });
    expect(ids).toEqual([1, 403, 407, 261, 378]);
    expect(spell(ids.slice(1)).join('')).toBe(' Once upon a time');
  });

  it('adds the dummy prefix only to non-empty text; BOS and EOS on request', () => {
    expect(encodeLlama2c(vocab, '', { bos: true })).toEqual([1]);
    expect(encodeLlama2c(vocab, '', { bos: false })).toEqual([]);
    expect(encodeLlama2c(vocab, '', { bos: true, eos: true })).toEqual([1, 2]);
    expect(encodeLlama2c(vocab, ' ', { bos: false })).toEqual([410, 410]);
    expect(encodeLlama2c(vocab, 'a', { bos: false, eos: true }).at(-1)).toBe(2);
  });

  it('falls back to byte tokens (byte + 3) for code points outside the vocabulary', () => {
    // 🦄 = F0 9F A6 84
    expect(encodeLlama2c(vocab, '🦄', { bos: false })).toEqual([410, 0xf0 + 3, 0x9f + 3, 0xa6 + 3, 0x84 + 3]);
    // é is a piece of its own
    expect(spell(encodeLlama2c(vocab, 'é', { bos: false }))).toEqual([' ', 'é']);
  });

  it('merges by the highest-scoring pair first', () => {
    // pieces: 'a' -3, 'b' -4, ' ' -5, 'ab' -1, ' a' -2  → " ab" = [" ", "ab"], not [" a", "b"]
    const specials: [string, number][] = [['<unk>', 0], ['\n<s>\n', 0], ['\n</s>\n', 0]];
    const bytes: [string, number][] = Array.from({ length: 256 }, (_, b) => [`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0]);
    const file = tokenizerFile(7, [...specials, ...bytes, ['ab', -1], [' a', -2], ['a', -3], ['b', -4], [' ', -5]]);
    const v = parseLlama2cTokenizer(file, 264);
    expect(encodeLlama2c(v, 'ab', { bos: false })).toEqual([263, 259]);
    expect(encodeLlama2c(v, 'ba', { bos: false })).toEqual([263, 262, 261]);
  });

  it('stops at a NUL, like the C string it ports', () => {
    expect(encodeLlama2c(vocab, 'hi\u0000there', { bos: false })).toEqual(encodeLlama2c(vocab, 'hi', { bos: false }));
    expect(encodeLlama2c(vocab, '\u0000x', { bos: true })).toEqual([1]);
  });
});
