/**
 * Incremental detokenization for streaming. Decoding one token at a time loses the leading
 * space SentencePiece-style decoders strip and splits multi-byte characters spread over byte
 * tokens, so each push decodes a short window — a few tokens already shown, then the new ones —
 * and emits what it adds past those shown tokens' own text, holding it back while it ends in an
 * incomplete UTF-8 sequence (a trailing U+FFFD). The window starts CONTEXT tokens before what is
 * still unshown, so a stripped leading space falls on a token already shown; and each push costs
 * the window, not the whole prompt and generation decoded again (which made a long stream's
 * detokenization quadratic: ~0.12 ms a token after a 1,000-token prompt, growing with it).
 */
import type { Tokenizer } from './tokenizer';

const REPLACEMENT_CHARACTER = '\uFFFD';
/** Tokens already shown that each window starts with. */
const CONTEXT = 5;

export interface StreamDecoderOptions {
  /** Leave special tokens (BOS, EOS, …) out of the text; default true. */
  skipSpecialTokens?: boolean;
}

export class StreamDecoder {
  private readonly ids: number[];
  private readonly skipSpecialTokens: boolean;
  /** The window: ids[start, shown) are shown (their text is its prefix), ids[shown…] are not yet. */
  private start: number;
  private shown: number;

  constructor(
    private readonly tokenizer: Tokenizer,
    promptIds: readonly number[] = [],
    opts: StreamDecoderOptions = {},
  ) {
    this.ids = [...promptIds];
    this.skipSpecialTokens = opts.skipSpecialTokens ?? true;
    this.shown = this.ids.length;
    this.start = Math.max(0, this.shown - CONTEXT);
  }

  /** Adds a generated token; returns the text it completes (possibly ""). */
  push(id: number): string {
    this.ids.push(id);
    return this.take(false);
  }

  /** Returns whatever is still held back (e.g. an incomplete UTF-8 sequence at the end). */
  flush(): string {
    return this.take(true);
  }

  /** The text the unshown tokens add to the window (nothing while it ends mid-character, unless flushing). */
  private take(flushing: boolean): string {
    const before = this.decode(this.start, this.shown);
    const after = this.decode(this.start, this.ids.length);
    if (after.length <= before.length || (!flushing && after.endsWith(REPLACEMENT_CHARACTER))) return '';
    this.shown = this.ids.length;
    this.start = Math.max(0, this.shown - CONTEXT);
    return after.slice(before.length);
  }

  private decode(from: number, to: number): string {
    return this.tokenizer.decode(this.ids.slice(from, to), { skipSpecialTokens: this.skipSpecialTokens });
  }
}

export function createStreamDecoder(tokenizer: Tokenizer, promptIds: readonly number[] = [], opts: StreamDecoderOptions = {}): StreamDecoder {
  return new StreamDecoder(tokenizer, promptIds, opts);
}
