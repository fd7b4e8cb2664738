/**
 * A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json): encode and decode through
 * @huggingface/tokenizers, chat templates through @huggingface/jinja.
 */
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';

export interface ChatMessage {
  role: string;
  content: string;
}

export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
}

/** tokenizer_config.json writes special tokens either as strings or as AddedToken objects. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** chat_template is a string, or a list of {name, template}; the one named "default" is used. */
function defaultChatTemplate(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const entry = value.find((t) => t && typeof t === 'object' && t.name === 'default');
    return typeof entry?.template === 'string' ? entry.template : undefined;
  }
  return undefined;
}

export class Tokenizer {
  readonly hasChatTemplate: boolean;
  readonly vocabSize: number;
  private template: Template | undefined;

  private constructor(
    private readonly hf: HfTokenizer,
    private readonly config: Record<string, unknown>,
    private readonly chatTemplate: string | undefined,
  ) {
    this.hasChatTemplate = chatTemplate !== undefined;
    let maxId = -1;
    for (const id of hf.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
  }

  static fromFiles(tokenizerJson: object, tokenizerConfig: object = {}): Tokenizer {
    const json = { added_tokens: [], ...tokenizerJson };
    const config = { ...tokenizerConfig } as Record<string, unknown>;
    return new Tokenizer(new HfTokenizer(json, config), config, defaultChatTemplate(config.chat_template));
  }

  /** Token ids of `text`; with addSpecialTokens (the default) the post-processor adds BOS. */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.hf.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  get bosToken(): string | undefined {
    return tokenContent(this.config.bos_token);
  }

  get eosToken(): string | undefined {
    return tokenContent(this.config.eos_token);
  }

  get bosTokenId(): number | undefined {
    const bos = this.bosToken;
    return bos === undefined ? undefined : this.tokenToId(bos);
  }

  get eosTokenIds(): number[] {
    const eos = this.eosToken;
    const id = eos === undefined ? undefined : this.tokenToId(eos);
    return id === undefined ? [] : [id];
  }

  /**
   * Renders tokenizer_config.json's chat_template (with bos_token, eos_token in scope), or
   * `fallback` when the tokenizer has none.
   */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean; fallback?: string } = {}): string {
    const source = this.chatTemplate ?? opts.fallback;
    if (source === undefined) {
      throw new ChatTemplateError('this tokenizer has no chat_template in tokenizer_config.json; send a plain prompt instead of chat messages');
    }
    const template = source === this.chatTemplate ? (this.template ??= new Template(source)) : new Template(source);
    return template.render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
      unk_token: tokenContent(this.config.unk_token) ?? '',
      pad_token: tokenContent(this.config.pad_token) ?? '',
    });
  }
}
