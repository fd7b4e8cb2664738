/**
 * Fine-tuning data: JSONL with `{"text": …}` (loss on every token) or OpenAI's chat format
 * `{"messages": […]}` (loss on the assistant's tokens only), tokenized, truncated or packed to
 * a maximum length, and served in an order that depends only on the seed and the epoch — so
 * the data cursor {epoch, index} is all a checkpoint needs to resume it.
 */
import { z } from 'zod';
import { ChatMessageSchema, DEFAULT_CHAT_TEMPLATE } from '../api/openai';
import { describeIssues } from '../protocol/messages';
import type { Tokenizer } from '../tokenizer';
import { Rng } from '../util/rng';

const ExampleSchema = z.union([z.strictObject({ text: z.string().min(1) }), z.strictObject({ messages: z.array(ChatMessageSchema).min(1) })]);
export type Example = z.infer<typeof ExampleSchema>;

export class DataError extends Error {
  override name = 'DataError';
}

export function parseJsonl(text: string, source = 'data'): Example[] {
  const examples: Example[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (e) {
      throw new DataError(`${source}, line ${i + 1}: not JSON (${(e as Error).message})`);
    }
    const parsed = ExampleSchema.safeParse(json);
    if (!parsed.success) throw new DataError(`${source}, line ${i + 1}: expected {"text": …} or {"messages": […]}: ${describeIssues(parsed.error)}`);
    examples.push(parsed.data);
  });
  if (examples.length === 0) throw new DataError(`${source}: no examples`);
  return examples;
}

/** Token ids and, per token, whether the model is trained to predict it. */
export interface TokenizedExample {
  ids: number[];
  trained: boolean[];
}

export function tokenizeExample(ex: Example, tokenizer: Tokenizer): TokenizedExample {
  if ('text' in ex) {
    const ids = tokenizer.encode(ex.text);
    return { ids, trained: ids.map(() => true) };
  }
  // Render the conversation one message at a time; each message's new text is tokenized on its
  // own, so the assistant's tokens are exactly known. Before an assistant message, the
  // generation prompt ("Assistant:") belongs to the context, as at inference.
  const ids: number[] = [];
  const trained: boolean[] = [];
  let rendered = '';
  const render = (n: number, addGenerationPrompt: boolean) => tokenizer.applyChatTemplate(ex.messages.slice(0, n), { addGenerationPrompt, fallback: DEFAULT_CHAT_TEMPLATE });
  const append = (text: string, train: boolean) => {
    if (!text.startsWith(rendered)) throw new DataError('the chat template does not render conversations incrementally; train on {"text"} examples instead');
    const piece = tokenizer.encode(text.slice(rendered.length), { addSpecialTokens: false });
    ids.push(...piece);
    trained.push(...piece.map(() => train));
    rendered = text;
  };
  ex.messages.forEach((m, i) => {
    if (m.role === 'assistant') append(render(i, true), false);
    append(render(i + 1, false), m.role === 'assistant');
  });
  return { ids, trained };
}

/** One training sequence: inputs, the next-token targets, and the loss mask over targets. */
export interface Sequence {
  tokens: number[];
  targets: number[];
  mask: number[];
}

function toSequence(ids: number[], trained: boolean[]): Sequence {
  return { tokens: ids.slice(0, -1), targets: ids.slice(1), mask: trained.slice(1).map((t) => (t ? 1 : 0)) };
}

/**
 * Sequences of at most maxLength inputs. Without packing each example is one sequence (cut at
 * maxLength + 1 tokens); with packing, examples are concatenated and cut into full windows, so no
 * compute goes to padding. Sequences with nothing to learn are dropped.
 */
export function buildSequences(examples: TokenizedExample[], maxLength: number, pack: boolean): Sequence[] {
  const out: Sequence[] = [];
  if (!pack) {
    for (const e of examples) out.push(toSequence(e.ids.slice(0, maxLength + 1), e.trained.slice(0, maxLength + 1)));
  } else {
    const ids = examples.flatMap((e) => e.ids);
    const trained = examples.flatMap((e) => e.trained);
    for (let start = 0; start + 1 < ids.length; start += maxLength) out.push(toSequence(ids.slice(start, start + maxLength + 1), trained.slice(start, start + maxLength + 1)));
  }
  return out.filter((s) => s.tokens.length > 0 && s.mask.some((m) => m > 0));
}

export interface DataCursor {
  epoch: number;
  index: number;
}

/** Sequences in a seeded shuffle per epoch; `cursor` is where the next one comes from. */
export class DataStream {
  private order: number[] = [];
  private orderEpoch = -1;

  constructor(
    private readonly sequences: Sequence[],
    private readonly seed: number,
    public cursor: DataCursor = { epoch: 0, index: 0 },
  ) {
    if (sequences.length === 0) throw new DataError('no training sequences (is every example empty, or masked out?)');
  }

  next(): Sequence {
    if (this.cursor.index >= this.sequences.length) this.cursor = { epoch: this.cursor.epoch + 1, index: 0 };
    if (this.orderEpoch !== this.cursor.epoch) {
      const rng = new Rng(this.seed * 1009 + this.cursor.epoch);
      this.order = this.sequences.map((_, i) => i);
      for (let i = this.order.length - 1; i > 0; i--) {
        const j = Math.floor(rng.nextFloat() * (i + 1));
        [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
      }
      this.orderEpoch = this.cursor.epoch;
    }
    const seq = this.sequences[this.order[this.cursor.index]];
    this.cursor = { ...this.cursor, index: this.cursor.index + 1 };
    return seq;
  }
}
