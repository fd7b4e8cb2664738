/**
 * Incremental detokenization for streaming. Decoding one token at a time loses the leading
 * space SentencePiece-style decoders strip and splits multi-byte characters spread over byte
 * tokens, so each push decodes the prompt plus everything generated and emits the new suffix,
 * holding it back while it ends in an incomplete UTF-8 sequence (a trailing U+FFFD).
 */
import type { Tokenizer } from './tokenizer';

const REPLACEMENT_CHARACTER = '\uFFFD';

export interface StreamDecoderOptions {
  /** Leave special tokens (BOS, EOS, …) out of the text; default true. */
  skipSpecialTokens?: boolean;
}

export class StreamDecoder {
  private readonly ids: number[];
  private readonly skipSpecialTokens: boolean;
  /** Length of the decoded text already accounted for: the prompt's text, then what was emitted. */
  private emitted: number;

  constructor(
    private readonly tokenizer: Tokenizer,
    promptIds: readonly number[] = [],
    opts: StreamDecoderOptions = {},
  ) {
    this.ids = [...promptIds];
    this.skipSpecialTokens = opts.skipSpecialTokens ?? true;
    this.emitted = this.decodeAll().length;
  }

  /** Adds a generated token; returns the text it completes (possibly ""). */
  push(id: number): string {
    this.ids.push(id);
    const text = this.decodeAll();
    if (text.endsWith(REPLACEMENT_CHARACTER)) return '';
    return this.take(text);
  }

  /** Returns whatever is still held back (e.g. an incomplete UTF-8 sequence at the end). */
  flush(): string {
    return this.take(this.decodeAll());
  }

  private take(text: string): string {
    if (text.length <= this.emitted) return '';
    const delta = text.slice(this.emitted);
    this.emitted = text.length;
    return delta;
  }

  private decodeAll(): string {
    return this.tokenizer.decode(this.ids, { skipSpecialTokens: this.skipSpecialTokens });
  }
}

export function createStreamDecoder(tokenizer: Tokenizer, promptIds: readonly number[] = [], opts: StreamDecoderOptions = {}): StreamDecoder {
  return new StreamDecoder(tokenizer, promptIds, opts);
}
