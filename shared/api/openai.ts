/**
 * The OpenAI-compatible inference API's request bodies (strict: an unsupported field is a 400
 * naming it) and answers. Sampling: temperature 0 is greedy; `seed` makes sampling repeatable.
 */
import { z } from 'zod';

const stop = z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]);

const sampling = {
  model: z.string().min(1),
  max_tokens: z.number().int().nonnegative().optional(),
  temperature: z.number().min(0).max(2).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  seed: z.number().int().nonnegative().max(2 ** 32 - 1).optional(),
  stop: stop.optional(),
  stream: z.boolean().default(false),
  stream_options: z.strictObject({ include_usage: z.boolean() }).optional(),
  /** Only one choice per request. */
  n: z.literal(1).optional(),
};

export const CompletionRequestSchema = z.strictObject({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).length(1).transform((p) => p[0])]),
});
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;

const textPart = z.strictObject({ type: z.literal('text'), text: z.string() });

export const ChatMessageSchema = z.strictObject({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.union([z.string(), z.array(textPart).transform((parts) => parts.map((p) => p.text).join(''))]),
  name: z.string().optional(),
});

export const ChatRequestSchema = z.strictObject({
  ...sampling,
  messages: z.array(ChatMessageSchema).min(1),
  /** The newer name of max_tokens; either may be given. */
  max_completion_tokens: z.number().int().nonnegative().optional(),
});
export type ChatRequest = z.infer<typeof ChatRequestSchema>;

export type FinishReason = 'stop' | 'length';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/**
 * The chat template used when the served tokenizer has none: plain text turns, so a base
 * model without chat training still sees ordinary prose.
 */
export const DEFAULT_CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n\n{% elif m.role == 'user' %}User: {{ m.content }}\n{% else %}Assistant: {{ m.content }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}";
