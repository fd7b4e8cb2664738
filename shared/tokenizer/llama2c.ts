/**
 * llama2.c tokenizer files (tokenizer.bin / tok512.bin) and llama2.c's own encoder.
 *
 * Layout (little-endian): int32 max_token_length, then for each of vocab_size tokens:
 * float32 score, int32 byte length, the piece's bytes (no terminator). Pieces hold spaces
 * where SentencePiece has `▁`; ids 0–2 are "<unk>", "\n<s>\n", "\n</s>\n"; ids 3–258 are
 * the byte tokens "<0x00>"…"<0xFF>".
 *
 * encodeLlama2c is a faithful port of `encode()` in llama2.c's run.c. It is the reference
 * (oracle) the Hugging Face tokenizer is tested against; production code encodes through
 * the HF tokenizer built by buildHfTokenizerFiles.
 */

export class TokenizerFormatError extends Error {
  override name = 'TokenizerFormatError';
}

export interface Llama2cVocab {
  /** Raw bytes of each piece, indexed by token id. */
  pieces: Uint8Array[];
  scores: number[];
  maxTokenLength: number;
}

export const LLAMA2C_BOS_ID = 1;
export const LLAMA2C_EOS_ID = 2;

export function parseLlama2cTokenizer(bytes: Uint8Array, vocabSize: number): Llama2cVocab {
  if (!Number.isInteger(vocabSize) || vocabSize <= 0) {
    throw new TokenizerFormatError(`vocabSize must be a positive integer, got ${vocabSize}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) {
    throw new TokenizerFormatError(`tokenizer file is ${bytes.byteLength} bytes, shorter than its 4-byte header`);
  }
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > 1 << 16) {
    throw new TokenizerFormatError(`tokenizer header max_token_length = ${maxTokenLength} is not plausible`);
  }
  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  let offset = 4;
  for (let id = 0; id < vocabSize; id++) {
    if (offset + 8 > bytes.byteLength) {
      throw new TokenizerFormatError(`tokenizer file ends at byte ${bytes.byteLength} inside the header of token ${id} of ${vocabSize}`);
    }
    const score = view.getFloat32(offset, true);
    const length = view.getInt32(offset + 4, true);
    if (!Number.isFinite(score)) {
      throw new TokenizerFormatError(`token ${id} has a non-finite score (${score}) at byte ${offset}`);
    }
    if (length < 0 || length > maxTokenLength) {
      throw new TokenizerFormatError(`token ${id} has length ${length} at byte ${offset + 4}, outside 0..max_token_length (${maxTokenLength})`);
    }
    offset += 8;
    if (offset + length > bytes.byteLength) {
      throw new TokenizerFormatError(`tokenizer file ends at byte ${bytes.byteLength} inside the ${length} bytes of token ${id} of ${vocabSize}`);
    }
    pieces.push(bytes.slice(offset, offset + length));
    scores.push(score);
    offset += length;
  }
  if (offset !== bytes.byteLength) {
    throw new TokenizerFormatError(`tokenizer file has ${bytes.byteLength - offset} bytes left after ${vocabSize} tokens: wrong vocabSize or not a llama2.c tokenizer`);
  }
  return { pieces, scores, maxTokenLength };
}

/** A binary-safe string key for a byte string: one UTF-16 unit per byte (Latin-1). */
function byteKey(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

interface Lookup {
  keys: string[];
  ids: Map<string, number>;
}

const lookups = new WeakMap<Llama2cVocab, Lookup>();

function lookupFor(vocab: Llama2cVocab): Lookup {
  let lookup = lookups.get(vocab);
  if (!lookup) {
    const keys = vocab.pieces.map(byteKey);
    const ids = new Map<string, number>();
    keys.forEach((k, id) => {
      if (!ids.has(k)) ids.set(k, id);
    });
    lookup = { keys, ids };
    lookups.set(vocab, lookup);
  }
  return lookup;
}

/**
 * Port of llama2.c run.c `encode()`. Like the C code (which takes a NUL-terminated
 * string), the text ends at its first U+0000.
 */
export function encodeLlama2c(vocab: Llama2cVocab, text: string, opts: { bos: boolean; eos?: boolean }): number[] {
  const { keys, ids } = lookupFor(vocab);
  let bytes = new TextEncoder().encode(text);
  const nul = bytes.indexOf(0);
  if (nul >= 0) bytes = bytes.subarray(0, nul);

  const tokens: number[] = [];
  if (opts.bos) tokens.push(LLAMA2C_BOS_ID);

  // add_dummy_prefix: a leading " " token whenever the text is non-empty.
  if (bytes.length > 0) {
    const dummyPrefix = ids.get(' ');
    if (dummyPrefix === undefined) throw new TokenizerFormatError('vocabulary has no " " piece for the dummy prefix');
    tokens.push(dummyPrefix);
  }

  // One token per UTF-8 code point (at most 4 bytes), or its bytes as byte tokens (id = byte + 3).
  let buffer: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i] & 0xc0) !== 0x80) buffer = [];
    buffer.push(bytes[i]);
    const next = i + 1 < bytes.length ? bytes[i + 1] : 0;
    if ((next & 0xc0) === 0x80 && buffer.length < 4) continue;
    const id = ids.get(String.fromCharCode(...buffer));
    if (id !== undefined) tokens.push(id);
    else for (const b of buffer) tokens.push(b + 3);
    buffer = [];
  }

  // Repeatedly merge the adjacent pair whose concatenation is the highest-scoring piece.
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = ids.get(keys[tokens[i]] + keys[tokens[i + 1]]);
      if (id !== undefined && vocab.scores[id] > bestScore) {
        bestScore = vocab.scores[id];
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens.splice(bestIdx, 2, bestId);
  }

  if (opts.eos) tokens.push(LLAMA2C_EOS_ID);
  return tokens;
}
