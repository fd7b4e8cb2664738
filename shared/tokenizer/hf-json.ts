/**
 * A llama2.c vocabulary → Hugging Face tokenizer files, built the way `transformers` converts a
 * SentencePiece BPE model (LlamaConverter, legacy layout):
 * - model: BPE with byte_fallback over pieces that spell spaces as `▁`; merges are every split of a
 *   piece into two pieces, ordered by the merged piece's score, highest first (ties: vocabulary
 *   order, then the ids of the two halves);
 * - normalizer: Prepend `▁`, Replace " " → `▁`; no pre-tokenizer;
 * - decoder: Replace `▁` → " ", ByteFallback, Fuse, Strip one leading space;
 * - post-processor: TemplateProcessing that prepends `<s>`.
 */
import { type Llama2cVocab, TokenizerFormatError } from './llama2c';

export const SPIECE_UNDERLINE = '▁';
export const UNK_TOKEN = '<unk>';
export const BOS_TOKEN = '<s>';
export const EOS_TOKEN = '</s>';
const SPECIAL_TOKENS = [UNK_TOKEN, BOS_TOKEN, EOS_TOKEN];
const FIRST_BYTE_ID = 3;

/** transformers' stand-in for "no limit" (int(1e30)). */
const VERY_LARGE_INTEGER = 1e30;

export interface HfTokenizerFiles {
  /** tokenizer.json */
  tokenizerJson: Record<string, unknown>;
  /** tokenizer_config.json */
  tokenizerConfig: Record<string, unknown>;
  /** special_tokens_map.json */
  specialTokensMap: Record<string, unknown>;
}

export interface BuildHfTokenizerOptions {
  /** Jinja chat template for tokenizer_config.json; omitted when not given. */
  chatTemplate?: string;
  /** model_max_length; defaults to transformers' "no limit" value. */
  modelMaxLength?: number;
}

function byteToken(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** Each piece as it appears in tokenizer.json: `▁` for spaces, special tokens by their usual names. */
export function hfPieces(vocab: Llama2cVocab): string[] {
  if (vocab.pieces.length < FIRST_BYTE_ID + 256) {
    throw new TokenizerFormatError(`vocabulary has ${vocab.pieces.length} pieces; a llama2.c vocabulary has at least 259 (3 special + 256 byte tokens)`);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return vocab.pieces.map((bytes, id) => {
    if (id < FIRST_BYTE_ID) return SPECIAL_TOKENS[id];
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new TokenizerFormatError(`piece ${id} is not valid UTF-8`);
    }
    if (id < FIRST_BYTE_ID + 256) {
      const expected = byteToken(id - FIRST_BYTE_ID);
      if (text !== expected) throw new TokenizerFormatError(`piece ${id} is ${JSON.stringify(text)}; expected the byte token ${expected}`);
      return text;
    }
    return text.replaceAll(' ', SPIECE_UNDERLINE);
  });
}

/** Merges as SentencePieceExtractor derives them: O(total piece length) Map lookups. */
export function deriveMerges(pieces: readonly string[], scores: readonly number[]): [string, string][] {
  const idOf = new Map<string, number>();
  pieces.forEach((p, id) => idOf.set(p, id));
  const merges: { left: string; right: string; score: number }[] = [];
  pieces.forEach((piece, id) => {
    const chars = Array.from(piece);
    const local: { left: string; right: string; l: number; r: number }[] = [];
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join('');
      const right = chars.slice(k).join('');
      const l = idOf.get(left);
      const r = idOf.get(right);
      if (l !== undefined && r !== undefined) local.push({ left, right, l, r });
    }
    local.sort((a, b) => a.l - b.l || a.r - b.r);
    for (const m of local) merges.push({ left: m.left, right: m.right, score: scores[id] });
  });
  merges.sort((a, b) => b.score - a.score); // stable: ties keep vocabulary order
  return merges.map((m) => [m.left, m.right]);
}

const specialAddedToken = (content: string) => ({ content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true });

export function buildHfTokenizerFiles(vocab: Llama2cVocab, opts: BuildHfTokenizerOptions = {}): HfTokenizerFiles {
  const pieces = hfPieces(vocab);
  const seen = new Map<string, number>();
  pieces.forEach((p, id) => {
    const first = seen.get(p);
    if (first !== undefined) throw new TokenizerFormatError(`pieces ${first} and ${id} are both ${JSON.stringify(p)}`);
    seen.set(p, id);
  });

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({ id, ...specialAddedToken(content) })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPIECE_UNDERLINE },
        { type: 'Replace', pattern: { String: ' ' }, content: SPIECE_UNDERLINE },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: BOS_TOKEN, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: BOS_TOKEN, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: BOS_TOKEN, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [BOS_TOKEN]: { id: BOS_TOKEN, ids: [1], tokens: [BOS_TOKEN] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPIECE_UNDERLINE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: UNK_TOKEN,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      // fromEntries defines own properties, so a piece such as "__proto__" stays a key.
      vocab: Object.fromEntries(pieces.map((p, id) => [p, id])),
      merges: deriveMerges(pieces, vocab.scores),
    },
  };

  const tokenizerConfig: Record<string, unknown> = {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(SPECIAL_TOKENS.map((content, id) => [String(id), specialAddedToken(content)])),
    bos_token: BOS_TOKEN,
    eos_token: EOS_TOKEN,
    unk_token: UNK_TOKEN,
    pad_token: null,
    clean_up_tokenization_spaces: false,
    legacy: true,
    model_max_length: opts.modelMaxLength ?? VERY_LARGE_INTEGER,
    sp_model_kwargs: {},
    tokenizer_class: 'LlamaTokenizer',
  };
  if (opts.chatTemplate !== undefined) tokenizerConfig.chat_template = opts.chatTemplate;

  const mapEntry = (content: string) => ({ content, lstrip: false, normalized: false, rstrip: false, single_word: false });
  const specialTokensMap = { bos_token: mapEntry(BOS_TOKEN), eos_token: mapEntry(EOS_TOKEN), unk_token: mapEntry(UNK_TOKEN) };

  return { tokenizerJson, tokenizerConfig, specialTokensMap };
}
